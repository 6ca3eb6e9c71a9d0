"""The review in a terminal: one line per call under its session and sandbox, and the summary."""

from __future__ import annotations

import re
from collections.abc import Sequence

from manyoyo_mcp.audit.report.rows import COLUMNS, LABELS, Row, clock, count, duration, groups, size, spans_days
from manyoyo_mcp.audit.report.summary import SESSIONS, Chain, Summary, busiest, call_line
from manyoyo_mcp.audit.review import Session

# ANSI colours of the outcome labels (the label is always there as text too)
COLOURS = {"ok": "32", "denied": "1;31", "error": "33", "timeout": "35", "cancelled": "2", "unfinished": "2"}
MIN_WHAT = 24
SUMMARY_WIDTH = 200
"""A summary line's most characters (a call's arguments can be megabytes)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with its control characters written as escapes (``\\n``, ``\\x1b``): what an agent
    wrote (a sandbox name, a path, a command) cannot fake a line, colour or clear the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1] if m.group() in "\n\r\t" else f"\\x{ord(m.group()):02x}", text)


def session_title(session: Session | None, dated: bool = True) -> str:
    """'session 2 · claude-code 2.0.1 · started 2026-11-29 20:25:25 UTC'."""
    if session is None:
        return "session ?"
    started = (session.started or {}).get("ts") or session.first_ts
    when = f"{started[:10]} {started[11:19]} UTC" if dated else clock(str(started))
    return visible(f"session {session.number} · {session.client} · started {when}")


def table(
    lines: Sequence[Row],
    sessions: Sequence[Session],
    width: int = 120,
    *,
    colour: bool = False,
    why: bool = False,
    chain: Chain | None = None,
) -> str:
    """Calls, a line each (time, tool, what, outcome, exit, duration, output), under their session and
    sandbox; with `why`, a denied or failed call's reason or error on the line below it. Calls after
    a break in the `chain` are marked ⚠."""
    if not lines:
        return "no calls"
    dated = spans_days([row.call for row in lines])
    cells = {
        row.index: (
            ("" if chain is None or chain.trusts(row) else "⚠ ") + clock(row.call.ts, dated),
            row.call.tool,
            visible(" ".join(row.line.split())),  # one line, whatever the command's newlines
            row.label,
            "" if row.exit_code is None else str(row.exit_code),
            duration(row.duration_s),
            size(row.output_bytes),
        )
        for row in lines
    }
    widths = [max(len(COLUMNS[i]), *(len(c[i]) for c in cells.values())) for i in range(len(COLUMNS))]
    fixed = sum(w for i, w in enumerate(widths) if i != 2) + 2 * (len(COLUMNS) - 1)
    widths[2] = max(MIN_WHAT, min(widths[2], width - fixed))
    out = [_line(COLUMNS, widths)]
    if chain is not None and not chain.intact:
        out.insert(0, f"!! chain {chain.text()}: calls marked ⚠ come after it")
    by_id = {s.id: s for s in sessions}
    for session, boxes in groups(lines):
        out.append(f"== {session_title(by_id.get(session))}")
        for sandbox, rows in boxes:
            out.append(f"-- sandbox {visible(sandbox)}" if sandbox else "-- no sandbox")
            for row in rows:
                paint = COLOURS.get(row.outcome) if colour else None
                out.append(_line(cells[row.index], widths, paint))
                if why and row.outcome != "ok" and row.why:
                    reason = f"{' ' * (widths[0] + 2)}↳ {visible(' '.join(row.why.split()))}"
                    out.append(reason if len(reason) <= width else reason[: width - 1] + "…")
    return "\n".join(out)


def _line(cells: Sequence[str], widths: Sequence[int], paint: str | None = None) -> str:
    """Cells padded to their widths (numbers to the right); `paint` colours the outcome."""
    out = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        text = cell if len(cell) <= width else cell[: width - 1] + "…"
        text = text.rjust(width) if i >= 4 else text.ljust(width)  # exit, duration, output: numbers
        if i == 3 and paint:
            text = f"\x1b[{paint}m{text}\x1b[0m"
        out.append(text)
    return "  ".join(out).rstrip()


def summary_text(summary: Summary, directory: str) -> str:
    """The summary as a few short paragraphs for a terminal."""
    dated = summary.first[:10] != summary.last[:10]
    out = [
        f"Audit log {directory}",
        f"  period   {summary.first[:19].replace('T', ' ')} to {summary.last[:19].replace('T', ' ')} UTC",
        f"  chain    {summary.chain.text()}",
        f"  calls    {summary.calls}" + (f": {_counts(summary.outcomes)}" if summary.outcomes else ""),
        "",
        "Sessions" + (f" ({count(summary.idle_runs, 'more server run')} served no call)" if summary.idle_runs else ""),
    ]
    shown = busiest(summary.sessions, SESSIONS)
    if len(shown) < len(summary.sessions):
        out.append(f"  (the {SESSIONS} busiest of {len(summary.sessions)}; `audit show` lists every one)")
    out += [
        f"  {session_title(line.session)}: {count(line.session.calls, 'call')}, {_counts(line.outcomes)}"
        for line in shown
    ]
    out.append("Sandboxes created and removed")
    for life in summary.sandboxes:
        made = (
            f"created {clock(life.created.call.ts, dated)} by {life.created.call.tool}"
            if life.created
            else "created before"
        )
        gone = f"removed {clock(life.removed.call.ts, dated)}" if life.removed else "still there"
        out.append(f"  {life.name}: {made}, {gone}")
    out.append("Denied, by rule" + ("" if summary.denials else ": none"))
    for rule, rows in summary.denials.items():
        out.append(f"  {rule} ({len(rows)})")
        out += [f"    {call_line(row, dated)}" for row in rows[:3]]
        out += [f"    ... and {len(rows) - 3} more (audit show --why lists them)"] if len(rows) > 3 else []
    failed = {key: rows for key, rows in summary.failures.items() if rows}
    counts = ", ".join(f"{len(rows)} {LABELS[key]}" for key, rows in failed.items())
    out.append(f"Errors, timeouts, cancelled: {counts or 'none'}")
    for rows in failed.values():
        out += [f"  {call_line(row, dated)}" for row in rows[:5]]
        out += [f"  ... and {len(rows) - 5} more of these (audit show --why lists them)"] if len(rows) > 5 else []
    out.append(
        f"Sock mode: {len(summary.confirmations)} confirmed by a human, {len(summary.grants)} granted by the operator"
    )
    out += [f"  human: {call_line(row, dated)}" for row in summary.confirmations]
    out += [f"  operator: {call_line(row, dated)}" for row in summary.grants]
    if summary.warnings:
        out.append("Allowed with a warning")
        out += [f"  {call_line(row, dated)}" for row in summary.warnings]
    out.append("Longest calls")
    out += [f"  {call_line(row, dated)}" for row in summary.longest]
    out.append("Most output")
    out += [f"  {call_line(row, dated)}" for row in summary.heaviest]
    return "\n".join(_fit(visible(line)) for line in out)


def _fit(line: str) -> str:
    return line if len(line) <= SUMMARY_WIDTH else line[: SUMMARY_WIDTH - 1] + "…"


def _counts(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{count} {LABELS.get(key, key)}" for key, count in outcomes.items())

"""The page's top and bottom: the chain's state, the summary cards, the server events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from manyoyo_mcp.audit.report.markup import esc
from manyoyo_mcp.audit.report.rows import LABELS, Row, clock, count, duration, size
from manyoyo_mcp.audit.report.summary import SESSIONS, Chain, Summary, busiest
from manyoyo_mcp.audit.report.text import session_title
from manyoyo_mcp.audit.review import Session

SHOWN = 3  # calls listed under a rule or failure before "and N more"


def linked(summary: Summary) -> set[int]:
    """The rows the summary links to (they get an id on the page)."""
    rows = [*summary.confirmations, *summary.grants, *summary.warnings, *summary.longest, *summary.heaviest]
    rows += [row for rows in summary.denials.values() for row in rows[:SHOWN]]
    rows += [row for rows in summary.failures.values() for row in rows[:SHOWN]]
    rows += [life.created for life in summary.sandboxes if life.created]
    return {row.index for row in rows}


def banner(chain: Chain) -> str:
    if chain.problem is None:
        head = (
            f' <small class="n">Last hash <code>{esc((chain.head or "")[:16])}</code>: compare it with a copy kept '
            "elsewhere to see whether records were cut off the end.</small>"
            if chain.head
            else ""
        )
        intact = f"{chain.records} records, intact and in order."
        return f'<p class="chain" role="status"><b>✓ Chain verified:</b> {intact}{head}</p>'
    return (
        f'<p class="chain bad" role="alert"><b>✗ Chain broken</b> at {esc(str(chain.problem))}. Records from there on '
        "cannot be trusted: their calls are marked ⚠. Run <code>manyoyo-mcp audit verify</code>.</p>"
    )


def cards(summary: Summary, dated: bool) -> str:
    out = [_card("Overview", [_period(summary), _outcomes(summary.outcomes, summary.calls)])]
    out.append(_sessions(summary, dated))
    lives = []
    for life in summary.sandboxes:
        made = (
            f'created <a href="#c{life.created.index}">{clock(life.created.call.ts, dated)}</a>'
            if life.created
            else "created earlier"
        )
        by = " by launch_agent" if life.created and life.created.call.tool == "launch_agent" else ""
        gone = f"removed {clock(life.removed.call.ts, dated)}" if life.removed else "<b>still there</b>"
        lives.append(f"<li><b>{esc(life.name)}</b>: {made}{by}, {gone}</li>")
    out.append(_card("Sandboxes created and removed", [_list(lives, "none", "w")]))
    denials = [
        f'<li class="denied"><span class="r">{esc(rule)}</span> &times;{len(rows)}</li>' + _calls(rows, dated)
        for rule, rows in summary.denials.items()
    ]
    out.append(_card("Denied, by rule", [_list(denials, "nothing was denied")]))
    failed = [
        f'<li class="{key}"><span class="l">{LABELS[key]}</span> &times;{len(rows)}</li>' + _calls(rows, dated)
        for key, rows in summary.failures.items()
        if rows
    ]
    out.append(_card("Errors, timeouts, cancelled", [_list(failed, "none: every allowed call finished")]))
    sock = [f"<p>{len(summary.confirmations)} confirmed by a human, {len(summary.grants)} granted by the operator</p>"]
    sock.append(
        _list(
            [
                _call(row, dated, who)
                for rows, who in ((summary.confirmations, "human"), (summary.grants, "operator"))
                for row in rows
            ],
            "",
        )
    )
    if summary.warnings:
        sock.append("<p>Allowed with a warning:</p>" + _list([_call(row, dated, "") for row in summary.warnings], ""))
    out.append(_card("Sock mode and warnings", sock))
    out.append(
        _card("Longest calls", [_list([_call(r, dated, duration(r.duration_s)) for r in summary.longest], "none")])
    )
    out.append(_card("Most output", [_list([_call(r, dated, size(r.output_bytes)) for r in summary.heaviest], "none")]))
    return "".join(out)


def _sessions(summary: Summary, dated: bool) -> str:
    """The agents' sessions; on a day of many (test runs, probes), the busiest few."""
    lines = summary.sessions
    note = ""
    if len(lines) > SESSIONS:
        note = f'<p class="n">The {SESSIONS} busiest of {len(lines)} sessions; every one is in the timeline.</p>'
        lines = busiest(lines, SESSIONS)
    items = [
        f'<li><a href="#s{line.session.number}">{esc(session_title(line.session, dated=dated))}</a><br>'
        f"{_outcomes(line.outcomes, line.session.calls)}</li>"
        for line in lines
    ]
    idle = summary.idle_runs
    idle_note = f'<p class="n">{idle} more server runs served no call (see Server events).</p>' if idle else ""
    return _card("Agents' sessions", [note, _list(items, "no calls", "w"), idle_note])


def _card(title: str, parts: Iterable[str]) -> str:
    return f"<div><h3>{title}</h3>{''.join(parts)}</div>"


def _list(items: Sequence[str], empty: str, wrap: str = "") -> str:
    """A list; `wrap` ("w") lets its lines wrap instead of ending in an ellipsis."""
    if not items:
        return f'<p class="n">{empty}</p>' if empty else ""
    opening = f'<ul class="{wrap}">' if wrap else "<ul>"
    return f"{opening}{''.join(items)}</ul>"


def _period(summary: Summary) -> str:
    first, last = summary.first, summary.last
    end = last[11:19] if first[:10] == last[:10] else f"{last[:10]} {last[11:19]}"
    return f"<p>{first[:10]} {first[11:19]} to {end} UTC</p>"


def _outcomes(outcomes: dict[str, int], calls: int) -> str:
    counts = " ".join(
        f'<span class="{key.split("-")[0]}"><span class="l">{count} {LABELS[key]}</span></span>'
        for key, count in outcomes.items()
    )
    return count(calls, "call") + (f": {counts}" if counts else "")


def _calls(rows: Sequence[Row], dated: bool) -> str:
    more = f'<li class="n">and {len(rows) - SHOWN} more</li>' if len(rows) > SHOWN else ""
    return "".join(_call(row, dated, "") for row in rows[:SHOWN]) + more


def _call(row: Row, dated: bool, figure: str) -> str:
    """A call the summary points to: its figure first (never cut off), then when, where and what."""
    call = row.call
    lead = f"<b>{esc(figure)}</b> " if figure else ""
    where = f"{esc(call.sandbox)} " if call.sandbox else ""
    when = f'<a href="#c{row.index}">{clock(call.ts, dated)}</a>'
    return f"<li>{lead}{when} {where}{esc(call.tool)} <code>{esc(row.line)}</code></li>"


def events(summary: Summary, sessions: Sequence[Session]) -> str:
    """Server starts and stops, one line per server run; runs that served no call folded away."""
    busy, idle, previous = [], [], None
    for session in sessions:
        if session.started is None and session.stopped is None:
            continue
        line, previous = _run(session, previous)
        (busy if session.calls else idle).append(line)
    others = [r for r in summary.events if r.get("event") not in ("server_start", "server_stop")]
    busy += [
        f"<li>{esc(str(r.get('ts', ''))[:19].replace('T', ' '))} {esc(str(r.get('event')))}: {esc(_facts(r))}</li>"
        for r in others
    ]
    folded = (
        f"<details><summary>{count(len(idle), 'server run')} without calls</summary><ul>{''.join(idle)}</ul></details>"
        if idle
        else ""
    )
    return f'<section id="ev"><h2>Server events</h2>{_list(busy, "") if busy else ""}{folded}</section>'


def _run(session: Session, previous: str | None) -> tuple[str, str | None]:
    start, stop = session.started or {}, session.stopped or {}
    began = str(start.get("ts") or session.first_ts)
    ended = f"to {str(stop['ts'])[11:19]}" if stop else "(no stop record: killed, or still running)"
    config = str(start.get("config") or stop.get("config") or "")
    changed = " (changed)" if previous is not None and config and config != previous else ""
    who = (
        f'<a href="#s{session.number}">session {session.number}</a>, {count(session.calls, "call")}'
        if session.calls
        else "no calls"
    )
    facts = [f"server {start.get('version', '?')}", f"pid {start.get('pid', '?')}", f"settings {config[:8]}{changed}"]
    line = f"<li>{began[:10]} {began[11:19]} {esc(ended)}: {who}; {esc(', '.join(facts))}</li>"
    return line, config or previous


def _facts(record: dict[str, Any]) -> str:
    skip = {"ts", "event", "hash", "prev", "seq"}
    return ", ".join(f"{k} {v}" for k, v in record.items() if k not in skip)

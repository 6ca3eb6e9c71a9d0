"""The review as one self-contained HTML page: no external asset, no request, readable without
JavaScript (the script only adds filters). Rendered on the server: each call is a `<details>`
whose summary is the call's line and whose body is its records, in readable form.

Call and session ids appear only inside a call's expansion; hashes are left out (the chain's
state is shown at the top instead). Every text comes from the log as it is: already redacted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from manyoyo_mcp.audit.report import Review
from manyoyo_mcp.audit.report.cards import banner, cards, events, linked
from manyoyo_mcp.audit.report.markup import attr, esc
from manyoyo_mcp.audit.report.rows import COLUMNS, LABELS, Row, clock, count, duration, groups, size, spans_days
from manyoyo_mcp.audit.report.text import session_title
from manyoyo_mcp.audit.review import Session

# Fields every record of a call repeats, shown once in the row or its group instead.
CONTEXT = frozenset({"seq", "ts", "event", "hash", "prev", "session", "call", "tool", "sandbox"})
OUTCOME_FIELDS = ("duration_s", "exit_code", "output_bytes", "created", "removed", "error")
HEADERS = dict(zip(COLUMNS, ("time", "tool", "what", "outcome", "exit", "duration", "output"), strict=True))


def page(review: Review) -> str:
    """The whole page."""
    summary = review.summary
    dated = spans_days([row.call for row in review.rows])
    anchors = linked(summary)
    period = period_text(summary.first, summary.last)
    style = resources.files(__package__).joinpath("page.css").read_text()
    script = resources.files(__package__).joinpath("page.js").read_text()
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            f"<title>Audit review: {esc(period)}</title><style>{style}</style></head><body>",
            f"<header><h1>What the agents did <small>{esc(period)}</small></h1>{banner(summary.chain)}</header>",
            f'<section id="sum" aria-label="summary">{cards(summary, dated)}</section>',
            _timeline(review, anchors, dated),
            events(summary, review.sessions),
            f"<footer>From {esc(str(review.directory))}, generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. ",
            "Records are shown in readable form without their hashes; <code>manyoyo-mcp audit show --json</code> ",
            f"prints them as stored.</footer><script>{script}</script></body></html>\n",
        ]
    )


def _timeline(review: Review, anchors: set[int], dated: bool) -> str:
    by_id = {s.id: s for s in review.sessions}
    trusted = review.summary.chain.trusts
    out = [
        f'<section><h2>Calls <small class="n">times in UTC <span id="count"></span></small></h2>{_filters()}',
        f'<div id="calls" style="--cw:{_time_width(dated, review.summary.chain.intact)}em;'
        f'--tw:{_tool_width(review.rows)}em;--ow:{_outcome_width(review.rows)}em">',
        '<div class="hd" role="row">' + "".join(f'<span role="columnheader">{h}</span>' for h in HEADERS.values()),
        "</div>",
    ]
    for session_id, boxes in groups(review.rows):
        session = by_id.get(session_id)
        number = session.number if session else 0
        calls = sum(len(rows) for _, rows in boxes)
        label = f"{number} · {session.client}" if session else "?"
        out.append(
            f'<section id="s{number}" data-s="{number}" data-l="{attr(label)}"><h3>{esc(_session_head(session))}'
        )
        out.append(f" <small>{count(calls, 'call')}</small></h3>")
        client = session.clients[0] if session and session.clients else ""  # named once, in the heading
        for sandbox, rows in boxes:
            title = f"sandbox {esc(sandbox)}" if sandbox else "no sandbox"
            out.append(f'<section data-b="{attr(sandbox or "(none)")}"><h4>{title} <small>{len(rows)}</small></h4>')
            out += [_row(row, client, row.index in anchors, trusted(row), dated) for row in rows]
            out.append("</section>")
        out.append("</section>")
    if not review.rows:
        out.append('<p class="n">No calls in this log (or none the filters keep).</p>')
    out.append("</div></section>")
    return "".join(out)


def _session_head(session: Session | None) -> str:
    title = session_title(session)
    return title[0].upper() + title[1:]


def _filters() -> str:
    selects = "".join(
        f'<label>{label} <select name="{name}"><option value="">all</option></select></label>'
        for name, label in (("s", "session"), ("b", "sandbox"), ("t", "tool"), ("o", "outcome"))
    )
    return (
        f'<form id="f" hidden>{selects}<label>text <input name="q" type="search" placeholder="command, path, rule…">'
        '</label><button type="reset">clear</button></form><noscript><p class="n">Filters need JavaScript; every call '
        "is listed below.</p></noscript>"
    )


def period_text(first: str, last: str) -> str:
    """'2026-11-29 19:40 to 20:35 UTC' (the second date only when it differs)."""
    end = last[11:16] if first[:10] == last[:10] else f"{last[:10]} {last[11:16]}"
    return f"{first[:10]} {first[11:16]} to {end} UTC"


def _time_width(dated: bool, intact: bool) -> float:
    """The time column's width in em: a clock, a date before it on a page of several days, a ⚠ before
    both on calls after a break in the chain."""
    return (8.6 if dated else 5.4) + (0 if intact else 1.3)


def _tool_width(rows: list[Row]) -> float:
    return round(max((len(r.call.tool) for r in rows), default=4) * 0.68 + 0.4, 1)


def _outcome_width(rows: list[Row]) -> float:
    """The outcome column's width in em: enough for the longest label and rule id on this page."""
    longest = max(
        (len(LABELS[r.outcome]) * 0.62 + (len(r.rule) * 0.62 + 0.6 if r.rule else 0) for r in rows), default=0
    )
    return round(max(7.0, longest + 1.2), 1)


def _row(row: Row, client: str, anchor: bool, trusted: bool, dated: bool) -> str:
    call = row.call
    classes = row.outcome.split("-")[0] + ("" if trusted else " u")
    ident = f' id="c{row.index}"' if anchor else ""
    rule = f' <span class="r">{esc(row.rule)}</span>' if row.rule else ""
    exit_code = "" if row.exit_code is None else str(row.exit_code)
    return (
        f'<details class="{classes}"{ident}><summary><time>{"⚠ " if not trusted else ""}{clock(call.ts, dated)}</time>'
        f"<b>{esc(call.tool)}</b><code>{_what(row)}</code>"
        f'<em><span class="l">{LABELS[row.outcome]}</span>{rule}</em>'
        f"<i>{exit_code}</i><i>{duration(row.duration_s)}</i><i>{size(row.output_bytes)}</i></summary>"
        f"{_expansion(row, client)}</details>"
    )


def _what(row: Row) -> str:
    extra = f'<span class="n">{esc(row.extra)}</span>' if row.extra else ""
    return f"{esc(row.what)} {extra}" if row.what and extra else esc(row.what) or extra or "—"


def _expansion(row: Row, client: str) -> str:
    """The call's ids and each of its records: what the line could not hold, nothing it already shows."""
    call = row.call
    seqs = [r.get("seq") for r in call.records]
    items = [("call", f"{call.id}, records #{seqs[0]} to #{seqs[-1]}")]  # the id starts with the session's
    for record in call.records:
        head = f"#{record.get('seq')} {record.get('event')} {str(record.get('ts', ''))[11:23]}"
        items.append((head, _record(record, row, client)))
    return "<dl>" + "".join(f"<dt>{esc(k)}<dd>{esc(v)}" for k, v in items) + "</dl>"


def _record(record: dict[str, Any], row: Row, client: str) -> str:
    event = record.get("event")
    parts: list[str] = []
    if event == "call":
        who = " ".join(str(v) for v in (record.get("client") or {}).values() if v)
        parts.append(f"from {who or 'an unnamed client'}" if who != client else "arrived")
        parts += [
            f"{k}: {_value(v)}" for k, v in (record.get("args") or {}).items() if k not in row.shown | {"sandbox"}
        ]
    elif event == "decision":
        verdict = "allowed" if record.get("allowed") else "DENIED"
        parts.append(f"{verdict} by {record.get('rule')}: {record.get('reason', '')}")
        if record.get("confirmation"):
            parts.append(f"confirmation: {record['confirmation']}")
    elif event == "outcome":
        parts.append(_outcome(record, (row.call.refusal or {}).get("reason")))
    known = {"client", "args", "allowed", "rule", "reason", "confirmation", "status", *OUTCOME_FIELDS}
    parts += [f"{k}: {_value(v)}" for k, v in record.items() if k not in CONTEXT | known and v is not None]
    if record.get("sandbox") and record.get("sandbox") != row.call.sandbox:
        parts.append(f"sandbox: {record['sandbox']}")
    return "\n".join(parts)


def _outcome(record: dict[str, Any], reason: str | None) -> str:
    """The outcome's facts; a refusal's error quotes the decision's reason, which is not repeated."""
    facts = [str(record.get("status")), f"{record['duration_s']} s" if "duration_s" in record else ""]
    if record.get("exit_code") is not None:
        facts.append(f"exit {record['exit_code']}")
    if record.get("output_bytes") is not None:
        facts.append(f"{record['output_bytes']} bytes of output")
    text = ", ".join(f for f in facts if f)
    for key in ("created", "removed"):
        if record.get(key):
            text += f"\n{key}: " + ", ".join(_short_id(str(i)) for i in record[key])
    if record.get("error"):
        error = str(record["error"])
        text += "\n" + (error.replace(reason, "(the reason above)") if reason and len(reason) > 20 else error)
    return text


def _short_id(value: str) -> str:
    """Engine ids as Docker shows them: 12 hex digits (sha256: kept)."""
    prefix, _, digest = value.rpartition(":")
    if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
        return f"{prefix}:{digest[:12]}" if prefix else digest[:12]
    return value


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items()) or "{}"
    return json.dumps(value, ensure_ascii=False)

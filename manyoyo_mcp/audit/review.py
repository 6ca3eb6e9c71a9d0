"""Reading the audit log as a reviewer: calls (a call's records grouped), filters, stats, report."""

from __future__ import annotations

import html
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from manyoyo_mcp.audit.log import read_records

FAILED = ("error", "timeout", "cancelled")
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(slots=True)
class Call:
    id: str
    ts: str
    tool: str
    sandbox: str | None
    client: dict[str, Any]
    args: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == "decision"]

    @property
    def outcome(self) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("event") == "outcome"), None)

    @property
    def denied(self) -> bool:
        return any(not d.get("allowed") for d in self.decisions)

    @property
    def status(self) -> str:
        outcome = self.outcome
        return str(outcome.get("status")) if outcome else "no outcome"

    @property
    def duration(self) -> float | None:
        outcome = self.outcome
        return outcome.get("duration_s") if outcome else None

    def summary(self) -> str:
        outcome = self.outcome or {}
        if self.denied:
            rule = next(d.get("rule") for d in self.decisions if not d.get("allowed"))
            return f"denied by {rule}"
        if outcome.get("error"):
            return str(outcome["error"]).splitlines()[0][:120]
        parts = [f"{k}={json.dumps(v)}" for k, v in self.args.items() if k != "sandbox"]
        return " ".join(parts)[:120]

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.id,
            "ts": self.ts,
            "tool": self.tool,
            "sandbox": self.sandbox,
            "client": self.client,
            "status": self.status,
            "denied": self.denied,
            "duration_s": self.duration,
            "summary": self.summary(),
            "records": self.records,
        }


def load(directory: Path) -> tuple[list[Call], list[dict[str, Any]]]:
    """(calls in arrival order, every readable record)."""
    calls: dict[str, Call] = {}
    records = []
    for _, _, record, _ in read_records(directory):
        if record is None:
            continue
        records.append(record)
        call_id = record.get("call")
        if not call_id:
            continue
        if record.get("event") == "call":
            calls[call_id] = Call(
                call_id,
                record.get("ts", ""),
                record.get("tool", ""),
                record.get("sandbox"),
                record.get("client") or {},
                record.get("args") or {},
            )
        if call_id in calls:
            calls[call_id].records.append(record)
    return list(calls.values()), records


def parse_moment(value: str) -> datetime:
    """An ISO 8601 time (UTC if no zone) or a duration ago: '30m', '2h', '1d'."""
    relative = _RELATIVE.fullmatch(value.strip())
    if relative:
        return datetime.now(UTC) - timedelta(seconds=float(relative.group(1)) * _UNITS[relative.group(2)])
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    sandbox: str | None = None
    tool: str | None = None
    denied: bool = False
    errors: bool = False
    client: str | None = None

    def accepts(self, call: Call) -> bool:
        moment = _ts(call.ts) if call.ts else None
        return not (
            (self.since and moment and moment < self.since)
            or (self.until and moment and moment > self.until)
            or (self.sandbox and call.sandbox != self.sandbox)
            or (self.tool and call.tool != self.tool)
            or (self.denied and not call.denied)
            or (self.errors and call.status not in FAILED)
            or (self.client and (call.client.get("name") or "") != self.client)
        )


def table(calls: Iterable[Call]) -> str:
    rows = [("time (UTC)", "call", "tool", "sandbox", "client", "status", "secs", "detail")]
    for call in calls:
        status = "DENIED" if call.denied else call.status.upper() if call.status in FAILED else call.status
        rows.append(
            (
                call.ts[:19].replace("T", " "),
                call.id,
                call.tool,
                call.sandbox or "-",
                call.client.get("name") or "-",
                status,
                "-" if call.duration is None else f"{call.duration:.2f}",
                call.summary(),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def record_line(record: dict[str, Any]) -> str:
    """One record as a readable line (for tail)."""
    ts = str(record.get("ts", ""))[:23].replace("T", " ")
    event = record.get("event", "?")
    head = f"{ts} #{record.get('seq')} {event:<12} {record.get('call') or '':<16} {record.get('tool') or ''}"
    if event == "call":
        return f"{head} sandbox={record.get('sandbox')} args={json.dumps(record.get('args'), ensure_ascii=False)}"
    if event == "decision":
        verdict = "allowed" if record.get("allowed") else "DENIED"
        return f"{head} {verdict} rule={record.get('rule')} {record.get('reason', '')}"
    if event == "outcome":
        extra = {k: record[k] for k in ("exit_code", "output_bytes", "created", "removed", "error") if k in record}
        return f"{head} {record.get('status')} {record.get('duration_s')}s {json.dumps(extra, ensure_ascii=False)}"
    return f"{head} config={record.get('config')} version={record.get('version', '')}"


def stats(calls: list[Call]) -> dict[str, Any]:
    durations: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call.duration is not None:
            durations[call.tool].append(float(call.duration))
    denials = Counter(str(d.get("rule")) for call in calls for d in call.decisions if not d.get("allowed"))
    return {
        "calls": len(calls),
        "calls_per_tool": dict(Counter(call.tool for call in calls).most_common()),
        "denials_per_rule": dict(denials.most_common()),
        "outcomes": dict(Counter(call.status for call in calls).most_common()),
        "duration_s": {
            tool: {"p50": _percentile(values, 50), "p95": _percentile(values, 95), "n": len(values)}
            for tool, values in sorted(durations.items())
        },
    }


def _percentile(values: list[float], p: int) -> float:
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 3)


def stats_text(summary: dict[str, Any]) -> str:
    lines = [f"calls: {summary['calls']}", "", "tool                 calls    p50 s    p95 s"]
    for tool, count in summary["calls_per_tool"].items():
        d = summary["duration_s"].get(tool, {"p50": 0, "p95": 0})
        lines.append(f"{tool:<20} {count:>6} {d['p50']:>8.3f} {d['p95']:>8.3f}")
    lines += ["", "outcomes: " + ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())]
    lines.append(
        "denials per rule: " + (", ".join(f"{k} {v}" for k, v in summary["denials_per_rule"].items()) or "none")
    )
    return "\n".join(lines)


def html_report(calls: list[Call], records: list[dict[str, Any]], source: Path) -> str:
    """A self-contained page: timeline of calls, filters, denials and errors marked, each call's records."""
    data = json.dumps([c.as_dict() for c in calls], ensure_ascii=False).replace("</", "<\\/")
    events = [r for r in records if not r.get("call")]
    title = f"manyoyo-mcp audit: {html.escape(str(source))}"
    return _PAGE.format(
        title=title, data=data, events=html.escape(json.dumps(events)), generated=datetime.now(UTC).isoformat()
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}} h1{{font-size:1.2rem}}
#filters{{display:flex;gap:1rem;flex-wrap:wrap;align-items:center;margin:.8rem 0}}
table{{border-collapse:collapse;width:100%}} th,td{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}}
tr.call{{cursor:pointer}} tr.call:hover{{background:#f4f6fa}}
tr.denied{{background:#fde8e8}} tr.failed{{background:#fff3dc}}
.badge{{padding:0 .4rem;border-radius:.3rem;font-weight:600}} .denied .badge{{color:#a00}} .failed .badge{{color:#a60}}
tr.detail pre{{margin:0;white-space:pre-wrap;font-size:12px;background:#fafafa;padding:.5rem}}
#count{{color:#666}}
</style></head><body>
<h1>{title}</h1>
<div id="filters">
 <label>tool <select id="tool"><option value="">all</option></select></label>
 <label>sandbox <select id="sandbox"><option value="">all</option></select></label>
 <label><input type="checkbox" id="denied"> denied only</label>
 <label><input type="checkbox" id="errors"> errors only</label>
 <label>search <input id="search" placeholder="text in a call"></label>
 <span id="count"></span>
</div>
<table><thead><tr><th>time (UTC)</th><th>call</th><th>tool</th><th>sandbox</th><th>client</th><th>status</th><th>secs</th><th>detail</th></tr></thead>
<tbody id="calls"></tbody></table>
<p>Server events: <code>{events}</code></p>
<p><small>generated {generated}; click a call to see its records.</small></p>
<script id="data" type="application/json">{data}</script>
<script>
const calls = JSON.parse(document.getElementById('data').textContent);
const body = document.getElementById('calls');
const byId = id => document.getElementById(id);
for (const key of ['tool', 'sandbox']) {{
  for (const v of [...new Set(calls.map(c => c[key]).filter(Boolean))].sort()) {{
    const o = document.createElement('option'); o.value = o.textContent = v; byId(key).appendChild(o);
  }}
}}
function cell(row, text) {{ const td = document.createElement('td'); td.textContent = text; row.appendChild(td); return td; }}
function render() {{
  body.replaceChildren();
  const q = byId('search').value.toLowerCase();
  let shown = 0;
  for (const c of calls) {{
    const failed = ['error', 'timeout', 'cancelled'].includes(c.status);
    if (byId('tool').value && c.tool !== byId('tool').value) continue;
    if (byId('sandbox').value && c.sandbox !== byId('sandbox').value) continue;
    if (byId('denied').checked && !c.denied) continue;
    if (byId('errors').checked && !failed) continue;
    if (q && !JSON.stringify(c).toLowerCase().includes(q)) continue;
    shown++;
    const row = document.createElement('tr');
    row.className = 'call' + (c.denied ? ' denied' : failed ? ' failed' : '');
    row.dataset.call = c.call;
    cell(row, c.ts.slice(0, 19).replace('T', ' ')); cell(row, c.call); cell(row, c.tool);
    cell(row, c.sandbox || '-'); cell(row, (c.client && c.client.name) || '-');
    const badge = document.createElement('span'); badge.className = 'badge';
    badge.textContent = c.denied ? 'DENIED' : c.status; cell(row, '').appendChild(badge);
    cell(row, c.duration_s == null ? '-' : c.duration_s.toFixed(2)); cell(row, c.summary);
    const detail = document.createElement('tr'); detail.className = 'detail'; detail.hidden = true;
    const td = document.createElement('td'); td.colSpan = 8;
    const pre = document.createElement('pre'); pre.textContent = c.records.map(r => JSON.stringify(r, null, 1)).join('\\n');
    td.appendChild(pre); detail.appendChild(td);
    row.addEventListener('click', () => {{ detail.hidden = !detail.hidden; }});
    body.append(row, detail);
  }}
  byId('count').textContent = shown + ' of ' + calls.length + ' calls';
}}
for (const id of ['tool', 'sandbox', 'denied', 'errors', 'search']) byId(id).addEventListener('input', render);
render();
</script></body></html>
"""  # noqa: E501 (the page's CSS and script read better unwrapped)

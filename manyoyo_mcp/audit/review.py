"""Reading the audit log as a reviewer (pure): calls (a call's records grouped), sessions,
filters, stats. What a person sees of them (rows, the summary, the page) is in report/."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from manyoyo_mcp.audit.log import read_records

FAILED = ("error", "timeout", "cancelled")
MAKES_SANDBOXES = ("create_sandbox", "launch_agent")
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(slots=True)
class Call:
    """One tool call: its arrival record's facts and every record it left, in order."""

    id: str
    ts: str
    tool: str
    sandbox: str | None
    client: dict[str, Any]
    args: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    session: str = ""
    session_number: int = 0  # 1, 2, ...: the sessions that made calls, in order (what people read)
    lines: list[tuple[str, int]] = field(default_factory=list)  # (file, line) of each record

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == "decision"]

    @property
    def outcome(self) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("event") == "outcome"), None)

    @property
    def refusal(self) -> dict[str, Any] | None:
        """The decision that denied the call, if one did."""
        return next((d for d in self.decisions if not d.get("allowed")), None)

    @property
    def denied(self) -> bool:
        return self.refusal is not None

    @property
    def status(self) -> str:
        outcome = self.outcome
        return str(outcome.get("status")) if outcome else "no outcome"

    @property
    def duration(self) -> float | None:
        outcome = self.outcome
        return outcome.get("duration_s") if outcome else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.id,
            "session": self.session,
            "ts": self.ts,
            "tool": self.tool,
            "sandbox": self.sandbox,
            "client": self.client,
            "status": self.status,
            "denied": self.denied,
            "duration_s": self.duration,
            "records": self.records,
        }


@dataclass(slots=True)
class Session:
    """One server process: its start and stop records and the calls it served."""

    id: str
    number: int = 0  # 0 for a server run that served no call
    started: dict[str, Any] | None = None
    stopped: dict[str, Any] | None = None
    first_ts: str = ""
    clients: list[str] = field(default_factory=list)  # "name version", in order of first call
    calls: int = 0

    @property
    def client(self) -> str:
        return ", ".join(self.clients) or "unknown client"


def load(directory: Path) -> tuple[list[Call], list[dict[str, Any]]]:
    """(calls in arrival order, every readable record)."""
    calls: dict[str, Call] = {}
    records = []
    numbers: dict[str, int] = {}
    for name, line, record, _ in read_records(directory):
        if record is None:
            continue
        records.append(record)
        call_id = record.get("call")
        if not call_id:
            continue
        if record.get("event") == "call":
            session = str(record.get("session") or "")
            numbers.setdefault(session, len(numbers) + 1)
            calls[call_id] = Call(
                call_id,
                record.get("ts", ""),
                record.get("tool", ""),
                record.get("sandbox"),
                record.get("client") or {},
                record.get("args") or {},
                session=session,
                session_number=numbers[session],
            )
        call = calls.get(call_id)
        if call is not None:
            call.records.append(record)
            call.lines.append((name, line))
            if record.get("event") == "outcome" and record.get("sandbox") and not call.sandbox:
                call.sandbox = record["sandbox"]  # the name the server gave a sandbox it made
    found = list(calls.values())
    _name_made_sandboxes(found)
    return found, records


def _name_made_sandboxes(calls: list[Call]) -> None:
    """A sandbox made without a name in older logs: named by the later call that removed it."""
    names = {
        made: call.sandbox
        for call in calls
        if call.sandbox and call.outcome
        for made in call.outcome.get("removed") or ()
    }
    for call in calls:
        if call.sandbox is None and call.tool in MAKES_SANDBOXES and call.outcome:
            call.sandbox = next((names[i] for i in call.outcome.get("created") or () if i in names), None)


def sessions(calls: list[Call], records: list[dict[str, Any]]) -> list[Session]:
    """Every server session in the log, in order of its first record."""
    found: dict[str, Session] = {}
    for record in records:
        session = found.setdefault(str(record.get("session") or ""), Session(str(record.get("session") or "")))
        session.first_ts = session.first_ts or str(record.get("ts", ""))
        if record.get("event") == "server_start":
            session.started = record
        elif record.get("event") == "server_stop":
            session.stopped = record
    for call in calls:
        session = found.setdefault(call.session, Session(call.session, first_ts=call.ts))
        session.number, session.calls = call.session_number, session.calls + 1
        client = " ".join(str(v) for v in (call.client.get("name"), call.client.get("version")) if v)
        if client and client not in session.clients:
            session.clients.append(client)
    return list(found.values())


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
    """Which calls to show; `session` is a session's number (as shown) or its id."""

    since: datetime | None = None
    until: datetime | None = None
    session: str | None = None
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
            or (self.session and self.session not in (call.session, str(call.session_number)))
            or (self.sandbox and call.sandbox != self.sandbox)
            or (self.tool and call.tool != self.tool)
            or (self.denied and not call.denied)
            or (self.errors and call.status not in FAILED)
            or (self.client and (call.client.get("name") or "") != self.client)
        )

    def accepts_event(self, record: dict[str, Any], numbers: dict[str, int]) -> bool:
        """A record of no call (server start and stop): kept unless the filters pick calls by what they are."""
        if self.sandbox or self.tool or self.denied or self.errors or self.client:
            return False
        moment = _ts(str(record["ts"])) if record.get("ts") else None
        session = str(record.get("session") or "")
        return not (
            (self.since and moment and moment < self.since)
            or (self.until and moment and moment > self.until)
            or (self.session and self.session not in (session, str(numbers.get(session))))
        )


def select(
    calls: list[Call], records: list[dict[str, Any]], filters: Filters
) -> tuple[list[Call], list[dict[str, Any]]]:
    """(the calls `filters` accepts, their records and the server records the filters keep)."""
    chosen = [call for call in calls if filters.accepts(call)]
    ids = {call.id for call in chosen}
    numbers = {call.session: call.session_number for call in calls}
    kept = [r for r in records if (r["call"] in ids if r.get("call") else filters.accepts_event(r, numbers))]
    return chosen, kept


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
    if event == "dropped":
        files = ", ".join(record.get("files") or [])
        return f"{head} {files}: seq {record.get('first_seq')} to {record.get('last_seq')} went by retention"
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

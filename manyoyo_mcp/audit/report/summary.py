"""What a reviewer wants to know first (pure): the period, the chain's state, the sessions, the
sandboxes made and removed, denials by rule, failures, sock-mode confirmations, the longest and
the most output-heavy calls. The page and `audit summary` both show this one model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from manyoyo_mcp.audit.log import Problem
from manyoyo_mcp.audit.report.rows import Row, clock, duration, size
from manyoyo_mcp.audit.review import MAKES_SANDBOXES, Session
from manyoyo_mcp.policy import rule_ids

TOP = 5
SESSIONS = 8  # sessions listed before "and N more"
FAILURES = ("error", "timeout", "cancelled", "unfinished")
HUMAN = "accepted by the user"  # a decision's `confirmation` (server/confirmation.py)
OPERATOR = "operator"
REMOVES_SANDBOXES = ("remove_sandbox", "gc")  # gc: an idle sandbox removed by the server or `manyoyo-mcp gc`


@dataclass(frozen=True, slots=True)
class Chain:
    """The hash chain's state: every record intact, or the first one that is not."""

    records: int
    problem: Problem | None
    head: str | None  # the last record's hash: a copy kept elsewhere reveals records cut off the end
    dropped_through: int | None = None  # records up to this seq went by retention, as the chain records

    @property
    def intact(self) -> bool:
        return self.problem is None

    def trusts(self, row: Row) -> bool:
        """Whether every record of the call comes before the first bad one."""
        if self.problem is None:
            return True
        bad = (self.problem.file, self.problem.line)
        return all(line < bad for line in row.call.lines)

    def text(self) -> str:
        if self.problem is None:
            head = f"; last record's hash {self.head[:16]}" if self.head else ""
            went = (
                f" (records up to seq {self.dropped_through} went by retention, as the log records)"
                if self.dropped_through
                else ""
            )
            return f"verified: all {self.records} records intact{went}{head}"
        return f"BROKEN at {self.problem}; records from there on cannot be trusted"


@dataclass(frozen=True, slots=True)
class SessionLine:
    session: Session
    outcomes: dict[str, int]


@dataclass(frozen=True, slots=True)
class SandboxLife:
    name: str
    created: Row | None = None
    removed: Row | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    first: str
    last: str
    chain: Chain
    calls: int
    outcomes: dict[str, int]
    sessions: list[SessionLine]
    idle_runs: int  # server runs that served no call (probes, restarts)
    sandboxes: list[SandboxLife]
    denials: dict[str, list[Row]]  # rule -> the calls it denied
    failures: dict[str, list[Row]]  # error, timeout, cancelled, unfinished -> calls
    confirmations: list[Row]  # sock mode confirmed by a human
    grants: list[Row]  # sock mode pre-approved by the operator
    warnings: list[Row]  # allowed with a note (secret-looking build args)
    longest: list[Row]
    heaviest: list[Row]
    events: list[dict[str, Any]] = field(default_factory=list)  # server start/stop and other records


def summarize(
    rows: Sequence[Row], records: Sequence[dict[str, Any]], sessions: Sequence[Session], chain: Chain
) -> Summary:
    """The summary of `rows`; `records` and `sessions` are the log's (or the filtered part's)."""
    stamps = sorted(str(r.get("ts")) for r in records if r.get("ts")) or [""]
    by_session: dict[str, Counter[str]] = {}
    for row in rows:
        by_session.setdefault(row.call.session, Counter())[row.outcome] += 1
    denials: dict[str, list[Row]] = {}
    for row in rows:
        if row.rule:
            denials.setdefault(row.rule, []).append(row)
    confirmed = [(row, d) for row in rows for d in row.call.decisions if d.get("allowed") and d.get("confirmation")]
    return Summary(
        first=stamps[0],
        last=stamps[-1],
        chain=chain,
        calls=len(rows),
        outcomes=dict(Counter(row.outcome for row in rows).most_common()),
        sessions=[SessionLine(s, dict(by_session[s.id])) for s in sessions if s.id in by_session],
        idle_runs=sum(1 for s in sessions if not s.calls and s.started),
        sandboxes=sandbox_lives(rows),
        denials=dict(sorted(denials.items(), key=lambda item: -len(item[1]))),
        failures={key: [row for row in rows if row.outcome == key] for key in FAILURES},
        confirmations=[row for row, d in confirmed if d.get("confirmation") == HUMAN],
        grants=[row for row, d in confirmed if d.get("confirmation") == OPERATOR],
        warnings=[
            row
            for row in rows
            if any(d.get("rule") == rule_ids.BUILD_SECRET_ARGS_WARNED.id for d in row.call.decisions)
        ],
        longest=sorted((r for r in rows if r.duration_s), key=lambda r: -(r.duration_s or 0))[:TOP],
        heaviest=sorted((r for r in rows if r.output_bytes), key=lambda r: -(r.output_bytes or 0))[:TOP],
        events=[r for r in records if not r.get("call")],
    )


def busiest(lines: Sequence[SessionLine], most: int) -> list[SessionLine]:
    """The `most` sessions with the most calls, in their order (a day of tests has hundreds)."""
    chosen = {id(line) for line in sorted(lines, key=lambda line: -line.session.calls)[:most]}
    return [line for line in lines if id(line) in chosen]


def sandbox_lives(rows: Sequence[Row]) -> list[SandboxLife]:
    """Sandboxes made and removed in these calls, matched by container id, in order of appearance."""
    lives: dict[str, SandboxLife] = {}
    for row in rows:
        outcome = row.call.outcome or {}  # a call that timed out may still have made its sandbox
        if row.call.tool in MAKES_SANDBOXES and outcome.get("created"):
            key = str(outcome["created"][0])
            lives[key] = SandboxLife(row.call.sandbox or key[:12], created=row)
        elif row.call.tool in REMOVES_SANDBOXES and outcome.get("removed"):
            key = str(outcome["removed"][0])
            made = lives.get(key)
            name = made.name if made else row.call.sandbox or key[:12]
            lives[key] = SandboxLife(name, created=made.created if made else None, removed=row)
    return list(lives.values())


def call_line(row: Row, dated: bool = False) -> str:
    """A call referred to from the summary: time, sandbox, tool, what, and the figure that matters."""
    call = row.call
    facts = [row.label, duration(row.duration_s), size(row.output_bytes)]
    return " ".join(
        p
        for p in (
            clock(call.ts, dated),
            call.sandbox or "",
            call.tool,
            row.line,
            f"({', '.join(f for f in facts if f)})",
        )
        if p
    )


def as_dict(summary: Summary) -> dict[str, Any]:
    """The summary as JSON-ready data (`audit summary --json`)."""

    def refs(rows: Sequence[Row]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.as_dict().items() if k != "records"} for row in rows]

    chain = summary.chain
    return {
        "period": {"from": summary.first, "to": summary.last},
        "chain": {
            "intact": chain.intact,
            "records": chain.records,
            "problem": str(chain.problem) if chain.problem else None,
            "head": chain.head,
            "dropped_through_seq": chain.dropped_through,
        },
        "calls": summary.calls,
        "outcomes": summary.outcomes,
        "sessions": [
            {
                "number": line.session.number,
                "id": line.session.id,
                "clients": line.session.clients,
                "server_start": (line.session.started or {}).get("ts"),
                "server_version": (line.session.started or {}).get("version"),
                "server_stop": (line.session.stopped or {}).get("ts"),
                "calls": line.session.calls,
                "outcomes": line.outcomes,
            }
            for line in summary.sessions
        ],
        "server_runs_without_calls": summary.idle_runs,
        "sandboxes": [
            {
                "name": life.name,
                "created": life.created.call.ts if life.created else None,
                "created_by": life.created.call.tool if life.created else None,
                "removed": life.removed.call.ts if life.removed else None,
            }
            for life in summary.sandboxes
        ],
        "denials": {rule: refs(rows) for rule, rows in summary.denials.items()},
        "failures": {key: refs(rows) for key, rows in summary.failures.items()},
        "sock_confirmations": refs(summary.confirmations),
        "sock_operator_grants": refs(summary.grants),
        "warnings": refs(summary.warnings),
        "longest": refs(summary.longest),
        "most_output": refs(summary.heaviest),
    }

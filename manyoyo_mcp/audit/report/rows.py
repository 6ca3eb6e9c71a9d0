"""One line per call, as a person reads it (pure): time, tool, what, outcome, exit, duration, output.

`what` is the call's substance in the words of the tool: the command for exec, the image and
command for run_container, the prompt for launch_agent, the image, path or container otherwise.
Values are shown as the log holds them (already redacted); nothing here un-redacts anything.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from manyoyo_mcp.audit.bounds import is_large
from manyoyo_mcp.audit.bounds import shown as readable
from manyoyo_mcp.audit.review import Call

# outcome key -> the text label shown next to its colour (never colour alone)
LABELS = {
    "ok": "ok",
    "denied": "denied",
    "error": "error",
    "timeout": "timeout",
    "cancelled": "cancelled",
    "awaiting-input": "asked a human",
    "unfinished": "no outcome",
}
OUTCOMES = tuple(LABELS)
COLUMNS = ("time", "tool", "what", "outcome", "exit", "duration", "output")


@dataclass(frozen=True, slots=True)
class Row:
    """A call as one line; `call` keeps every record for the expansion."""

    index: int
    call: Call
    what: str
    extra: str  # the call's other arguments, as `key=value` words
    shown: frozenset[str]  # the arguments `what` and `extra` show
    outcome: str  # a key of LABELS
    rule: str | None  # the rule that denied the call
    exit_code: int | None
    duration_s: float | None
    output_bytes: int | None

    @property
    def line(self) -> str:
        """`what` and `extra` as one line of text."""
        return f"{self.what}  {self.extra}" if self.what and self.extra else self.what or self.extra

    @property
    def why(self) -> str:
        """Why a call did not end well: the denying decision's reason, else its error's first line."""
        refusal = self.call.refusal
        if refusal is not None:
            return str(refusal.get("reason") or "")
        error = str((self.call.outcome or {}).get("error") or "")
        first = error.splitlines()[0] if error else ""
        return first.removeprefix(f"Error executing tool {self.call.tool}: ")  # the format every error has

    @property
    def label(self) -> str:
        """The outcome as text, with the rule for a denial: 'denied · limits.timeout-ceiling'."""
        return f"{LABELS[self.outcome]} · {self.rule}" if self.rule else LABELS[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        call = self.call
        return {
            "ts": call.ts,
            "session": call.session_number,
            "sandbox": call.sandbox,
            "tool": call.tool,
            "what": self.line,
            "outcome": self.outcome,
            "rule": self.rule,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "output_bytes": self.output_bytes,
            "client": call.client,
            "call": call.id,
            "session_id": call.session,
            "records": call.records,
        }


def rows(calls: Sequence[Call]) -> list[Row]:
    return [row(i, call) for i, call in enumerate(calls)]


def row(index: int, call: Call) -> Row:
    outcome = call.outcome or {}
    refusal = call.refusal
    what, extra, shown = describe(call.tool, call.args)
    if outcome.get("pooled"):  # a create_sandbox the warm pool served
        what = " ".join(p for p in (what, "(from the warm pool)") if p)
    return Row(
        index,
        call,
        what,
        extra,
        shown,
        outcome_of(call),
        str(refusal.get("rule")) if refusal else None,
        _int(outcome.get("exit_code")),
        None if refusal else _float(outcome.get("duration_s")),  # a refusal's milliseconds say nothing
        _int(outcome.get("output_bytes")),
    )


def outcome_of(call: Call) -> str:
    if call.denied:
        return "denied"
    if call.outcome is None:
        return "unfinished"  # the server stopped mid-call (killed, crashed)
    return call.status if call.status in LABELS else "error"


def describe(tool: str, args: dict[str, Any]) -> tuple[str, str, frozenset[str]]:
    """(what the call did in a line's words, its other arguments as `key=value` words, the
    arguments these two show). A tool with no words of its own is described by its arguments.
    A text the log kept as its size, digest and head shows its head and what was cut."""
    if is_large(args):  # the whole of them, past the record's size
        return str(readable(args)), "", frozenset()
    args = {key: readable(value) for key, value in args.items()}
    describer = _DESCRIBERS.get(tool)
    what, shown = describer(args) if describer is not None else ("", set())
    if not what:
        pairs, more = _pairs(args, {"sandbox", "name"} if tool == "create_sandbox" else {"sandbox"})
        return pairs, "", more
    extra, more = _pairs(args, {"sandbox", *shown})
    return what, extra, frozenset(shown) | more


def _command(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(readable(v)) for v in value)
    return "" if value is None else str(value)


def _exec(args: dict[str, Any]) -> tuple[str, set[str]]:
    return _command(args.get("command")), {"command"}


def _run(args: dict[str, Any]) -> tuple[str, set[str]]:
    parts = [str(args.get("image") or ""), _command(args.get("command"))]
    if args.get("detach"):
        parts.append("(detached)")
    return " ".join(p for p in parts if p), {"image", "command", "detach"}


def _build(args: dict[str, Any]) -> tuple[str, set[str]]:
    tags = args.get("tags") or args.get("tag") or ""
    tags = ", ".join(map(str, tags)) if isinstance(tags, list) else str(tags)
    dockerfile = str(args.get("dockerfile") or "")
    if "\n" in dockerfile:  # the Dockerfile's text: its first line says the most
        dockerfile = "Dockerfile: " + dockerfile.strip().splitlines()[0] + " …"
    where = f"from {args['context']}" if args.get("context") else ""
    return " ".join(p for p in (tags, where, dockerfile) if p), {"tag", "tags", "context", "dockerfile"}


def _agent(args: dict[str, Any]) -> tuple[str, set[str]]:
    who = args.get("agent") or args.get("profile") or "agent"
    return f"{who}: {args.get('prompt') or ''}", {"agent", "profile", "prompt"}


def _file(args: dict[str, Any]) -> tuple[str, set[str]]:
    """The file tools: the path (or pattern); a write's size and digest, which the log keeps for its content."""
    what = str(args.get("path") or args.get("pattern") or "")
    content = args.get("content")
    if isinstance(content, dict) and "bytes" in content:
        what += f" ({content['bytes']} bytes, sha256 {str(content.get('sha256'))[:12]}…)"
    return what, {"path", "pattern", "content"}


def _one(key: str) -> Callable[[dict[str, Any]], tuple[str, set[str]]]:
    return lambda args: (str(args.get(key) or ""), {key})


_DESCRIBERS: dict[str, Callable[[dict[str, Any]], tuple[str, set[str]]]] = {
    "exec": _exec,
    "run_container": _run,
    "build_image": _build,
    "launch_agent": _agent,
    "write_file": _file,
    "read_file": _file,
    "list_files": _file,
    "load_image": _one("image"),
    "container_logs": _one("container"),
    "stop_container": _one("container"),
    "remove_container": _one("container"),
}


def _pairs(args: dict[str, Any], skip: set[str]) -> tuple[str, frozenset[str]]:
    """The other arguments as `key=value` words (mappings by their keys: env values are secret)."""
    words = []
    for key, value in args.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            words.append(f"{key}={','.join(map(str, value))}" if value else f"{key}={{}}")
        elif isinstance(value, list):
            words.append(f"{key}={','.join(map(str, value))}")
        else:
            words.append(f"{key}={value if isinstance(value, str) else json.dumps(value)}")
    return " ".join(words), frozenset(k for k in args if k not in skip and not isinstance(args[k], dict))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def count(number: int, word: str) -> str:
    """'1 call', '3 calls'."""
    return f"{number} {word}" + ("" if number == 1 else "s")


def size(count: int | None) -> str:
    """Bytes for people: 0 B, 870 B, 12.4 KB, 3.1 MB."""
    if count is None:
        return ""
    if count < 1000:
        return f"{count} B"
    if count < 1000 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def duration(seconds: float | None) -> str:
    """A duration for people: 85 ms, 1.7 s, 42 s, 3 m 20 s."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} m {rest} s"


def clock(ts: str, dated: bool = False) -> str:
    """A record's time as a short one-line clock (UTC): '20:25:27', or '11-29 20:25:27' when `dated`."""
    if len(ts) < 19:
        return ts
    return f"{ts[5:10]} {ts[11:19]}" if dated else ts[11:19]


def spans_days(calls: Sequence[Call]) -> bool:
    return len({c.ts[:10] for c in calls}) > 1


def groups(lines: Sequence[Row]) -> list[tuple[str, list[tuple[str | None, list[Row]]]]]:
    """The timeline: rows by session, then by sandbox, each in order of first appearance."""
    found: dict[str, dict[str | None, list[Row]]] = {}
    for line in lines:
        found.setdefault(line.call.session, {}).setdefault(line.call.sandbox, []).append(line)
    return [(session, list(boxes.items())) for session, boxes in found.items()]

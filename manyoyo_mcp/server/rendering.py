"""A tool result is sent once: the data in `structuredContent` only, beside it a short text for
people (what an Inspector or a log shows), never a second copy of the data.

The SDK would put a pretty-printed JSON copy of the structured result in the text block, which
doubles every message (a 2 MiB exec output became 4.2 MB) and is not what agents read (Claude
Code passes the structured part to the model). `structured_only` makes a tool hand the SDK its
structured result alone; the gate masks it and then renders the text from the masked data
(`render`), so the text can never show what the structured part hides.

The text: for output (exec, an attached run_container, container_logs, launch_agent) the exit
code, the duration, and a few lines of the head and tail of each stream with what was cut; for
the other tools one line.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from mcp.types import CallToolResult, InputRequiredResult
from pydantic import BaseModel

P = ParamSpec("P")
R = TypeVar("R")

HEAD_LINES = 5
TAIL_LINES = 5
LINE_CHARS = 200
STREAMS = ("stdout", "stderr", "output", "log_tail")
POINTER = "(The full result is the structured content of this tool result.)"
MOST = 10  # sandboxes named in a list
NESTED_KINDS = ("containers", "images", "volumes", "networks")
FLAGS = (
    ("timed_out", "timed out"),
    ("killed", "killed, its processes verified gone"),
    ("oom_killed", "killed for exceeding its memory limit"),
    ("truncated", "output over the cap: head and tail kept"),
)


def structured_only(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an async tool returning a result model: the SDK gets the model's data as structured
    content with no text copy (it still checks it against the tool's output schema)."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        result = await fn(*args, **kwargs)
        if isinstance(result, BaseModel) and not isinstance(result, CallToolResult | InputRequiredResult):
            data = result.model_dump(mode="json", by_alias=True)
            return CallToolResult(content=[], structured_content=data)  # type: ignore[return-value]
        return result

    return run


def render(tool: str, data: Mapping[str, Any]) -> str:
    """The short text of a result: one line of summary, then excerpts of any output it carries."""
    summary = SUMMARIES.get(tool, _generic)(data)
    streams = [] if data.get("detached") else [name for name in STREAMS if isinstance(data.get(name), str)]
    if not streams:
        return summary
    return "\n".join([summary, *(_excerpt(name, data[name], data.get(f"{name}_bytes")) for name in streams), POINTER])


def _excerpt(name: str, text: str, size: object) -> str:
    """A stream's size, then its first and last lines (each cut at LINE_CHARS), saying what was left
    out. Lines are found in place: a MiB of output is scanned, never split or copied."""
    if not text:
        return f"{name}: empty"
    end = len(text) - 1 if text.endswith("\n") else len(text)
    count = text.count("\n", 0, end) + 1
    omitted = count - HEAD_LINES - TAIL_LINES
    if omitted <= 0:
        shown = _first_lines(text, end, count)
    else:
        gap = f"[... {omitted} lines not shown ...]"
        shown = [*_first_lines(text, end, HEAD_LINES), gap, *_last_lines(text, end, TAIL_LINES)]
    amount = f"{size} bytes" if isinstance(size, int) else f"{len(text)} characters"
    heading = f"{name}: {amount}, {count} line{'' if count == 1 else 's'}"
    return "\n".join([heading, *("  " + line for line in shown)])


def _first_lines(text: str, end: int, n: int) -> list[str]:
    lines: list[str] = []
    start = 0
    while len(lines) < n and start <= end:
        stop = text.find("\n", start, end)
        stop = end if stop < 0 else stop
        lines.append(_line(text, start, stop))
        start = stop + 1
    return lines


def _last_lines(text: str, end: int, n: int) -> list[str]:
    lines: list[str] = []
    stop = end
    while len(lines) < n and stop >= 0:
        start = text.rfind("\n", 0, stop) + 1
        lines.append(_line(text, start, stop))
        stop = start - 1
    return lines[::-1]


def _line(text: str, start: int, stop: int) -> str:
    """text[start:stop] as one shown line: at most LINE_CHARS, saying how much more there was."""
    if stop > start and text[stop - 1] == "\r":
        stop -= 1
    more = stop - start - LINE_CHARS
    shown = text[start : min(stop, start + LINE_CHARS)]
    return shown + (f"[... {more} more characters]" if more > 0 else "")


def _ran(data: Mapping[str, Any], what: str) -> str:
    """`what`, its exit code and duration, and whatever ended or cut it."""
    code = data.get("exit_code")
    status = "no exit code" if code is None else f"exit code {code}"
    duration = f" after {data['duration_s']:g} s" if isinstance(data.get("duration_s"), int | float) else ""
    flags = "; ".join(text for key, text in FLAGS if data.get(key))
    return f"{what}: {status}{duration}" + (f" ({flags})" if flags else "")


def _exec(data: Mapping[str, Any]) -> str:
    return _ran(data, f"command in sandbox {data.get('sandbox')}")


def _launch(data: Mapping[str, Any]) -> str:
    return _ran(data, f"agent {data.get('agent')} in sandbox {data.get('sandbox')}")


def _run(data: Mapping[str, Any]) -> str:
    what = f"container {data.get('name')} ({data.get('image')}) in sandbox {data.get('sandbox')}"
    if not data.get("detached"):
        return _ran(data, what)
    ports = f", ports {', '.join(data['ports'])}" if data.get("ports") else ""
    return f"{what} started detached: {data.get('state')}{ports}"


def _sandbox(data: Mapping[str, Any]) -> str:
    made = "created" if data.get("created") else "already there"
    ready = f", ready in {data['ready_s']:g} s" if isinstance(data.get("ready_s"), int | float) else ""
    engine = f"{data.get('engine')} {data.get('engine_version') or ''}".rstrip()
    return f"sandbox {data.get('name')} ({made}): {data.get('state')}, {data.get('mode')} mode, {engine}{ready}"


def _sandboxes(data: Mapping[str, Any]) -> str:
    found = data.get("sandboxes") or []
    listed = ", ".join(f"{s.get('name')} ({s.get('state')})" for s in found[:MOST])
    more = f", and {len(found) - MOST} more" if len(found) > MOST else ""
    return f"{len(found)} sandbox{'' if len(found) == 1 else 'es'}" + (f": {listed}{more}" if found else "")


def _removed_sandbox(data: Mapping[str, Any]) -> str:
    volumes = data.get("removed_volumes") or []
    return f"sandbox {data.get('name')} removed" + (f", with volumes {', '.join(volumes)}" if volumes else "")


def _nested(data: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{len(data.get(kind) or [])} {kind}" for kind in NESTED_KINDS)
    return f"sandbox {data.get('sandbox')} ({data.get('engine')} inside): {counts}"


def _built(data: Mapping[str, Any]) -> str:
    tags = ", ".join(data.get("tags") or []) or "untagged"
    return (
        f"image {data.get('image_id')} ({tags}) built by {data.get('builder')} in sandbox {data.get('sandbox')}: "
        f"{data.get('steps')} steps "
        f"in {data.get('duration_s')} s, {data.get('size_bytes')} bytes; full log at {data.get('log_path')}"
    )


def _logs(data: Mapping[str, Any]) -> str:
    cut = " (over the cap: head and tail kept)" if data.get("truncated") else ""
    return f"logs of container {data.get('container')} in sandbox {data.get('sandbox')} ({data.get('state')}){cut}"


def _stopped(data: Mapping[str, Any]) -> str:
    code = f", exit code {data['exit_code']}" if data.get("exit_code") is not None else ""
    return f"container {data.get('name')} in sandbox {data.get('sandbox')}: {data.get('state')}{code}"


def _removed_container(data: Mapping[str, Any]) -> str:
    return f"container {data.get('name')} removed from sandbox {data.get('sandbox')}"


def _pruned(data: Mapping[str, Any]) -> str:
    verb = "would remove" if data.get("dry_run") else "removed"
    items = len(data.get("items") or [])
    return f"sandbox {data.get('sandbox')}: {verb} {items} items, {data.get('bytes_reclaimed')} bytes"


def _policy(data: Mapping[str, Any]) -> str:
    described = data.get("policy") or {}
    return f"the active policy: {len(described.get('rules') or [])} rules, {len(described.get('tools') or [])} tools"


def _loaded(data: Mapping[str, Any]) -> str:
    return (
        f"image {data.get('image')} loaded into sandbox {data.get('sandbox')}: {data.get('size_bytes')} bytes "
        f"in {data.get('duration_s')} s"
    )


def _generic(data: Mapping[str, Any]) -> str:
    """A tool without a summary of its own: its scalar fields, cut short."""
    scalars = [f"{key}={value}" for key, value in data.items() if key not in STREAMS and _scalar(value)]
    summary = ", ".join(scalars)
    return _line(summary, 0, len(summary)) or "done"


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "create_sandbox": _sandbox,
    "exec": _exec,
    "launch_agent": _launch,
    "list_sandboxes": _sandboxes,
    "list_nested": _nested,
    "remove_sandbox": _removed_sandbox,
    "build_image": _built,
    "run_container": _run,
    "container_logs": _logs,
    "stop_container": _stopped,
    "remove_container": _removed_container,
    "prune": _pruned,
    "describe_policy": _policy,
    "load_image": _loaded,
}

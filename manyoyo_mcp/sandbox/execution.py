"""Running a command inside a sandbox: bounded output, live progress, and a real kill.

Each command runs with a marker variable, MANYOYO_EXEC_ID, that its descendants inherit. On
timeout or cancellation the server kills, from a second exec, every process carrying the marker
(process groups and sessions do not matter) and checks that none is left.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.output import OutputCapture
from manyoyo_mcp.sandbox.inside import ROOT, Entry, SandboxUser
from manyoyo_mcp.threads import ProgressCallback, in_thread, supervise

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, ExecStream

log = logging.getLogger(__name__)

EXEC_MARKER = "MANYOYO_EXEC_ID"

# $1 = the exec id. Kill every live (non-zombie) process whose environment carries the marker,
# until none is left. Prints "gone" or "alive".
_KILL_SCRIPT = r"""
marker="MANYOYO_EXEC_ID=$1"
for round in $(seq 1 50); do
    found=0
    for dir in /proc/[0-9]*; do
        grep -qszx "$marker" "$dir/environ" || continue
        state=$(awk '/^State:/ {print $2}' "$dir/status" 2>/dev/null)
        [ "$state" = Z ] && continue
        kill -KILL "${dir#/proc/}" 2>/dev/null
        found=1
    done
    [ "$found" = 0 ] && { echo gone; exit 0; }
    sleep 0.05
done
echo alive
"""


@dataclass(frozen=True, slots=True)
class ExecRequest:
    command: str | list[str]
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 600
    user: SandboxUser | None = None
    """None: the sandbox's default user (the workspace owner's)."""


@dataclass(frozen=True, slots=True)
class ExecOutcome:
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    truncated: bool
    duration_s: float
    timed_out: bool
    killed: bool


def command_argv(command: str | list[str]) -> list[str]:
    """A string runs with `sh -c`; a list is an argv run as it is."""
    if isinstance(command, str):
        if not command.strip():
            raise InvalidArgument("command is empty: give a shell string or a non-empty argv list")
        argv = ["sh", "-c", command]
    else:
        if not command or not command[0]:
            raise InvalidArgument("command is empty: give a shell string or a non-empty argv list")
        argv = list(command)
    if any("\x00" in part for part in argv):
        raise InvalidArgument("command contains a NUL byte")
    return argv


async def run_exec(
    engine: Engine,
    container_id: str,
    entry: Entry,
    request: ExecRequest,
    output_cap: int,
    on_progress: ProgressCallback | None = None,
) -> ExecOutcome:
    """Run `request` in the sandbox `container_id` (in its sandbox proper, the way `entry` says);
    kill it at the timeout or when the caller is cancelled.

    `output_cap` bounds each stream (bytes; beyond it head and tail are kept); `on_progress`
    receives (bytes so far, recent output) while it runs; `request.timeout_s` is in seconds.
    Returns the exit code (None if killed before one was known), both streams and their byte
    counts, `truncated`, the duration in seconds, `timed_out` and `killed` (its processes were
    verified gone). Raises InvalidArgument (an empty command, a NUL byte, a bad env name).
    """
    argv = command_argv(request.command)
    exec_id = secrets.token_hex(8)
    env = {**validate_env(dict(request.env)), EXEC_MARKER: exec_id}

    command = entry.command(argv, user=request.user, workdir=request.workdir, env=env)
    capture = OutputCapture(output_cap)
    started = time.monotonic()
    stream: ExecStream = await in_thread(
        engine.exec_start, container_id, command.argv, command.workdir, command.env, command.user
    )
    killed = False

    async def kill() -> None:
        nonlocal killed
        killed = await kill_exec(engine, container_id, exec_id)

    async def report() -> None:
        if on_progress is not None and (recent := capture.take_recent()):
            await on_progress(capture.total, recent)

    try:
        timed_out = await supervise(
            partial(_drain, stream, capture),
            timeout_s=request.timeout_s,
            stop=kill,
            report=report if on_progress is not None else None,
            close_after_stop=stream.close,
        )
    except anyio.get_cancelled_exc_class():
        log.warning("exec in %s cancelled by the client; process killed: %s", container_id[:12], killed)
        raise
    finally:
        stream.close()

    exit_code = await in_thread(engine.exec_exit_code, stream.exec_id)
    return ExecOutcome(
        exit_code=exit_code,
        stdout=capture.stdout.text(),
        stderr=capture.stderr.text(),
        stdout_bytes=capture.stdout.total,
        stderr_bytes=capture.stderr.total,
        truncated=capture.truncated,
        duration_s=round(time.monotonic() - started, 3),
        timed_out=timed_out,
        killed=killed,
    )


async def kill_exec(engine: Engine, container_id: str, exec_id: str) -> bool:
    """Kill every process of the exec `exec_id` in the container; True once verified gone."""
    code, out, err = await in_thread(engine.exec_run, container_id, ["sh", "-c", _KILL_SCRIPT, "kill", exec_id])
    if out.strip() != "gone":
        log.error("could not verify the exec's processes gone in %s: %s %s", container_id[:12], out, err)
    return code == 0 and out.strip() == "gone"


def _drain(stream: ExecStream, capture: OutputCapture) -> None:
    """Reader thread: copy the exec's output into the bounded capture until the stream ends."""
    # A stream closed under us (after a kill) ends the same way as one that finished.
    with contextlib.suppress(Exception):
        for kind, data in stream.chunks():
            capture.write(kind, data)


async def run_inside(
    engine: Engine, container_id: str, entry: Entry, argv: list[str], stdin: bytes | None = None
) -> tuple[int, str, str]:
    """A short command of the server's own, to completion, as the sandbox's root (in its proper);
    fed `stdin` if given. (exit code, stdout, stderr)."""
    command = entry.command(argv, user=ROOT, env={})
    return await in_thread(engine.exec_run, container_id, command.argv, None, stdin)

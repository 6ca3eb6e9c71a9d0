"""Running a command inside a sandbox: bounded output, live progress, and a real kill.

Each command runs with a marker variable, MANYOYO_EXEC_ID, that its descendants inherit. On
timeout or cancellation the server kills, from a second exec, every process carrying the marker
(process groups and sessions do not matter) and checks that none is left.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shlex
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.errors import FirstCommandFailed, InvalidArgument, ManyoyoError
from manyoyo_mcp.output import OutputCapture, fit
from manyoyo_mcp.sandbox.inside import ROOT, Entry, SandboxUser
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import ProgressCallback, in_thread, supervise

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, ExecStream
    from manyoyo_mcp.sandbox.service import SandboxService

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
    tty: bool = False
    """Run under a pseudo-terminal (its output: stdout, stderr merged into it)."""


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
    job_id: str | None = None
    """The sandboxd job it ran as (None: through crun exec)."""
    state: str = "exited"
    signal: str | None = None
    oom_killed: bool = False
    left_running: tuple[dict[str, object], ...] = ()
    left_running_count: int = 0
    left_running_killed: bool = False
    output_files: dict[str, str] | None = None
    notes: tuple[str, ...] = ()


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
    budget: int | None = None,
) -> ExecOutcome:
    """Run `request` in the sandbox `container_id` (in its sandbox proper, the way `entry` says);
    kill it at the timeout or when the caller is cancelled.

    `output_cap` bounds each stream (bytes; beyond it head and tail are kept), `budget` (if given)
    both together in the result (output.fit); `on_progress` receives (bytes so far, recent
    output) while it runs; `request.timeout_s` is in seconds; `request.tty` runs it under `script`.
    Returns the exit code (None if killed before one was known), both streams and their byte
    counts, `truncated`, the duration in seconds, `timed_out` and `killed` (its processes were
    verified gone). Raises InvalidArgument (an empty command, a NUL byte, a bad env name).
    """
    argv = command_argv(request.command)
    if request.tty:  # a pseudo-terminal without sandboxd: util-linux's script(1) makes one
        argv = ["script", "-q", "-e", "-c", shlex.join(argv), "/dev/null"]
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
    if budget is None:
        texts, truncated = {"stdout": capture.stdout.text(), "stderr": capture.stderr.text()}, capture.truncated
    else:
        texts, truncated = fit({"stdout": capture.stdout.ends(), "stderr": capture.stderr.ends()}, budget)
    return ExecOutcome(
        exit_code=exit_code,
        stdout=texts["stdout"],
        stderr=texts["stderr"],
        stdout_bytes=capture.stdout.total,
        stderr_bytes=capture.stderr.total,
        truncated=truncated,
        duration_s=round(time.monotonic() - started, 3),
        timed_out=timed_out,
        killed=killed,
    )


async def kill_exec(engine: Engine, container_id: str, exec_id: str) -> bool:
    """Kill every process of the exec `exec_id` in the container; True once verified gone."""
    try:
        code, out, err = await in_thread(engine.exec_run, container_id, ["sh", "-c", _KILL_SCRIPT, "kill", exec_id])
    except ManyoyoError as exc:  # the sandbox was paused, stopped or removed meanwhile
        log.error("could not kill the exec's processes in %s: %s", container_id[:12], exc)
        return False
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


async def run_first_command(service: SandboxService, container_id: str, first: str) -> None:
    """A run profile's `first` command, once, in the new sandbox `container_id` (its caller removes
    the sandbox when this raises). Raises FirstCommandFailed with the output's tail."""
    created = Sandbox.of(await in_thread(service.engine.inspect_container, container_id))
    outcome = await run_exec(
        service.engine,
        container_id,
        await service.entry(created),
        ExecRequest(command=first, timeout_s=service.settings.exec_timeout_s),
        service.settings.output_cap_bytes,
    )
    if outcome.exit_code != 0:
        tail = (outcome.stderr or outcome.stdout).strip()[-2000:]
        why = "timed out" if outcome.timed_out else f"exited with {outcome.exit_code}"
        raise FirstCommandFailed(
            f"the profile's first command {why}; the sandbox was removed. Its output ends:\n{tail}"
        )

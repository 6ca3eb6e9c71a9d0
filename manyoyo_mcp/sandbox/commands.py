"""exec through sandboxd: a quick command in one round trip, a long one followed with progress
read from its output files, a background one left running as a job; and the fallback to `crun
exec` (sandbox/execution.py) when the daemon does not answer.

A quick command: one request starts it and waits up to FIRST_WAIT_S for its end, answering with
both streams' first and last bytes. A longer one: polls return the output since the last one
(progress) until it ends. The daemon enforces the deadline itself (so it holds when the server is
gone); the server kills the job past the deadline + DEADLINE_GRACE_S, on cancellation, and, when
the daemon is lost for good mid-run, through the marker every process of the job carries.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.errors import ChannelError, ManyoyoError
from manyoyo_mcp.output import StreamEnds, fit
from manyoyo_mcp.sandbox.execution import EXEC_MARKER, ExecOutcome, ExecRequest, command_argv, kill_exec, run_exec
from manyoyo_mcp.sandbox.inside import Entry
from manyoyo_mcp.sandbox.sandboxd import STREAMS, Daemons, Ends, JobView, Sandboxd, new_job_id, output_path
from manyoyo_mcp.threads import REPORT_INTERVAL_S, ProgressCallback

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

log = logging.getLogger(__name__)
FIRST_WAIT_S = REPORT_INTERVAL_S
PROGRESS_BYTES = 8 * 1024
DEADLINE_GRACE_S = 10.0
LOST_FOR_S = 6.0
"""How long a daemon may stay silent mid-run (it is restarted meanwhile) before the job is killed."""
FALLBACK_NOTE = (
    "sandboxd, the sandbox's command service, did not answer ({reason}): the command ran through crun exec "
    "instead, so its output was not kept in the sandbox; sandboxd was {restarted}"
)


class Commands:
    """Commands in one server's sandboxes: through each sandbox's daemon, else through crun exec."""

    def __init__(self, engine: Engine, daemons: Daemons, budget: int, capture_cap: int) -> None:
        self.engine = engine
        self.daemons = daemons
        self.budget = budget
        self.capture_cap = capture_cap

    def job(self, entry: Entry, request: ExecRequest, tag: str) -> dict[str, object]:
        """The daemon's job for `request` (its id is also its processes' marker)."""
        job_id = new_job_id()
        env = {**validate_env(dict(request.env)), EXEC_MARKER: job_id}
        body = entry.job(command_argv(request.command), user=request.user, workdir=request.workdir, env=env)
        return {**body, "id": job_id, "timeout_s": request.timeout_s, "tty": request.tty, "tag": tag}

    async def run(
        self, sandbox_id: str, sandbox: str, entry: Entry, request: ExecRequest, on_progress: ProgressCallback | None
    ) -> ExecOutcome:
        """Run `request` to its end (see the module's docstring); raises InvalidArgument."""
        if entry.state is None or sandbox_id in self.daemons.absent:
            return await run_exec(self.engine, sandbox_id, entry, request, self.capture_cap, on_progress, self.budget)
        job = self.job(entry, request, "exec")
        daemon = self.daemons.of(sandbox_id, sandbox)
        started = time.monotonic()
        half = self.budget // 2
        try:
            view, ends = await daemon.start(job, FIRST_WAIT_S, half, half)
        except ChannelError as exc:
            return await self._fallback(sandbox_id, entry, request, str(job["id"]), exc, on_progress)
        try:
            if view.state == "running":
                await self._follow(daemon, sandbox_id, entry, view, request.timeout_s, on_progress)
                view, ends = await daemon.get(view.id, 0, half, half)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.kill(daemon, sandbox_id, view.id)
            raise
        return self.outcome(view, ends, time.monotonic() - started)

    async def start(self, sandbox_id: str, sandbox: str, entry: Entry, request: ExecRequest) -> ExecOutcome:
        """Start `request` as a background job: answered at once, with its id and output files."""
        if entry.state is None or sandbox_id in self.daemons.absent:
            raise ManyoyoError(
                "background jobs need sandboxd, which a sock-mode sandbox, or one made from an older image, does "
                "not have: run the command in the foreground, or create a dind sandbox from the current image"
            )
        job = self.job(entry, request, "background")
        try:
            view, _ = await self.daemons.of(sandbox_id, sandbox).start(job, 0, 0, 0)
        except ChannelError as exc:  # once more, after a restart; a job that started meanwhile is returned
            log.warning("sandboxd of %s did not answer (%s); restarting it", sandbox, exc)
            await self.daemons.restart(sandbox_id, entry)
            await anyio.sleep(0.5)
            view, _ = await self.daemons.of(sandbox_id, sandbox).start(job, 0, 0, 0)
        return self.outcome(view, None, 0.0)

    async def _follow(
        self,
        daemon: Sandboxd,
        sandbox_id: str,
        entry: Entry,
        view: JobView,
        timeout_s: float,
        on_progress: ProgressCallback | None,
    ) -> None:
        """Until the job ends: its new output as progress; its deadline enforced if the daemon does not."""
        offsets = {name: 0 for name in STREAMS}
        reported = 0
        overdue = time.monotonic() + timeout_s + DEADLINE_GRACE_S
        silent_since: float | None = None
        while view.state == "running":
            try:
                limit = PROGRESS_BYTES if on_progress is not None else 0
                view, chunks = await daemon.poll(view.id, offsets, limit, REPORT_INTERVAL_S, latest=True)
            except ChannelError as exc:
                silent_since = silent_since or time.monotonic()
                daemon = await self._reach_again(daemon, sandbox_id, entry, view.id, silent_since, exc)
                continue
            silent_since = None
            text = "".join(chunk.text[:PROGRESS_BYTES] for chunk in chunks.values())
            offsets = {name: chunk.next for name, chunk in chunks.items()}
            reported = max(reported, sum(chunk.size for chunk in chunks.values()))
            if on_progress is not None and text:
                await on_progress(reported, text)
            if view.state == "running" and time.monotonic() > overdue:
                await self.kill(daemon, sandbox_id, view.id)

    async def _reach_again(
        self, daemon: Sandboxd, sandbox_id: str, entry: Entry, job_id: str, since: float, error: Exception
    ) -> Sandboxd:
        """A daemon lost mid-run: its supervisor brings it back, else the server restarts it; lost
        for longer than LOST_FOR_S, the job is killed through its marker and ends the call."""
        silent = time.monotonic() - since
        if silent > LOST_FOR_S:
            await kill_exec(self.engine, sandbox_id, job_id)
            raise ChannelError(
                f"lost sandboxd for {silent:.0f}s while the command ran ({error}); the command was killed"
            )
        if silent > LOST_FOR_S / 2:
            await self.daemons.restart(sandbox_id, entry)
        await anyio.sleep(0.5)
        return self.daemons.of(sandbox_id, daemon.sandbox)

    async def kill(self, daemon: Sandboxd, sandbox_id: str, job_id: str) -> bool:
        """Kill a job's whole tree, by the daemon or else through its marker; True if verified gone."""
        try:
            _, killed = await daemon.kill(job_id)
            if killed:
                return True
        except (ChannelError, ManyoyoError) as exc:
            log.warning("sandboxd could not kill job %s (%s); killing it through its marker", job_id, exc)
        return await kill_exec(self.engine, sandbox_id, job_id)

    async def _fallback(
        self,
        sandbox_id: str,
        entry: Entry,
        request: ExecRequest,
        job_id: str,
        error: ChannelError,
        on_progress: ProgressCallback | None,
    ) -> ExecOutcome:
        """The daemon did not answer the start: whatever it may have started is killed, it is
        restarted, and the command runs through crun exec."""
        log.warning("sandboxd did not answer in %s (%s): crun exec instead", sandbox_id[:12], error)
        await kill_exec(self.engine, sandbox_id, job_id)
        restarted: list[bool] = []

        async def restart() -> None:
            restarted.append(await self.daemons.restart(sandbox_id, entry))

        async with anyio.create_task_group() as tasks:  # the daemon comes back while the command runs
            tasks.start_soon(restart)
            outcome = await run_exec(
                self.engine, sandbox_id, entry, request, self.capture_cap, on_progress, self.budget
            )
        if restarted == [True]:
            status = "restarted"
        elif sandbox_id in self.daemons.absent:
            status = "not restarted (this sandbox's image has none)"
        else:
            status = "started again but does not answer yet"
        note = FALLBACK_NOTE.format(reason=str(error)[:200], restarted=status)
        return replace(outcome, notes=(*outcome.notes, note))

    def outcome(self, view: JobView, ends: dict[str, Ends] | None, duration_s: float) -> ExecOutcome:
        """What exec answers for a job (its output within the budget, when `ends` are given)."""
        paths = {name: output_path(view.id, name) for name in STREAMS}
        texts, truncated = {"stdout": "", "stderr": ""}, False
        if ends is not None:
            streams = {
                name: StreamEnds(e.size, e.head, e.head_end, e.tail, e.tail_start, paths[name])
                for name, e in ends.items()
            }
            texts, truncated = fit(streams, self.budget)
        return ExecOutcome(
            exit_code=view.exit_code if view.signal is None else 128 + view.signal,
            stdout=texts["stdout"],
            stderr=texts["stderr"],
            stdout_bytes=view.stdout.size,
            stderr_bytes=view.stderr.size,
            truncated=truncated,
            duration_s=round(duration_s, 3),
            timed_out=view.timed_out,
            killed=view.killed,
            job_id=view.id,
            state=view.state,
            signal=signal_name(view.signal),
            oom_killed=view.oom_killed,
            left_running=tuple(left.model_dump() for left in view.left),
            left_running_count=view.left_count,
            left_running_killed=view.left_killed,
            output_files=paths,
            notes=notes_of(view),
        )


def signal_name(number: int | None) -> str | None:
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def notes_of(view: JobView) -> tuple[str, ...]:
    """What the agent should know about how the job ended, beyond the flags."""
    notes = []
    if view.lost:
        notes.append("its exit status is unknown: sandboxd was restarted while it ran")
    if view.oom_kills and not view.oom_killed:
        notes.append(f"the kernel's OOM killer killed {view.oom_kills} of its processes (the sandbox's memory limit)")
    if view.cancelled and view.state == "exited" and not view.timed_out:
        notes.append("stopped by a cancel (stop_job or a cancelled call)")
    for name in STREAMS:
        cut = getattr(view, name).cut
        if cut:
            notes.append(f"{name} passed the per-job cap: bytes {cut[0]}..{cut[1]} were dropped from its file")
    return tuple(notes)

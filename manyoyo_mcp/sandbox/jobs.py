"""The job tools' work: output since a cursor, stop, list, page and search (sandbox/sandboxd.py
talks to the daemon; commands.py starts jobs)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from manyoyo_mcp.errors import ChannelError, InvalidArgument, ManyoyoError
from manyoyo_mcp.models import (
    JobOutputResult,
    JobSummary,
    LeftProcess,
    ListJobsResult,
    OutputMatch,
    ReadOutputResult,
    StopJobResult,
)
from manyoyo_mcp.sandbox.commands import Commands, notes_of, signal_name
from manyoyo_mcp.sandbox.inside import Entry
from manyoyo_mcp.sandbox.sandboxd import STREAMS, JobView, Sandboxd, output_path

T = TypeVar("T")
CURSOR = re.compile(r"(\d{1,18}):(\d{1,18})")
LISTED = 50


def summary(view: JobView) -> dict[str, object]:
    """A job's JobSummary fields."""
    end = view.ended_at or time.time()
    return {
        "job_id": view.id,
        "command": view.command,
        "kind": view.tag or "exec",
        "state": view.state,
        "started_at": datetime.fromtimestamp(view.started_at, UTC).isoformat(timespec="seconds"),
        "duration_s": round(max(0.0, end - view.started_at), 3),
        "exit_code": view.exit_code if view.signal is None else 128 + view.signal,
        "signal": signal_name(view.signal),
        "timed_out": view.timed_out,
        "cancelled": view.cancelled,
        "oom_killed": view.oom_killed,
        "left_running_count": view.left_count,
        "stdout_bytes": view.stdout.size,
        "stderr_bytes": view.stderr.size,
    }


def parse_cursor(cursor: str | None) -> dict[str, int]:
    if not cursor:
        return {name: 0 for name in STREAMS}
    found = CURSOR.fullmatch(cursor.strip())
    if found is None:
        raise InvalidArgument(f"cursor {cursor!r} is not one job_output returned (next_cursor); leave it out to start")
    return dict(zip(STREAMS, map(int, found.groups()), strict=True))


class JobTools:
    """The job tools of one server, for one sandbox at a time."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    async def _ask(self, sandbox_id: str, sandbox: str, entry: Entry, call: Callable[[Sandboxd], Awaitable[T]]) -> T:
        """A request to the sandbox's daemon; once more after restarting it if it did not answer."""
        if entry.state is None or sandbox_id in self.commands.daemons.absent:
            raise ManyoyoError(
                f"sandbox {sandbox!r} has no jobs: jobs need sandboxd, which sock-mode sandboxes and ones made from "
                "an older image do not have"
            )
        daemons = self.commands.daemons
        try:
            return await call(daemons.of(sandbox_id, sandbox))
        except ChannelError:
            await daemons.restart(sandbox_id, entry)
            return await call(daemons.of(sandbox_id, sandbox))

    async def output(
        self, sandbox_id: str, sandbox: str, entry: Entry, job_id: str, cursor: str | None, wait_s: float
    ) -> JobOutputResult:
        """Output since `cursor`, waiting up to `wait_s` for some (or for the end)."""
        offsets = parse_cursor(cursor)
        half = self.commands.budget // 2
        view, chunks = await self._ask(
            sandbox_id, sandbox, entry, lambda d: d.poll(job_id, offsets, half, wait_s, until="output")
        )
        return JobOutputResult(
            **summary(view),
            sandbox=sandbox,
            stdout=chunks["stdout"].text[:half],  # never more than asked for, whatever the daemon says
            stderr=chunks["stderr"].text[:half],
            next_cursor=f"{chunks['stdout'].next}:{chunks['stderr'].next}",
            remaining_bytes=sum(max(0, c.size - c.next) for c in chunks.values()),
            skipped_bytes=sum(c.skipped for c in chunks.values()),
            killed=view.killed,
            left_running=[LeftProcess(**left.model_dump()) for left in view.left],
            output_files={name: output_path(view.id, name) for name in STREAMS},
            notes=list(notes_of(view)),
        )

    async def stop(self, sandbox_id: str, sandbox: str, entry: Entry, job_id: str) -> StopJobResult:
        """Kill the job's whole tree (verified); a job that already ended is left as it is."""
        daemon = await self._ask(sandbox_id, sandbox, entry, _healthy)
        view, _ = await daemon.get(job_id)
        killed = view.state == "exited" and not view.left_count
        if view.state == "running" or view.left_count:
            killed = await self.commands.kill(daemon, sandbox_id, job_id)
            view, _ = await daemon.get(job_id)
        return StopJobResult(**summary(view), sandbox=sandbox, killed=killed)

    async def list(self, sandbox_id: str, sandbox: str, entry: Entry, running_only: bool) -> ListJobsResult:
        views, total = await self._ask(sandbox_id, sandbox, entry, lambda d: d.jobs(running_only, LISTED))
        return ListJobsResult(sandbox=sandbox, jobs=[JobSummary(**summary(v)) for v in views], total=total)

    async def read(
        self,
        sandbox_id: str,
        sandbox: str,
        entry: Entry,
        job_id: str,
        stream: str,
        offset: int,
        limit: int | None,
        search: tuple[str, bool, bool, int] | None,
    ) -> ReadOutputResult:
        """A page of a job's output file from `offset`, or (`search`: pattern, fixed, ignore case,
        max matches) its matching lines."""
        limit = min(limit or self.commands.budget, self.commands.budget)
        if search is None:
            view, chunk = await self._ask(sandbox_id, sandbox, entry, lambda d: d.read(job_id, stream, offset, limit))
            page = {
                "offset": chunk.offset,
                "next_offset": chunk.next,
                "text": chunk.text[:limit],  # never more than asked for, whatever the daemon says
                "skipped_bytes": chunk.skipped,
            }
            size, matches, more = chunk.size, None, False
        else:
            pattern, fixed, ignore_case, most = search
            view, found, more, size = await self._ask(
                sandbox_id,
                sandbox,
                entry,
                lambda d: d.search(job_id, stream, pattern, fixed=fixed, ignore_case=ignore_case, limit=most),
            )
            matches = [OutputMatch(**match.model_dump()) for match in found]
            page = {"offset": offset, "next_offset": offset, "text": "", "skipped_bytes": 0}
        return ReadOutputResult(
            sandbox=sandbox,
            job_id=job_id,
            stream=stream,  # type: ignore[arg-type]
            path=output_path(job_id, stream),
            size=size,
            state=view.state,
            matches=matches,
            more_matches=more,
            **page,  # type: ignore[arg-type]
        )


async def _healthy(daemon: Sandboxd) -> Sandboxd:
    await daemon.health()
    return daemon

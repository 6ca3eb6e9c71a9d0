"""The job tools: a background job's output since a cursor, stopping one, a sandbox's jobs
(sandbox/jobs.py does the work)."""

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from manyoyo_mcp.models import JobOutputResult, ListJobsResult, StopJobResult
from manyoyo_mcp.server.params import RecentSandbox, SandboxRef

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

JobId = Annotated[str, Field(description="The job's id, as exec or list_jobs returned it.", max_length=64)]
Cursor = Annotated[
    str | None,
    Field(description="next_cursor from the previous job_output call; leave it out to start from the beginning."),
]
WaitS = Annotated[
    float,
    Field(
        ge=0,
        le=55,
        description="If nothing new was written yet, wait up to this many seconds for output or for the job's end "
        "(default 10; keep it below your client's request timeout).",
    ),
]
RunningOnly = Annotated[bool, Field(description="List only jobs still running.")]


def add_job_output(app: "App") -> None:
    @app.tool(title="Read a job's new output", read_only=True, destructive=False, idempotent=False)
    async def job_output(
        sandbox: SandboxRef, job_id: JobId, target: RecentSandbox, cursor: Cursor = None, wait_s: WaitS = 10
    ) -> JobOutputResult:
        """A job's output written since `cursor`, and its state (running, or how it ended).

        Waits up to wait_s for something new, so calling it in a loop follows a background job to its end.
        Each call returns a bounded amount; remaining_bytes says how much more is already there.
        """
        async with app.sandboxes.checked(target, sandbox):
            entry = await app.sandboxes.entry(target)
            return await app.sandboxes.jobs.output(target.id, target.name, entry, job_id, cursor, wait_s)


def add_stop_job(app: "App") -> None:
    @app.tool(title="Stop a job", read_only=False, destructive=True, idempotent=True)
    async def stop_job(sandbox: SandboxRef, job_id: JobId, target: RecentSandbox) -> StopJobResult:
        """Kill a job and every process it started (or left running); `killed` says none is left."""
        async with app.sandboxes.checked(target, sandbox):
            entry = await app.sandboxes.entry(target)
            return await app.sandboxes.jobs.stop(target.id, target.name, entry, job_id)


def add_list_jobs(app: "App") -> None:
    @app.tool(title="List a sandbox's jobs", read_only=True, destructive=False, idempotent=True)
    async def list_jobs(
        sandbox: SandboxRef, target: RecentSandbox, running_only: RunningOnly = False
    ) -> ListJobsResult:
        """The commands a sandbox ran or runs (exec and background jobs), newest first, with how each ended.

        Jobs outlive the session that started them: after a restart of the server, find them here.
        """
        async with app.sandboxes.checked(target, sandbox):
            entry = await app.sandboxes.entry(target)
            return await app.sandboxes.jobs.list(target.id, target.name, entry, running_only)

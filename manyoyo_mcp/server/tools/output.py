"""The read_output tool: a job's whole output, a page at a time or searched (sandbox/jobs.py)."""

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from manyoyo_mcp.models import ReadOutputResult
from manyoyo_mcp.server.params import RecentSandbox, SandboxRef
from manyoyo_mcp.server.tools.jobs import JobId

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

Stream = Annotated[Literal["stdout", "stderr"], Field(description="Which output file.")]
Offset = Annotated[int, Field(ge=0, description="Byte offset to read from (next_offset of the previous page).")]
Pattern = Annotated[
    str | None,
    Field(
        max_length=1000,
        description="Search instead of reading: the lines matching this extended regular expression (grep -E).",
    ),
]
Fixed = Annotated[bool, Field(description="Match `pattern` as plain text, not a regular expression.")]
IgnoreCase = Annotated[bool, Field(description="Match `pattern` ignoring case.")]
MaxMatches = Annotated[int, Field(ge=1, le=500, description="At most this many matching lines.")]


def add_read_output(app: "App") -> None:
    budget = app.settings.output_budget_bytes
    Limit = Annotated[int | None, Field(ge=1, description=f"Bytes to read (default and at most {budget}).")]

    @app.tool(title="Page through or search a job's output", read_only=True, destructive=False, idempotent=True)
    async def read_output(
        sandbox: SandboxRef,
        job_id: JobId,
        target: RecentSandbox,
        stream: Stream = "stdout",
        offset: Offset = 0,
        limit: Limit = None,
        pattern: Pattern = None,
        fixed: Fixed = False,
        ignore_case: IgnoreCase = False,
        max_matches: MaxMatches = 50,
    ) -> ReadOutputResult:
        """Read a job's whole output, kept in the sandbox: a page from `offset`, or the lines matching `pattern`.

        Use it when an exec result was truncated: page with offset/next_offset, or search for an error and
        read from the byte offset of a matching line.
        """
        search = (pattern, fixed, ignore_case, max_matches) if pattern else None
        async with app.sandboxes.checked(target, sandbox):
            entry = await app.sandboxes.entry(target)
            return await app.sandboxes.jobs.read(target.id, target.name, entry, job_id, stream, offset, limit, search)

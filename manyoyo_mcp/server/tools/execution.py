"""The exec tool: a command run inside a sandbox (sandbox/execution.py does the work)."""

import dataclasses
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.models import ExecResult
from manyoyo_mcp.sandbox.execution import ExecRequest, run_exec
from manyoyo_mcp.sandbox.users import resolve_user
from manyoyo_mcp.server.params import RunningSandbox, SandboxRef, User, timeout

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

Command = Annotated[
    str | list[str],
    Field(description="A shell string (run with `sh -c`) or an argv list run as it is."),
]
Workdir = Annotated[str | None, Field(description="Working directory inside the sandbox. Default /workspace.")]
Env = Annotated[dict[str, str] | None, Field(description="Extra environment variables for this command.")]


def add_exec(app: "App") -> None:
    Timeout = timeout(app.settings, "Kill the command after this many seconds.")

    @app.tool(
        name="exec",
        title="Run a command in a sandbox",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,  # commands may reach the network
    )
    async def exec_(
        sandbox: SandboxRef,
        command: Command,
        ctx: Context,
        target: RunningSandbox,
        workdir: Workdir = None,
        env: Env = None,
        timeout_s: Timeout = None,
        user: User = None,
    ) -> ExecResult:
        """Run a command inside a sandbox and return its exit code, stdout and stderr.

        Output streams as progress notifications while the command runs. Each stream keeps at most
        the operator's cap (default 1 MiB): beyond it the head and tail are kept with a marker and
        `truncated` is true. On timeout the command and all its child processes are killed.
        """
        entry = await app.sandboxes.entry(target)
        who = await resolve_user(app.engine, target.id, entry, user) if user else None
        request = ExecRequest(
            command=command, workdir=workdir, env=env or {}, timeout_s=app.timeout(timeout_s), user=who
        )
        outcome = await run_exec(
            app.engine, target.id, entry, request, app.settings.output_cap_bytes, on_progress=app.progress(ctx)
        )
        return ExecResult(sandbox=target.name, **dataclasses.asdict(outcome))

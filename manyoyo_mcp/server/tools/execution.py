"""The exec tool: a command run inside a sandbox, in the foreground or as a background job
(sandbox/commands.py does the work)."""

import dataclasses
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.models import ExecResult
from manyoyo_mcp.sandbox.execution import ExecRequest
from manyoyo_mcp.sandbox.users import resolve_user
from manyoyo_mcp.server.params import RecentSandbox, SandboxRef, User, timeout

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

Command = Annotated[
    str | list[str],
    Field(description="A shell string (run with `sh -c`) or an argv list run as it is."),
]
Workdir = Annotated[str | None, Field(description="Working directory inside the sandbox. Default /workspace.")]
Env = Annotated[dict[str, str] | None, Field(description="Extra environment variables for this command.")]
Background = Annotated[
    bool,
    Field(
        description="Return at once with a job_id instead of waiting: for long work (builds, test suites, servers). "
        "Follow it with job_output, stop it with stop_job; it keeps running if this session ends."
    ),
]
Tty = Annotated[
    bool,
    Field(
        description="Run it under a pseudo-terminal (for `docker run -t`, progress bars); stderr is merged into stdout."
    ),
]


def add_exec(app: "App") -> None:
    Timeout = timeout(app.settings, "Kill the command (and everything it started) after this many seconds.")
    budget = app.settings.output_budget_bytes

    async def exec_(
        sandbox: SandboxRef,
        command: Command,
        ctx: Context,
        target: RecentSandbox,
        workdir: Workdir = None,
        env: Env = None,
        timeout_s: Timeout = None,
        background: Background = False,
        tty: Tty = False,
        user: User = None,
    ) -> ExecResult:
        commands = app.sandboxes.commands
        async with app.sandboxes.checked(target, sandbox):
            entry = await app.sandboxes.entry(target)
            who = await resolve_user(app.engine, target.id, entry, user) if user else None
            request = ExecRequest(
                command=command, workdir=workdir, env=env or {}, timeout_s=app.timeout(timeout_s), tty=tty, user=who
            )
            if background:
                outcome = await commands.start(target.id, target.name, entry, request)
            else:
                outcome = await commands.run(target.id, target.name, entry, request, app.progress(ctx))
        return ExecResult(sandbox=target.name, **dataclasses.asdict(outcome))

    exec_.__doc__ = f"""Run a command inside a sandbox and return its exit code, stdout and stderr.

        Output streams as progress notifications while it runs. The result holds at most {budget} bytes of
        output (stdout and stderr together): past that each keeps its head and tail with a marker, and
        `output_files` name the files inside the sandbox that hold all of it (read_output pages and searches
        them). On timeout, or when the call is cancelled, the command and every process it started are killed.
        The result says why it ended: exit code or signal, timed_out, oom_killed, and processes it left running.
        With background=true it returns at once with a job_id (see job_output, stop_job, list_jobs): use it for
        work that may outlast your client's request timeout (builds, test suites, servers).
        """
    app.tool(
        name="exec",
        title="Run a command in a sandbox",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,  # commands may reach the network
    )(exec_)

"""The MCP server: thin tool adapters over the sandbox and exec services.

Each tool validates its arguments (pydantic, from the signature), calls a plain service
function, and returns a pydantic model (structured output). Errors the agent can act on become
tool errors with the service's message; anything else is a crash the SDK hides.
"""

import contextlib
import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from manyoyo_mcp import __version__, nested
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import InvalidArgument, ManyoyoError
from manyoyo_mcp.execution import ExecRequest, run_exec
from manyoyo_mcp.models import (
    CreateSandboxResult,
    ExecResult,
    ListNestedResult,
    ListSandboxesResult,
    RemoveSandboxResult,
)
from manyoyo_mcp.ownership import SANDBOX
from manyoyo_mcp.sandboxes import CreateRequest, SandboxService
from manyoyo_mcp.settings import ServerSettings

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
manyoyo-mcp gives you sandboxes: containers with their own container engine inside
(Docker-in-Docker). Inside a sandbox you may run commands, build images and run containers
without touching the host. Start with create_sandbox (reuse a name to get the same sandbox
back), then exec commands in it; the host directory given as `workspace` is at /workspace.
Remove sandboxes you no longer need with remove_sandbox."""

ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])

SandboxRef = Annotated[
    str,
    Field(description="The sandbox's exact name (as returned by create_sandbox / list_sandboxes) or its full id."),
]


@contextlib.contextmanager
def agent_errors() -> Iterator[None]:
    """Turn the project's errors into tool errors the agent reads; log them for the operator."""
    try:
        yield
    except ManyoyoError as exc:
        log.info("tool error: %s", exc)
        raise ToolError(str(exc)) from exc


def agent_tool(
    server: MCPServer,
    *,
    title: str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool = False,
    name: str | None = None,
) -> Callable[[ToolFn], ToolFn]:
    """Register a tool with its annotations; its docstring (dedented) is the agent's description."""

    def register(fn: ToolFn) -> ToolFn:
        server.add_tool(
            fn,
            name=name,
            title=title,
            description=inspect.cleandoc(fn.__doc__ or ""),
            annotations=ToolAnnotations(
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=idempotent,
                open_world_hint=open_world,
            ),
        )
        return fn

    return register


def build_server(settings: ServerSettings, engine: Engine | None = None) -> MCPServer:
    """The MCP server. An `engine` passed in stays open (the caller owns it); one made here is closed on exit."""
    owns_engine = engine is None
    engine = engine or Engine(settings.docker_host)
    sandboxes = SandboxService(engine, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_engine:
                engine.close()

    server = MCPServer(
        "manyoyo-mcp", version=__version__, instructions=INSTRUCTIONS, log_level="INFO", lifespan=lifespan
    )

    @agent_tool(server, title="Create a sandbox", read_only=False, destructive=False, idempotent=True)
    async def create_sandbox(
        name: Annotated[
            str | None,
            Field(
                description="Sandbox name: 1-40 lowercase letters, digits, '.', '_' or '-'. Omit to get a "
                "generated one. If a sandbox of this name exists it is returned (and started if stopped).",
            ),
        ] = None,
        engine: Annotated[
            Literal["docker", "podman"] | None,
            Field(description="Container engine inside the sandbox. Default: the operator's choice (usually docker)."),
        ] = None,
        image: Annotated[
            str | None,
            Field(
                description="Sandbox image. Omit to use the operator's manyoyo sandbox image; other images "
                "must be on the operator's list (the error names them)."
            ),
        ] = None,
        workspace: Annotated[
            str | None,
            Field(description="Existing host directory to mount read-write at /workspace inside the sandbox."),
        ] = None,
        env: Annotated[dict[str, str] | None, Field(description="Environment variables set in the sandbox.")] = None,
        cpus: Annotated[
            float | None, Field(description="CPU cores, e.g. 1.5. Default and ceiling set by the operator.")
        ] = None,
        memory: Annotated[str | None, Field(description="Memory limit, e.g. '2g' or '512m'.")] = None,
        pids: Annotated[int | None, Field(description="Maximum number of processes in the sandbox.")] = None,
    ) -> CreateSandboxResult:
        """Create and start a sandbox (dind mode: it has its own docker or podman engine inside).

        Returns once the nested engine answers its API, typically in a few seconds. Inside the
        sandbox, `docker` (or `podman`) talks to the sandbox's own engine, never the host's.
        """
        request = CreateRequest(
            name=name,
            engine=engine,
            image=image,
            workspace=workspace,
            env=env or {},
            cpus=cpus,
            memory=memory,
            pids=pids,
        )
        with agent_errors():
            return await sandboxes.create(request)

    @agent_tool(
        server,
        name="exec",
        title="Run a command in a sandbox",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,  # commands may reach the network
    )
    async def exec_(
        sandbox: SandboxRef,
        command: Annotated[
            str | list[str],
            Field(description="A shell string (run with `sh -c`) or an argv list run as it is."),
        ],
        ctx: Context,
        workdir: Annotated[
            str | None, Field(description="Working directory inside the sandbox. Default /workspace.")
        ] = None,
        env: Annotated[
            dict[str, str] | None, Field(description="Extra environment variables for this command.")
        ] = None,
        timeout_s: Annotated[
            float | None,
            Field(
                gt=0,
                description=f"Kill the command after this many seconds. Default {settings.exec_timeout_s:g}, "
                f"at most {settings.max_exec_timeout_s:g}.",
            ),
        ] = None,
    ) -> ExecResult:
        """Run a command inside a sandbox and return its exit code, stdout and stderr.

        Output streams as progress notifications while the command runs. Each stream keeps at most
        the operator's cap (default 1 MiB): beyond it the head and tail are kept with a marker and
        `truncated` is true. On timeout the command and all its child processes are killed.
        """
        with agent_errors():
            timeout = settings.exec_timeout_s if timeout_s is None else timeout_s
            if timeout > settings.max_exec_timeout_s:
                raise InvalidArgument(f"timeout_s may be at most {settings.max_exec_timeout_s:g}; got {timeout:g}")
            target = await sandboxes.resolve_running(sandbox)

            async def progress(done: int, text: str) -> None:
                await ctx.report_progress(done, None, text)

            outcome = await run_exec(
                engine,
                target.id,
                ExecRequest(command=command, workdir=workdir, env=env or {}, timeout_s=timeout),
                settings.output_cap_bytes,
                on_progress=progress,
            )
            return ExecResult(sandbox=target.labels.get(SANDBOX, sandbox), **dataclasses.asdict(outcome))

    @agent_tool(server, title="List sandboxes", read_only=True, destructive=False, idempotent=True)
    async def list_sandboxes() -> ListSandboxesResult:
        """List the sandboxes this server created, with state, engine, mode, age and limits."""
        with agent_errors():
            return ListSandboxesResult(sandboxes=await sandboxes.list())

    @agent_tool(server, title="List what is inside a sandbox", read_only=True, destructive=False, idempotent=True)
    async def list_nested(sandbox: SandboxRef) -> ListNestedResult:
        """List the containers (any state, with image, ports, exit code), images, volumes and networks
        of a sandbox's own engine. The host's engine is never consulted."""
        with agent_errors():
            return await nested.list_nested(engine, await sandboxes.resolve_running(sandbox))

    @agent_tool(server, title="Remove a sandbox", read_only=False, destructive=True, idempotent=False)
    async def remove_sandbox(sandbox: SandboxRef) -> RemoveSandboxResult:
        """Stop and remove a sandbox with everything inside it (nested containers, images, volumes)."""
        with agent_errors():
            return await sandboxes.remove(sandbox)

    return server

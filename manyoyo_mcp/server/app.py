"""The server's wiring: one App per server holds what the tools share (settings, the engine, the
sandbox service, the recorder); each module of server/tools/ registers its tools against it."""

import contextlib
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

from manyoyo_mcp import __version__
from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.loader import profile_secrets
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.server.errors import maps_errors
from manyoyo_mcp.server.gate import AuditedServer
from manyoyo_mcp.threads import ProgressCallback

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
manyoyo-mcp gives you sandboxes: containers with their own container engine inside
(Docker-in-Docker). Inside a sandbox you may run commands, build images and run containers
without touching the host. Start with create_sandbox (reuse a name to get the same sandbox
back), then exec commands in it; the host directory given as `workspace` is at /workspace.
Inside a sandbox, build_image builds from a directory in it (e.g. /workspace), run_container runs
what you built (attached: waits and returns the output; detached: keeps a service running),
list_nested shows what is there, and prune cleans up. Sandboxes cannot pull from a registry
unless the operator's network allows it: load_image copies allowed images from the host.
The operator may configure run profiles (describe_policy lists them): create_sandbox takes a
`profile`, and launch_agent runs a coding agent (claude, gemini, codex, opencode) headless in a
sandbox made from one, with the profile's credentials. Remove sandboxes you no longer need with
remove_sandbox."""

AUDIT_RESOURCE = "manyoyo://audit/session"
ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])


@dataclass(slots=True)
class App:
    """What every tool of one server shares; tools reach it as a closure, resolvers via `app_of`."""

    settings: ServerSettings
    engine: Engine
    sandboxes: SandboxService
    recorder: Recorder
    mcp: AuditedServer

    def tool(
        self,
        *,
        title: str,
        read_only: bool,
        destructive: bool,
        idempotent: bool,
        open_world: bool = False,
        name: str | None = None,
    ) -> Callable[[ToolFn], ToolFn]:
        """Register a tool with its annotations; its docstring (dedented) is the agent's description,
        and the project's errors it raises become tool errors the agent reads (maps_errors)."""

        def register(fn: ToolFn) -> ToolFn:
            self.mcp.add_tool(
                maps_errors(fn),
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

    def timeout(self, given: float | None) -> float:
        """A call's timeout_s in seconds, or the operator's default (the policy judged its ceiling)."""
        return self.settings.exec_timeout_s if given is None else given

    def progress(self, ctx: Context) -> ProgressCallback:
        """Progress notifications to the caller: a count so far (bytes or steps) and the latest output,
        with the configured credentials masked."""

        async def report(done: int, text: str) -> None:
            await ctx.report_progress(done, None, self.recorder.mask(text))

        return report


def build_server(settings: ServerSettings, engine: Engine | None = None) -> AuditedServer:
    """The MCP server. An `engine` passed in stays open (the caller owns it); one made here is closed on exit."""
    from manyoyo_mcp.server import tools  # the tool modules register against the App made here

    owns_engine = engine is None
    engine = engine or Engine(settings.docker_host)
    recorder = Recorder(AuditLog(settings.audit_path, max_bytes=settings.audit_max_bytes), settings)
    credentials, problems = profile_secrets(settings)
    recorder.remember(credentials)
    for problem in problems:
        log.warning("%s (launching that profile will fail until it is fixed)", problem)

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[App]:
        try:
            await recorder.server_event("server_start", version=__version__, pid=os.getpid())
        except ManyoyoError as exc:  # keep serving: every tool call will refuse with this reason
            log.error("%s", exc)
        try:
            yield app
        finally:
            with contextlib.suppress(ManyoyoError):
                await recorder.server_event("server_stop")
            app.sandboxes.close()  # the channels to the sandboxes' daemons
            if owns_engine:
                engine.close()

    server = AuditedServer(
        "manyoyo-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="INFO",
        lifespan=lifespan,
        recorder=recorder,
        settings=settings,
    )
    app = App(settings, engine, SandboxService(engine, settings), recorder, server)

    @server.resource(
        AUDIT_RESOURCE,
        name="audit-session",
        title="This session's audit records",
        description="Every audit record this server session wrote (calls, policy decisions, outcomes), oldest first.",
        mime_type="application/json",
    )
    def audit_session() -> str:
        return json.dumps(list(recorder.records), indent=1)

    tools.register_all(app)
    return server

"""The server's wiring: one App per server holds what the tools share (settings, the engine, the
sandbox service, the recorder); each module of server/tools/ registers its tools against it.

The engine, and with it the docker SDK, is made by the first call that needs it: answering
`initialize` and listing the tools need neither (see server/startup.py)."""

import contextlib
import inspect
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

from manyoyo_mcp import __version__
from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.loader import profile_secrets
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.server.errors import maps_errors
from manyoyo_mcp.server.gate import AuditedServer
from manyoyo_mcp.server.housekeeping import housekeeping
from manyoyo_mcp.server.rendering import structured_only
from manyoyo_mcp.server.startup import Startup
from manyoyo_mcp.threads import ProgressCallback

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.ceilings import Ceilings

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
    recorder: Recorder
    mcp: AuditedServer
    given_engine: "Engine | None" = None
    """An engine the caller owns (tests); else one is made on first use, and closed with the server."""
    _made_engine: "Engine | None" = None
    _sandboxes: SandboxService | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def engine(self) -> "Engine":
        """The host engine: made (the docker SDK imported) on first use; connecting stays lazy too,
        so an engine that is down is still the error of the first call that needs it."""
        if self.given_engine is not None:
            return self.given_engine
        with self._lock:
            if self._made_engine is None:
                from manyoyo_mcp.engine.host import Engine

                self._made_engine = Engine(self.settings.docker_host)
            return self._made_engine

    @property
    def sandboxes(self) -> SandboxService:
        if self._sandboxes is None:
            self._sandboxes = SandboxService(self.engine, self.settings)
        return self._sandboxes

    def known_ceilings(self) -> "Ceilings | None":
        """The ceilings the host makes, once the sandbox service has read its figures (no engine call here)."""
        return self._sandboxes.known_ceilings if self._sandboxes is not None else None

    def close(self) -> None:
        """Close the engine made here, if one was (an engine given stays open)."""
        if self._made_engine is not None:
            self._made_engine.close()

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
        the project's errors it raises become tool errors the agent reads (maps_errors), and its result
        goes out once, as structured content (structured_only; the gate adds the short text)."""

        def register(fn: ToolFn) -> ToolFn:
            self.mcp.add_tool(
                maps_errors(structured_only(fn)),
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


def build_server(
    settings: ServerSettings, engine: "Engine | None" = None, *, startup: Startup | None = None
) -> AuditedServer:
    """The MCP server. An `engine` passed in stays open (the caller owns it); one made here is closed on exit.
    `startup` (serve's) times the phases of a start and logs them once the server reads messages."""
    from manyoyo_mcp.server import tools  # the tool modules register against the App made here

    startup = startup or Startup(logged=False)
    startup.done("tool modules")
    audit_log = AuditLog(
        settings.audit_path,
        max_bytes=settings.audit_max_bytes,
        max_total_bytes=settings.audit_max_total_bytes,
        retention=settings.audit_retention,
    )
    recorder = Recorder(audit_log, settings)
    credentials, problems = profile_secrets(settings)
    recorder.remember(credentials)
    for problem in problems:
        log.warning("%s (launching that profile will fail until it is fixed)", problem)
    startup.done("run profiles' credentials")

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[App]:
        startup.done("event loop and transport")
        try:
            await recorder.server_event("server_start", version=__version__, pid=os.getpid())
        except ManyoyoError as exc:  # keep serving: every tool call will refuse with this reason
            log.error("%s", exc)
        startup.done("audit log opened")
        startup.report()
        try:
            async with housekeeping(app):
                yield app
        finally:
            with contextlib.suppress(ManyoyoError):
                await recorder.server_event("server_stop")
            app.close()

    server = AuditedServer(
        "manyoyo-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="INFO",
        lifespan=lifespan,
        recorder=recorder,
        settings=settings,
    )
    app = App(settings, recorder, server, engine)

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
    startup.done("tool registration")
    return server

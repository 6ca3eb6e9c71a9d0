"""The MCP server: thin tool adapters over the sandbox and exec services.

Each tool validates its arguments (pydantic, from the signature), calls a plain service
function, and returns a pydantic model (structured output). Errors the agent can act on become
tool errors with the service's message; anything else is a crash the SDK hides.
"""

import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from manyoyo_mcp import __version__, policy
from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.recorder import CURRENT_CALL, Recorder
from manyoyo_mcp.config.loader import profile_secrets
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.credentials import secret_values
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import InvalidArgument, ManyoyoError, PolicyDenied
from manyoyo_mcp.limits import Limits, parse_memory
from manyoyo_mcp.models import (
    BuildImageResult,
    ContainerLogsResult,
    CreateSandboxResult,
    DescribePolicyResult,
    ExecResult,
    LaunchAgentResult,
    ListNestedResult,
    ListSandboxesResult,
    LoadImageResult,
    PruneResult,
    RemoveContainerResult,
    RemoveSandboxResult,
    RunContainerResult,
    StopContainerResult,
)
from manyoyo_mcp.nested import builds
from manyoyo_mcp.nested import containers as nested_containers
from manyoyo_mcp.nested import images as transfer
from manyoyo_mcp.nested import inventory as nested
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.sandbox import launch
from manyoyo_mcp.sandbox.execution import ExecRequest, run_exec
from manyoyo_mcp.sandbox.launch import ChosenProfile, LaunchRequest, choose_profile, from_profile
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.service import SandboxService

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

ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])
AUDIT_RESOURCE = "manyoyo://audit/session"

SandboxRef = Annotated[
    str,
    Field(description="The sandbox's exact name (as returned by create_sandbox / list_sandboxes) or its full id."),
]
NestedContainerRef = Annotated[
    str, Field(description="A container inside the sandbox: its name or id (as list_nested shows them).")
]


@contextlib.contextmanager
def agent_errors() -> Iterator[None]:
    """Turn the project's errors into tool errors the agent reads; log them for the operator."""
    try:
        yield
    except ManyoyoError as exc:
        log.info("tool error: %s", exc)
        raise ToolError(str(exc)) from exc


class SockConfirmation(BaseModel):
    approve: bool = Field(description="Mount the host's Docker socket into this sandbox (root on this machine).")


NOT_NEEDED = "no confirmation needed"
CANNOT_ASK = "the client cannot ask a human"


async def approve_sock_mode(settings: ServerSettings, confirmation: Any) -> None:
    """Sock mode passes with the operator's pre-approval, or a human's yes; the decision is recorded."""
    call = CURRENT_CALL.get()
    if settings.sock_mode == "preapproved":
        decided, how = policy.allow(rule_ids.SOCK_PREAPPROVED, "the operator pre-approved sock mode"), "operator"
    elif isinstance(confirmation, AcceptedElicitation) and confirmation.data == CANNOT_ASK:
        raise PolicyDenied(
            rule_ids.SOCK_NEEDS_HUMAN.id,
            "sock mode needs a human's confirmation and this client cannot ask one (no elicitation). The operator "
            "can pre-approve sock mode with MANYOYO_SOCK_MODE=preapproved; otherwise use dind mode",
        )
    elif isinstance(confirmation, AcceptedElicitation) and getattr(confirmation.data, "approve", False):
        decided, how = policy.allow(rule_ids.SOCK_CONFIRMED, "a human confirmed sock mode"), "accepted by the user"
    else:
        answer = getattr(confirmation, "action", "no answer")
        raise PolicyDenied(rule_ids.SOCK_DECLINED.id, f"the human did not approve sock mode ({answer}); use dind mode")
    if call is not None:
        await call.decision(decided, confirmation=how)


def progress_to(ctx: Context) -> Callable[[int, str], Awaitable[None]]:
    """Progress notifications to the caller: a count so far (bytes or steps) and the latest output."""

    async def report(done: int, text: str) -> None:
        call = CURRENT_CALL.get()
        await ctx.report_progress(done, None, call.recorder.mask(text) if call is not None else text)

    return report


def client_of(ctx: Context | None) -> dict[str, str | None]:
    """The MCP client's name and version as it introduced itself (absent on anonymous requests)."""
    try:
        info = ctx.session.client_params.client_info  # type: ignore[union-attr]
        return {"name": info.name, "version": info.version}
    except AttributeError:
        return {"name": None, "version": None}


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


class AuditedServer(MCPServer):
    """An MCPServer whose every tool call passes the policy and leaves audit records.

    The one choke point is `call_tool`, before the SDK validates anything: calls to unknown
    tools, with unknown arguments or with arguments of the wrong type are judged and recorded
    like any other. Order: arrival record (synced; none, no call), policy decision, the tool,
    outcome record.
    """

    def __init__(self, *args: Any, recorder: Recorder, settings: ServerSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        self.settings = settings

    def accepted_arguments(self, tool: str) -> frozenset[str] | None:
        found = self._tool_manager.get_tool(tool)
        return None if found is None else frozenset(found.parameters.get("properties", {}))

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        arguments = dict(arguments or {})
        with agent_errors():
            call = await self.recorder.arrive(name, arguments, client_of(context))
            CURRENT_CALL.set(call)
            decision = policy.evaluate(name, arguments, self.settings, accepted=self.accepted_arguments(name))
            await call.decision(decision)
            if not decision.allowed:
                denied = PolicyDenied(decision.rule, decision.reason)
                await call.outcome("denied", error=str(denied))
                raise denied
        try:
            result = await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = _root_cause(exc)
            with agent_errors():
                if isinstance(cause, PolicyDenied):
                    await call.decision(policy.Decision(False, cause.rule, cause.reason))
                    await call.outcome("denied", error=str(exc))
                else:
                    outcome = cause.outcome if isinstance(cause, ManyoyoError) else "error"
                    await call.outcome(outcome, error=str(exc))
            masked = self.recorder.mask(str(exc))
            if masked != str(exc):
                raise ToolError(masked) from None  # the unmasked message stays out of tracebacks too
            raise
        except anyio.get_cancelled_exc_class():
            await call.outcome("cancelled")
            raise
        except Exception as exc:
            with agent_errors():
                await call.outcome("error", error=f"internal error ({type(exc).__name__}); see the server's log")
            raise
        if isinstance(result, InputRequiredResult):  # the client asks a human and calls again
            with agent_errors():
                await call.outcome("awaiting-input")
            return result
        data = getattr(result, "structured_content", None) or {}
        with agent_errors():
            await call.outcome("timeout" if data.get("timed_out") else "ok", result=data)
        return self._masked(result)

    def _masked(self, result: Any) -> Any:
        """The result with the configured credentials replaced, in its text and structured parts."""
        if not isinstance(result, CallToolResult) or not self.recorder.masking:
            return result
        content = [
            item.model_copy(update={"text": self.recorder.mask(item.text)}) if isinstance(item, TextContent) else item
            for item in result.content
        ]
        structured = self.recorder.mask(result.structured_content) if result.structured_content else None
        return result.model_copy(update={"content": content, "structured_content": structured})


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def build_server(settings: ServerSettings, engine: Engine | None = None) -> MCPServer:
    """The MCP server. An `engine` passed in stays open (the caller owns it); one made here is closed on exit."""
    owns_engine = engine is None
    engine = engine or Engine(settings.docker_host)
    sandboxes = SandboxService(engine, settings)
    recorder = Recorder(AuditLog(settings.audit_path, max_bytes=settings.audit_max_bytes), settings)
    credentials, problems = profile_secrets(settings)
    recorder.remember(credentials)
    for problem in problems:
        log.warning("%s (launching that profile will fail until it is fixed)", problem)

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        try:
            await recorder.server_event("server_start", version=__version__, pid=os.getpid())
        except ManyoyoError as exc:  # keep serving: every tool call will refuse with this reason
            log.error("%s", exc)
        try:
            yield
        finally:
            with contextlib.suppress(ManyoyoError):
                await recorder.server_event("server_stop")
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
    tool = functools.partial(agent_tool, server)

    def timeout_within_limits(timeout_s: float | None) -> float:
        timeout = settings.exec_timeout_s if timeout_s is None else timeout_s
        if timeout > settings.max_exec_timeout_s:
            raise InvalidArgument(f"timeout_s may be at most {settings.max_exec_timeout_s:g}; got {timeout:g}")
        return timeout

    def wants_sock(mode: str | None, profile: str | None) -> bool:
        """Sock mode as the call will act: its own `mode`, else its run profile's."""
        return policy.profile_arguments({"mode": mode, "profile": profile}, settings).get("mode") == "sock"

    def chosen_profile(profile: str | None) -> ChosenProfile | None:
        """The call's run profile, its credentials remembered for masking from here on."""
        chosen = choose_profile(settings, profile)
        if chosen is not None:
            recorder.remember(secret_values(chosen.environment))
        return chosen

    def ask_for_sock_mode(mode: str | None, profile: str | None, name: str | None, ctx: Context) -> Any:
        if not wants_sock(mode, profile) or settings.sock_mode != "confirm":
            return NOT_NEEDED
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.elicitation is None:
            return CANNOT_ASK
        return Elicit(
            f"An agent asks for sandbox {name or '(unnamed)'!r} in SOCK mode: the host's Docker socket mounted "
            "inside it. Whoever holds that socket is root on this machine. Approve?",
            SockConfirmation,
        )

    @server.resource(
        AUDIT_RESOURCE,
        name="audit-session",
        title="This session's audit records",
        description="Every audit record this server session wrote (calls, policy decisions, outcomes), oldest first.",
        mime_type="application/json",
    )
    def audit_session() -> str:
        return json.dumps(list(recorder.records), indent=1)

    @tool(title="Create a sandbox", read_only=False, destructive=False, idempotent=True)
    async def create_sandbox(
        ctx: Context,
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
        mode: Annotated[
            Literal["dind", "sock"] | None,
            Field(
                description="dind (the default): the sandbox has its own engine. sock: the HOST's Docker socket "
                "is mounted instead (root on the host); only if the operator enabled it, and then a human "
                "confirms it. Prefer dind."
            ),
        ] = None,
        profile: Annotated[
            str | None,
            Field(
                description="A run profile of the operator's configuration (describe_policy lists them): it fills "
                "in what you leave out (name, workspace, engine, env and env files, limits). Default: the "
                "operator's default profile, if any."
            ),
        ] = None,
        confirmation: Annotated[ElicitationResult[SockConfirmation], Resolve(ask_for_sock_mode)] = None,  # type: ignore[assignment]
    ) -> CreateSandboxResult:
        """Create and start a sandbox (dind mode: it has its own docker or podman engine inside).

        Returns once the nested engine answers its API, typically in a few seconds. Inside the
        sandbox, `docker` (or `podman`) talks to the sandbox's own engine, never the host's.
        """
        with agent_errors():
            if wants_sock(mode, profile):
                await approve_sock_mode(settings, confirmation)
        request = CreateRequest(
            mode=mode,
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
            chosen = chosen_profile(profile)
            return await sandboxes.create(request if chosen is None else from_profile(request, chosen))

    @tool(
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
            timeout = timeout_within_limits(timeout_s)
            target = await sandboxes.resolve_running(sandbox)

            outcome = await run_exec(
                engine,
                target.id,
                ExecRequest(command=command, workdir=workdir, env=env or {}, timeout_s=timeout),
                settings.output_cap_bytes,
                on_progress=progress_to(ctx),
            )
            return ExecResult(sandbox=target.name, **dataclasses.asdict(outcome))

    def ask_for_profile_sock_mode(profile: str | None, sandbox: str | None, ctx: Context) -> Any:
        return ask_for_sock_mode(None, profile, sandbox, ctx)

    @tool(
        title="Launch a coding agent in a sandbox",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,  # the agent talks to its model's service
    )
    async def launch_agent(
        prompt: Annotated[str, Field(description="What the agent should do, as you would type it to the agent.")],
        ctx: Context,
        profile: Annotated[
            str | None,
            Field(
                description="The operator's run profile (describe_policy lists them): which agent, its credentials "
                "(env files), workspace, mode and limits. Default: the operator's default profile."
            ),
        ] = None,
        agent: Annotated[
            str | None,
            Field(
                description="Run this agent instead of the profile's: claude (cc, c), gemini (gm, g), codex (cx), "
                "opencode (oc), or one the operator added."
            ),
        ] = None,
        sandbox: Annotated[
            str | None,
            Field(
                description="Sandbox to run in: an existing one of that name is reused (resume needs this), a "
                "new one is made from the profile. Default: the profile's containerName, else a new name."
            ),
        ] = None,
        workspace: Annotated[
            str | None, Field(description="Host folder to mount as the workspace instead of the profile's hostPath.")
        ] = None,
        resume: Annotated[
            bool, Field(description="Continue the agent's last conversation in that sandbox (its resume flag).")
        ] = False,
        timeout_s: Annotated[
            float | None,
            Field(
                gt=0,
                description=f"Kill the agent after this many seconds. Default {settings.exec_timeout_s:g}, "
                f"at most {settings.max_exec_timeout_s:g}.",
            ),
        ] = None,
        confirmation: Annotated[ElicitationResult[SockConfirmation], Resolve(ask_for_profile_sock_mode)] = None,  # type: ignore[assignment]
    ) -> LaunchAgentResult:
        """Run a coding agent headless, with its permission prompts skipped ("yolo"), inside a sandbox.

        The sandbox is made from a run profile (or reused by name) and always has its own engine
        (dind) unless the operator's profile says sock mode and the policy allows it. The agent's
        output streams as progress; the result has its final output, exit code and duration. On
        timeout or cancellation the agent and its child processes are killed. The sandbox is kept:
        exec in it to inspect the work, launch_agent again with resume, or remove_sandbox.
        Credentials from the profile reach the agent but appear masked in every result.
        """
        with agent_errors():
            if wants_sock(None, profile):
                await approve_sock_mode(settings, confirmation)
            chosen = chosen_profile(profile)
            request = LaunchRequest(
                prompt=prompt,
                agent=agent,
                sandbox=sandbox,
                workspace=workspace,
                resume=resume,
                timeout_s=timeout_within_limits(timeout_s),
            )
            return await launch.launch_agent(sandboxes, engine, settings, chosen, request, on_progress=progress_to(ctx))

    @tool(title="List sandboxes", read_only=True, destructive=False, idempotent=True)
    async def list_sandboxes(ctx: Context) -> ListSandboxesResult:
        """List the sandboxes this server created, with state, engine, mode, age and limits."""
        with agent_errors():
            return ListSandboxesResult(sandboxes=await sandboxes.list())

    @tool(title="List what is inside a sandbox", read_only=True, destructive=False, idempotent=True)
    async def list_nested(sandbox: SandboxRef, ctx: Context) -> ListNestedResult:
        """List the containers (any state, with image, ports, exit code), images, volumes and networks
        of a sandbox's own engine. The host's engine is never consulted."""
        with agent_errors():
            return await nested.list_nested(engine, await sandboxes.resolve_running(sandbox))

    @tool(title="Remove a sandbox", read_only=False, destructive=True, idempotent=False)
    async def remove_sandbox(sandbox: SandboxRef, ctx: Context) -> RemoveSandboxResult:
        """Stop and remove a sandbox with everything inside it (nested containers, images, volumes)."""
        with agent_errors():
            return await sandboxes.remove(sandbox)

    timeout_field = Field(
        gt=0,
        description=f"Stop after this many seconds. Default {settings.exec_timeout_s:g}, "
        f"at most {settings.max_exec_timeout_s:g}.",
    )

    @tool(
        title="Build an image in a sandbox",
        read_only=False,
        destructive=False,
        idempotent=False,
        open_world=True,
    )
    async def build_image(
        sandbox: SandboxRef,
        ctx: Context,
        context: Annotated[
            str,
            Field(
                description="Build context: a directory inside the sandbox. Relative paths start at /workspace "
                "(where the host workspace is mounted). A .dockerignore in it is honoured."
            ),
        ] = "/workspace",
        dockerfile: Annotated[
            str | None,
            Field(
                description="Either a path inside the context (default 'Dockerfile'), or the Dockerfile's text "
                "itself (recognised by a line break, or a first line starting with FROM, ARG or #)."
            ),
        ] = None,
        tag: Annotated[
            str | None,
            Field(description="Image name and tag, e.g. 'myapp:test'. Recommended; pass it to run_container."),
        ] = None,
        build_args: Annotated[
            dict[str, str] | None, Field(description="Values for the Dockerfile's ARG instructions.")
        ] = None,
        target: Annotated[
            str | None, Field(description="Build only up to this stage of a multi-stage Dockerfile.")
        ] = None,
        no_cache: Annotated[bool, Field(description="Build every step again, ignoring cached layers.")] = False,
        timeout_s: Annotated[float | None, timeout_field] = None,
    ) -> BuildImageResult:
        """Build an image with the sandbox's own engine (docker or podman), from a context inside the sandbox.

        Each build step streams as a progress notification. The result gives the image id, tags, size,
        duration and the last log lines; the full log is a file inside the sandbox (`log_path`), readable
        with exec. A failing step is a tool error naming the step with its output. Base images must already
        be in the sandbox: see load_image.
        """
        with agent_errors():
            timeout = timeout_within_limits(timeout_s)
            target_sandbox = await sandboxes.resolve_running(sandbox)

            return await builds.build_image(
                engine,
                target_sandbox,
                builds.BuildRequest(
                    context=context,
                    dockerfile=dockerfile,
                    tag=tag,
                    build_args=build_args or {},
                    target=target,
                    no_cache=no_cache,
                    timeout_s=timeout,
                ),
                max_context_bytes=parse_memory(settings.max_build_context),
                on_progress=progress_to(ctx),
            )

    @tool(
        title="Run a container in a sandbox",
        read_only=False,
        destructive=False,
        idempotent=False,
        open_world=True,
    )
    async def run_container(
        sandbox: SandboxRef,
        image: Annotated[
            str, Field(description="An image in the sandbox's engine: a tag such as 'myapp:test', or an id.")
        ],
        ctx: Context,
        command: Annotated[
            str | list[str] | None,
            Field(description="A shell string (run with `sh -c`), an argv list, or omitted for the image's default."),
        ] = None,
        name: Annotated[str | None, Field(description="Container name (ASCII letters, digits, '_', '.', '-').")] = None,
        env: Annotated[dict[str, str] | None, Field(description="Environment variables of the container.")] = None,
        ports: Annotated[
            list[str] | None,
            Field(
                description="Ports to publish on the sandbox, e.g. ['8080:80']: then reachable inside the sandbox "
                "(exec `curl localhost:8080`). Forms: 'PORT', 'SANDBOX_PORT:PORT', 'IP:SANDBOX_PORT:PORT', "
                "optionally with '/udp'."
            ),
        ] = None,
        volumes: Annotated[
            list[str] | None,
            Field(
                description="Mounts: 'VOLUME:/path' (a nested volume, created if missing) or '/sandbox/dir:/path' "
                "(a directory of the sandbox, e.g. under /workspace); add ':ro' for read-only."
            ),
        ] = None,
        workdir: Annotated[str | None, Field(description="Working directory inside the container.")] = None,
        network: Annotated[
            str | None,
            Field(
                description="A nested network to join (created if missing). Containers on the same named network "
                "reach each other by container name."
            ),
        ] = None,
        detach: Annotated[
            bool,
            Field(
                description="false (default): wait for the container to exit and return its exit code and output. "
                "true: start it, return at once, and leave it running (a service)."
            ),
        ] = False,
        remove: Annotated[
            bool, Field(description="Remove the container after an attached run ends (like --rm).")
        ] = False,
        timeout_s: Annotated[
            float | None,
            Field(
                gt=0,
                description=f"Attached runs only: kill the container after this many seconds. Default "
                f"{settings.exec_timeout_s:g}, at most {settings.max_exec_timeout_s:g}.",
            ),
        ] = None,
        cpus: Annotated[
            float | None,
            Field(description=f"CPU cores. Default {settings.nested_default_cpus:g}; at most the sandbox's own."),
        ] = None,
        memory: Annotated[
            str | None,
            Field(
                description=f"Memory limit, e.g. '512m'. Default {settings.nested_default_memory}; "
                "at most the sandbox's."
            ),
        ] = None,
        pids: Annotated[
            int | None,
            Field(description=f"Maximum processes. Default {settings.nested_default_pids}; at most the sandbox's."),
        ] = None,
        cap_add: Annotated[
            list[str] | None,
            Field(description="Capabilities to add, from a small allowlist (e.g. NET_RAW); see describe_policy."),
        ] = None,
        sysctls: Annotated[
            dict[str, str] | None,
            Field(
                description="Namespaced sysctls from the safe list, e.g. {'net.ipv4.ip_unprivileged_port_start': '0'}."
            ),
        ] = None,
        restart: Annotated[
            str,
            Field(description="Restart policy of a detached container: 'no' (default) or 'on-failure[:N]', N <= 5."),
        ] = "no",
    ) -> RunContainerResult:
        """Run a container inside a sandbox with the sandbox's own engine (never the host's).

        Attached (default): waits until the container exits; output streams as progress and the result has
        the exit code and the output (head and tail kept beyond the cap). At timeout_s it is killed.
        Detached: returns once started, with its ports and addresses; see container_logs, stop_container.
        """
        with agent_errors():
            timeout = timeout_within_limits(timeout_s)
            target_sandbox = await sandboxes.resolve_running(sandbox)
            inspected = (await sandboxes.inspect(target_sandbox)).limits

            return await nested_containers.run_container(
                engine,
                target_sandbox,
                nested_containers.RunRequest(
                    image=image,
                    command=command,
                    name=name,
                    env=env or {},
                    ports=ports or [],
                    volumes=volumes or [],
                    workdir=workdir,
                    network=network,
                    detach=detach,
                    remove=remove,
                    timeout_s=timeout,
                    cpus=cpus,
                    memory=memory,
                    pids=pids,
                    cap_add=cap_add or [],
                    sysctls=sysctls or {},
                    restart=restart,
                ),
                defaults=Limits(
                    settings.nested_default_cpus,
                    parse_memory(settings.nested_default_memory),
                    settings.nested_default_pids,
                ),
                sandbox_limits=Limits(
                    inspected.cpus or settings.max_cpus,
                    inspected.memory_bytes or parse_memory(settings.max_memory),
                    inspected.pids or settings.max_pids,
                ),
                output_cap=settings.output_cap_bytes,
                loadable=settings.loadable_images,
                max_containers=settings.max_nested_containers,
                on_progress=progress_to(ctx),
            )

    @tool(title="Read a nested container's logs", read_only=True, destructive=False, idempotent=True)
    async def container_logs(
        sandbox: SandboxRef,
        ctx: Context,
        container: NestedContainerRef,
        tail: Annotated[int | None, Field(ge=0, le=100_000, description="Only the last N lines (default 200).")] = 200,
        since: Annotated[
            str | float | None,
            Field(description="Only output since this: seconds ago (e.g. 60) or an ISO 8601 time with zone."),
        ] = None,
    ) -> ContainerLogsResult:
        """The output (stdout and stderr) of a container inside a sandbox, bounded by the operator's cap."""
        with agent_errors():
            return await nested_containers.container_logs(
                engine,
                await sandboxes.resolve_running(sandbox),
                container,
                tail=tail,
                since=since,
                output_cap=settings.output_cap_bytes,
            )

    @tool(title="Stop a nested container", read_only=False, destructive=False, idempotent=True)
    async def stop_container(
        sandbox: SandboxRef,
        ctx: Context,
        container: NestedContainerRef,
        timeout_s: Annotated[
            int, Field(ge=0, le=300, description="Seconds to wait after SIGTERM before SIGKILL.")
        ] = 10,
    ) -> StopContainerResult:
        """Stop a running container inside a sandbox (SIGTERM, then SIGKILL after timeout_s). It stays listed
        until removed or pruned."""
        with agent_errors():
            return await nested_containers.stop_container(
                engine, await sandboxes.resolve_running(sandbox), container, timeout_s=timeout_s
            )

    @tool(title="Remove a nested container", read_only=False, destructive=True, idempotent=False)
    async def remove_container(
        sandbox: SandboxRef,
        ctx: Context,
        container: NestedContainerRef,
        force: Annotated[bool, Field(description="Kill and remove it even if it is running.")] = False,
    ) -> RemoveContainerResult:
        """Remove a container inside a sandbox (with its anonymous volumes)."""
        with agent_errors():
            return await nested_containers.remove_container(
                engine, await sandboxes.resolve_running(sandbox), container, force=force
            )

    @tool(title="Clean up a sandbox's engine", read_only=False, destructive=True, idempotent=False)
    async def prune(
        sandbox: SandboxRef,
        ctx: Context,
        containers: Annotated[bool, Field(description="Remove stopped containers.")] = True,
        images: Annotated[
            Literal["none", "dangling", "unused"],
            Field(description="'dangling': untagged images; 'unused': every image no remaining container uses."),
        ] = "dangling",
        volumes: Annotated[bool, Field(description="Remove volumes no remaining container uses.")] = False,
        build_cache: Annotated[bool, Field(description="Remove the build cache (docker).")] = True,
        dry_run: Annotated[bool, Field(description="Only list what would go, with size estimates.")] = False,
    ) -> PruneResult:
        """Free space in one sandbox's own engine: stopped containers, unused images and volumes, build cache.

        Never reaches beyond that sandbox. The result lists what went and the bytes the engine reports
        reclaimed; with dry_run=true nothing is removed and the result lists what would go.
        """
        with agent_errors():
            return await nested.prune(
                engine,
                await sandboxes.resolve_running(sandbox),
                nested.PruneRequest(
                    containers=containers, images=images, volumes=volumes, build_cache=build_cache, dry_run=dry_run
                ),
            )

    @tool(title="Describe the policy", read_only=True, destructive=False, idempotent=True)
    async def describe_policy(ctx: Context) -> DescribePolicyResult:
        """The rules every call is judged by, as data: allowed workspace roots and refused host paths,
        sandbox and loadable images, limits (defaults and ceilings), timeouts, quotas, protected paths
        inside sandboxes, and each rule id with what it refuses. Read it to plan calls that will pass."""
        return DescribePolicyResult(policy=policy.describe(settings))

    loadable = ", ".join(settings.loadable_images) or "none (the operator has not allowed any)"

    @tool(title="Copy a host image into a sandbox", read_only=False, destructive=False, idempotent=True)
    async def load_image(
        sandbox: SandboxRef,
        ctx: Context,
        image: Annotated[str, Field(description=f"A host image the operator allows: {loadable}.")],
    ) -> LoadImageResult:
        """Copy an image from the host's engine into a sandbox's own engine (sandboxes may have no registry).

        Only images the operator allows can be copied; they become usable as build bases and by run_container.
        """
        with agent_errors():
            return await transfer.load_image(
                engine, await sandboxes.resolve_running(sandbox), image, settings.loadable_images
            )

    return server

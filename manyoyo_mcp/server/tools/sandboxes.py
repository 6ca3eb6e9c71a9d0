"""Tools for the sandboxes themselves: create_sandbox, list_sandboxes, remove_sandbox."""

from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.egress import NetworkChoice
from manyoyo_mcp.models import CreateSandboxResult, ListSandboxesResult, RemoveSandboxResult
from manyoyo_mcp.sandbox.launch import from_profile
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.server.confirmation import SockApproval, confirm_sock_mode
from manyoyo_mcp.server.params import EffectiveProfile, SandboxRef

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

Name = Annotated[
    str | None,
    Field(
        description="Sandbox name: 1-40 lowercase letters, digits, '.', '_' or '-'. Omit to get the profile's "
        "containerName, else a generated one (then a ready sandbox from the operator's warm pool comes at once, if "
        "one waits). If a sandbox of this name exists it is returned (and started if stopped).",
    ),
]
InnerEngine = Annotated[
    Literal["docker", "podman"] | None,
    Field(description="Container engine inside the sandbox. Default: the operator's choice (usually docker)."),
]
Image = Annotated[
    str | None,
    Field(
        description="Sandbox image. Omit to use the operator's manyoyo sandbox image; other images "
        "must be on the operator's list (the error names them)."
    ),
]
Workspace = Annotated[
    str | None,
    Field(description="Existing host directory to mount read-write at /workspace inside the sandbox."),
]
Env = Annotated[dict[str, str] | None, Field(description="Environment variables set in the sandbox.")]
Cpus = Annotated[float | None, Field(description="CPU cores, e.g. 1.5. Default and ceiling set by the operator.")]
Memory = Annotated[str | None, Field(description="Memory limit, e.g. '2g' or '512m'.")]
Pids = Annotated[int | None, Field(description="Maximum number of processes in the sandbox.")]
Disk = Annotated[
    str | None,
    Field(
        description="Disk quota for everything the sandbox writes (its files, /tmp, its engine's images, "
        "containers and volumes; not the workspace), e.g. '20g': writes past it fail with 'No space left on "
        "device'. Default and ceiling set by the operator (describe_policy)."
    ),
]
Mode = Annotated[
    Literal["dind", "sock"] | None,
    Field(
        description="dind (the default): the sandbox has its own engine. sock: the HOST's Docker socket "
        "is mounted instead (root on the host); only if the operator enabled it, and then a human "
        "confirms it. Prefer dind."
    ),
]
Network = Annotated[
    NetworkChoice | Literal["none", "allowlist", "public"] | None,
    Field(
        description="The sandbox's egress, enforced outside it (its root cannot change it): 'none' (no network), "
        "'public' (the internet; never the host, other sandboxes, private, loopback, link-local or cloud-metadata "
        "addresses), or {mode: 'allowlist', allow: [...]} (only those destinations: '203.0.113.7:443', "
        "'198.51.100.0/24', host names like 'registry.npmjs.org' over HTTP(S) through the sandbox's proxy). You "
        "may only narrow the operator's ceiling (describe_policy's network). Default: the operator's default."
    ),
]
Profile = Annotated[
    str | None,
    Field(
        description="The name of a run profile of the operator's configuration (describe_policy lists them; "
        "never a file path): it fills in what you leave out (name, workspace, engine, env and env files, "
        "limits). Default: the operator's default profile (describe_policy's default_run_profile), if any."
    ),
]


def add_create_sandbox(app: "App") -> None:
    @app.tool(title="Create a sandbox", read_only=False, destructive=False, idempotent=True)
    async def create_sandbox(
        ctx: Context,
        chosen: EffectiveProfile,
        confirmation: SockApproval,
        name: Name = None,
        engine: InnerEngine = None,
        image: Image = None,
        workspace: Workspace = None,
        env: Env = None,
        cpus: Cpus = None,
        memory: Memory = None,
        pids: Pids = None,
        disk: Disk = None,
        mode: Mode = None,
        network: Network = None,
        profile: Profile = None,
    ) -> CreateSandboxResult:
        """Create and start a sandbox (dind mode: it has its own docker or podman engine inside).

        Returns once the nested engine answers its API, typically in a few seconds. Inside the
        sandbox, `docker` (or `podman`) talks to the sandbox's own engine, never the host's.
        """
        await confirm_sock_mode(app.settings, confirmation)
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
            disk=disk,
            network=NetworkChoice.model_validate(network) if network is not None else None,
        )
        return await app.sandboxes.create(request if chosen is None else from_profile(request, chosen))


def add_list_sandboxes(app: "App") -> None:
    @app.tool(title="List sandboxes", read_only=True, destructive=False, idempotent=True)
    async def list_sandboxes(ctx: Context) -> ListSandboxesResult:
        """List the sandboxes this server created, with state, engine, mode, network (egress), age, limits,
        and disk use against each one's quota."""
        return ListSandboxesResult(sandboxes=await app.sandboxes.list())


def add_remove_sandbox(app: "App") -> None:
    @app.tool(title="Remove a sandbox", read_only=False, destructive=True, idempotent=False)
    async def remove_sandbox(sandbox: SandboxRef, ctx: Context) -> RemoveSandboxResult:
        """Stop and remove a sandbox with everything inside it (nested containers, images, volumes)."""
        return await app.sandboxes.remove(sandbox)

"""Tools for what lives inside a sandbox's own engine: list_nested, run_container, container_logs,
stop_container, remove_container, prune (nested/ does the work, through the sandbox's engine API)."""

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.models import (
    ContainerLogsResult,
    ListNestedResult,
    PruneResult,
    RemoveContainerResult,
    RunContainerResult,
    StopContainerResult,
)
from manyoyo_mcp.nested import containers, inventory, run
from manyoyo_mcp.policy.allowlists import USER_SPEC
from manyoyo_mcp.server.params import NestedContainerRef, RunningSandbox, SandboxRef

if TYPE_CHECKING:
    from manyoyo_mcp.config.settings import ServerSettings
    from manyoyo_mcp.server.app import App

Image = Annotated[str, Field(description="An image in the sandbox's engine: a tag such as 'myapp:test', or an id.")]
Command = Annotated[
    str | list[str] | None,
    Field(description="A shell string (run with `sh -c`), an argv list, or omitted for the image's default."),
]
Name = Annotated[str | None, Field(description="Container name (ASCII letters, digits, '_', '.', '-').")]
Env = Annotated[dict[str, str] | None, Field(description="Environment variables of the container.")]
Ports = Annotated[
    list[str] | None,
    Field(
        description="Ports to publish on the sandbox, e.g. ['8080:80']: then reachable inside the sandbox at "
        "localhost (exec `curl localhost:8080`), on its loopback only; '0.0.0.0:8080:80' publishes it on every "
        "address of the sandbox (still never outside it). Forms: 'PORT', 'SANDBOX_PORT:PORT', "
        "'IP:SANDBOX_PORT:PORT', optionally with '/udp'."
    ),
]
Volumes = Annotated[
    list[str] | None,
    Field(
        description="Mounts: 'VOLUME:/path' (a nested volume, created if missing) or '/sandbox/dir:/path' "
        "(a directory of the sandbox, e.g. under /workspace); add ':ro' for read-only."
    ),
]
Workdir = Annotated[str | None, Field(description="Working directory inside the container.")]
Network = Annotated[
    str | None,
    Field(
        description="A nested network to join (created if missing). Containers on the same named network "
        "reach each other by container name."
    ),
]
Detach = Annotated[
    bool,
    Field(
        description="false (default): wait for the container to exit and return its exit code and output. "
        "true: start it, return at once, and leave it running (a service)."
    ),
]
Remove = Annotated[bool, Field(description="Remove the container after an attached run ends (like --rm).")]
CapAdd = Annotated[
    list[str] | None,
    Field(description="Capabilities to add, from a small allowlist (e.g. NET_RAW); see describe_policy."),
]
Sysctls = Annotated[
    dict[str, str] | None,
    Field(description="Namespaced sysctls from the safe list, e.g. {'net.ipv4.ip_unprivileged_port_start': '0'}."),
]
Restart = Annotated[
    str,
    Field(description="Restart policy of a detached container: 'no' (default) or 'on-failure[:N]', N <= 5."),
]
Init = Annotated[
    bool,
    Field(
        description="Run a tiny init as the container's PID 1 (like `docker run --init`): it forwards signals "
        "and reaps orphaned child processes, so none is left as a zombie."
    ),
]
User = Annotated[
    str | None,
    Field(
        pattern=rf"^{USER_SPEC.pattern}$",
        description="Run the container's process as this user: a name or 'name:group' the image knows, or "
        "'uid[:gid]', e.g. '1000:1000' (files it writes in a mounted /workspace then belong to that uid on "
        "the host when it is the workspace owner's). Default: the image's user (usually root).",
    ),
]
ReadOnly = Annotated[
    bool,
    Field(
        description="Mount the container's root filesystem read-only (writes fail, except in volumes and "
        "tmpfs paths). Podman also mounts tmpfs on /tmp, /var/tmp and /run then; docker does not."
    ),
]
Tmpfs = Annotated[
    list[str] | None,
    Field(
        description="In-memory filesystems: '/path' or '/path:options', options from rw, ro, exec, noexec, "
        "nosuid, nodev, size=64m, mode=1777, uid=N, gid=N, nr_inodes=N (e.g. ['/tmp:size=64m']). Their "
        "contents count against the container's memory limit."
    ),
]


def add_list_nested(app: "App") -> None:
    @app.tool(title="List what is inside a sandbox", read_only=True, destructive=False, idempotent=True)
    async def list_nested(sandbox: SandboxRef, ctx: Context, target: RunningSandbox) -> ListNestedResult:
        """List the containers (any state, with image, ports, exit code), images, volumes and networks
        of a sandbox's own engine. The host's engine is never consulted."""
        return await inventory.list_nested(app.engine, target)


def _run_limits(s: "ServerSettings") -> tuple[Any, Any, Any, Any]:
    """run_container's timeout_s, cpus, memory and pids parameters, with the operator's defaults."""
    Timeout = Annotated[
        float | None,
        Field(
            gt=0,
            description=f"Attached runs only: kill the container after this many seconds. Default "
            f"{s.exec_timeout_s:g}, at most {s.max_exec_timeout_s:g}.",
        ),
    ]
    Cpus = Annotated[
        float | None, Field(description=f"CPU cores. Default {s.nested_default_cpus:g}; at most the sandbox's own.")
    ]
    Memory = Annotated[
        str | None,
        Field(description=f"Memory limit, e.g. '512m'. Default {s.nested_default_memory}; at most the sandbox's."),
    ]
    Pids = Annotated[
        int | None,
        Field(description=f"Maximum processes. Default {s.nested_default_pids}; at most the sandbox's."),
    ]
    return Timeout, Cpus, Memory, Pids


def add_run_container(app: "App") -> None:
    Timeout, Cpus, Memory, Pids = _run_limits(app.settings)

    @app.tool(
        title="Run a container in a sandbox", read_only=False, destructive=False, idempotent=False, open_world=True
    )
    async def run_container(
        sandbox: SandboxRef,
        image: Image,
        ctx: Context,
        target: RunningSandbox,
        command: Command = None,
        name: Name = None,
        env: Env = None,
        ports: Ports = None,
        volumes: Volumes = None,
        workdir: Workdir = None,
        network: Network = None,
        detach: Detach = False,
        remove: Remove = False,
        timeout_s: Timeout = None,
        cpus: Cpus = None,
        memory: Memory = None,
        pids: Pids = None,
        cap_add: CapAdd = None,
        sysctls: Sysctls = None,
        restart: Restart = "no",
        init: Init = False,
        user: User = None,
        read_only: ReadOnly = False,
        tmpfs: Tmpfs = None,
    ) -> RunContainerResult:
        """Run a container inside a sandbox with the sandbox's own engine (never the host's).

        Attached (default): waits until the container exits; output streams as progress and the result has
        the exit code and the output (head and tail kept beyond the cap). At timeout_s it is killed.
        Detached: returns once started, with its ports and addresses; see container_logs, stop_container.
        """
        request = run.RunRequest(
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
            timeout_s=app.timeout(timeout_s),
            cpus=cpus,
            memory=memory,
            pids=pids,
            cap_add=cap_add or [],
            sysctls=sysctls or {},
            restart=restart,
            init=init,
            user=user,
            read_only=read_only,
            tmpfs=tmpfs or [],
        )
        inspected = await app.sandboxes.inspect(target)  # its limits: the ceilings of what runs inside
        owner = (await app.sandboxes.entry(target)).owner
        return await run.run_container(app.engine, inspected, request, app.settings, app.progress(ctx), owner)


def add_container_logs(app: "App") -> None:
    Tail = Annotated[int | None, Field(ge=0, le=100_000, description="Only the last N lines (default 200).")]
    Since = Annotated[
        str | float | None,
        Field(description="Only output since this: seconds ago (e.g. 60) or an ISO 8601 time with zone."),
    ]

    @app.tool(title="Read a nested container's logs", read_only=True, destructive=False, idempotent=True)
    async def container_logs(
        sandbox: SandboxRef,
        ctx: Context,
        target: RunningSandbox,
        container: NestedContainerRef,
        tail: Tail = 200,
        since: Since = None,
    ) -> ContainerLogsResult:
        """The output (stdout and stderr) of a container inside a sandbox, bounded by the operator's cap."""
        return await containers.container_logs(
            app.engine, target, container, tail=tail, since=since, output_cap=app.settings.output_cap_bytes
        )


def add_stop_container(app: "App") -> None:
    Timeout = Annotated[int, Field(ge=0, le=300, description="Seconds to wait after SIGTERM before SIGKILL.")]

    @app.tool(title="Stop a nested container", read_only=False, destructive=False, idempotent=True)
    async def stop_container(
        sandbox: SandboxRef,
        ctx: Context,
        target: RunningSandbox,
        container: NestedContainerRef,
        timeout_s: Timeout = 10,
    ) -> StopContainerResult:
        """Stop a running container inside a sandbox (SIGTERM, then SIGKILL after timeout_s). It stays listed
        until removed or pruned."""
        return await containers.stop_container(app.engine, target, container, timeout_s=timeout_s)


def add_remove_container(app: "App") -> None:
    Force = Annotated[bool, Field(description="Kill and remove it even if it is running.")]

    @app.tool(title="Remove a nested container", read_only=False, destructive=True, idempotent=False)
    async def remove_container(
        sandbox: SandboxRef, ctx: Context, target: RunningSandbox, container: NestedContainerRef, force: Force = False
    ) -> RemoveContainerResult:
        """Remove a container inside a sandbox (with its anonymous volumes)."""
        return await containers.remove_container(app.engine, target, container, force=force)


def add_prune(app: "App") -> None:
    Containers = Annotated[bool, Field(description="Remove stopped containers.")]
    Images = Annotated[
        Literal["none", "dangling", "unused"],
        Field(description="'dangling': untagged images; 'unused': every image no remaining container uses."),
    ]
    Volumes = Annotated[bool, Field(description="Remove volumes no remaining container uses.")]
    BuildCache = Annotated[bool, Field(description="Remove the build cache (docker).")]
    DryRun = Annotated[bool, Field(description="Only list what would go, with size estimates.")]

    @app.tool(title="Clean up a sandbox's engine", read_only=False, destructive=True, idempotent=False)
    async def prune(
        sandbox: SandboxRef,
        ctx: Context,
        target: RunningSandbox,
        containers: Containers = True,
        images: Images = "dangling",
        volumes: Volumes = False,
        build_cache: BuildCache = True,
        dry_run: DryRun = False,
    ) -> PruneResult:
        """Free space in one sandbox's own engine: stopped containers, unused images and volumes, build cache.

        Never reaches beyond that sandbox. The result lists what went and the bytes the engine reports
        reclaimed; with dry_run=true nothing is removed and the result lists what would go.
        """
        request = inventory.PruneRequest(
            containers=containers, images=images, volumes=volumes, build_cache=build_cache, dry_run=dry_run
        )
        return await inventory.prune(app.engine, target, request)

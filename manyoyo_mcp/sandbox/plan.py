"""From a create request to the container it stands for (pure: nothing is looked up or created).

The service resolves what needs the host first (host folders, the engine's socket), then plans,
then checks what needs the engine, then creates exactly the planned container and volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.config.run_profiles import SANDBOX_NAME, SANDBOX_NAME_RULE
from manyoyo_mcp.config.settings import InnerEngine, ServerSettings
from manyoyo_mcp.egress import NetworkChoice
from manyoyo_mcp.engine import ContainerSpec, Mount
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.limits import Limits, parse_memory
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.ceilings import Ceilings
from manyoyo_mcp.sandbox.layout import IMAGE_STORE, SANDBOX_STORAGE, SOCK_MODE_SOCKET, WORKSPACE_TARGET
from manyoyo_mcp.sandbox.network import (
    effective_network,
    extra_hosts,
    network_environment,
    network_labels,
    outer_settings,
)
from manyoyo_mcp.sandbox.quota import disk_environment, quota_notices, sandbox_limits, sandbox_profile
from manyoyo_mcp.sandbox.runtime import SOCK_PROFILE

Mode = Literal["dind", "sock"]
STOP_TIMEOUT_S = 30
# The sandbox's own output (its inits' logs, and whatever its root writes to their stdout) is kept
# by the host engine on the host's disk: at most 3 files of 10 MB.
LOG_FILES = ("10m", 3)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A sandbox as create_sandbox (or a run profile) asks for it; None: the operator's default."""

    name: str | None = None
    engine: InnerEngine | None = None
    image: str | None = None
    workspace: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory: str | None = None
    pids: int | None = None
    disk: str | None = None
    mode: Mode | None = None
    """None: dind."""
    network: NetworkChoice | None = None
    """None: the operator's default egress."""
    # From a run profile (the operator's configuration), never from an agent's arguments:
    workspace_target: str = WORKSPACE_TARGET
    volumes: tuple[tuple[str, str, bool], ...] = ()
    ports: tuple[tuple[str, int | None, int, str], ...] = ()
    first: str | None = None


@dataclass(frozen=True, slots=True)
class SandboxPlan:
    """What creating a sandbox makes: its container and, in dind mode, its engine's storage volume."""

    name: str
    engine: InnerEngine
    mode: Mode
    spec: ContainerSpec
    volume: str | None
    """The nested engine's storage (a named volume); None in sock mode."""
    volume_labels: dict[str, str]
    network: NetworkChoice
    """Its egress, enforced by its outer container on a Docker network of its own (spec.network)."""
    network_labels: dict[str, str]
    limits: Limits
    notices: tuple[str, ...] = ()
    """What differs from what was asked, for the agent (no disk quota from an older image)."""


def job_settings_env(settings: ServerSettings) -> dict[str, str]:
    """The operator's bounds on jobs, for the sandbox's sandboxd (read when it starts)."""
    return {
        "MANYOYO_JOBS_MAX_COUNT": str(settings.jobs_max_count),
        "MANYOYO_JOBS_MAX_BYTES": str(parse_memory(settings.jobs_max_bytes)),
        "MANYOYO_JOB_OUTPUT_MAX_BYTES": str(parse_memory(settings.job_output_max_bytes)),
        "MANYOYO_JOB_LEFTOVERS": settings.job_leftovers,
    }


def validate_sandbox_name(name: str) -> str:
    """`name` if it is a sandbox name (SANDBOX_NAME_RULE); else InvalidArgument saying the rule."""
    if not SANDBOX_NAME.fullmatch(name):
        raise InvalidArgument(f"sandbox name {name!r} is not allowed: {SANDBOX_NAME_RULE}")
    return name


# Environment a sandbox gets for its engine (the agent's env may override it). In a podman sandbox
# the docker CLI builds through the classic API, which podman serves with buildah: by default it
# would build with BuildKit through buildx, which podman does not serve, and buildx would then try
# to pull a BuildKit image from Docker Hub.
ENGINE_ENV: dict[str, dict[str, str]] = {"podman": {"DOCKER_BUILDKIT": "0"}}


def _mounts(
    settings: ServerSettings,
    name: str,
    host_socket: str | None,
    workspace: str | None,
    request: CreateRequest,
    volumes: tuple[tuple[str, str, bool], ...],
    store: str | None,
) -> tuple[str | None, list[Mount]]:
    """The sandbox's engine storage volume (None in sock mode: `host_socket` given) and its mounts."""
    if host_socket is not None:  # the host's engine, through its socket, instead of one of its own
        volume = None
        mounts = [Mount(host_socket, SOCK_MODE_SOCKET, "bind")]
    else:
        volume = ownership.engine_volume_name(settings.scope, name)
        mounts = [Mount(volume, SANDBOX_STORAGE, "volume")]
    if workspace:
        mounts.append(Mount(workspace, request.workspace_target, "bind"))
    mounts += [Mount(host, target, "bind", read_only=read_only) for host, target, read_only in volumes]
    if store:
        mounts.append(Mount(store, IMAGE_STORE, "volume", read_only=True))
    return volume, mounts


def plan_sandbox(
    request: CreateRequest,
    settings: ServerSettings,
    ceilings: Ceilings,
    *,
    name: str,
    workspace: str | None = None,
    volumes: tuple[tuple[str, str, bool], ...] = (),
    host_socket: str | None = None,
    user_name: str | None = None,
    host_addresses: tuple[str, ...] = (),
    image_makes_quota: bool = True,
    image_store: str | None = None,
) -> SandboxPlan:
    """The sandbox `request` stands for, named `name` (already validated).

    `workspace` and `volumes` are the request's host folders, resolved (symlinks followed);
    `host_socket` is the host engine's unix socket, mounted in sock mode; `user_name` names the
    workspace owner's user inside (the owner's login name on this machine, when known);
    `host_addresses` are the engine host's own addresses, refused in public mode;
    `image_makes_quota` False: an older image, whose sandboxes get no disk quota; `image_store` names
    the shared image store's volume a podman sandbox reads (image_store.py). Limits default to
    the operator's and may not exceed the `ceilings`. Raises InvalidArgument (limits, env names, podman
    asked for in sock mode) and PolicyDenied (a limit above its ceiling: limits.<kind>-ceiling).
    """
    mode: Mode = request.mode or "dind"
    sock = mode == "sock"
    if sock and request.engine == "podman":
        raise InvalidArgument("sock mode uses the host's Docker engine: leave `engine` out or set it to docker")
    engine_kind: InnerEngine = "docker" if sock else request.engine or settings.default_engine
    assert not sock or host_socket is not None, "the policy refuses sock mode with a remote engine (mode.sock-remote)"
    limits = sandbox_limits(request, ceilings, sock or not image_makes_quota)
    env = validate_env(dict(request.env))
    network = effective_network(request.network, settings)
    labels = {
        **ownership.owner_labels(settings.scope),
        ownership.SANDBOX: name,
        ownership.ENGINE: engine_kind,
        ownership.MODE: mode,
        ownership.DISK: str(limits.disk_bytes or "none"),
    }
    store = image_store if engine_kind == "podman" and not sock else None
    volume, mounts = _mounts(settings, name, host_socket if sock else None, workspace, request, volumes, store)
    if workspace:
        labels[ownership.WORKSPACE] = workspace
    if store:
        labels[ownership.IMAGE_STORE] = store
    spec = ContainerSpec(
        name=ownership.container_name(settings.scope, name),
        image=request.image or settings.sandbox_image,
        hostname=name,
        labels={**labels, ownership.KIND: "sandbox", **network_labels(network)},
        environment={
            **ENGINE_ENV.get(engine_kind, {}),
            **env,
            "MANYOYO_ENGINE": "sock" if sock else engine_kind,
            "MANYOYO_SANDBOX": name,
            **({"MANYOYO_USER_NAME": user_name} if user_name else {}),
            **network_environment(settings, outer_settings(network, settings, host_addresses, request.ports)),
            **disk_environment(limits, settings),
            **({} if sock else job_settings_env(settings)),
            **({"MANYOYO_IMAGE_STORE": "use"} if store else {}),
        },
        mounts=tuple(mounts),
        nano_cpus=int(limits.cpus * 1e9),
        memory_bytes=limits.memory_bytes,
        pids_limit=limits.pids,
        profile=SOCK_PROFILE if sock else sandbox_profile(settings, limits),
        working_dir=request.workspace_target if workspace else None,
        ports=request.ports,
        # A stop gives the nested engine time to stop its containers (docker's own default is 10 s).
        stop_timeout_s=None if sock else STOP_TIMEOUT_S,
        network=ownership.network_name(settings.scope, name),
        extra_hosts=extra_hosts(settings),
        log_files=LOG_FILES,
    )
    storage, net = {**labels, ownership.KIND: "engine-storage"}, {**labels, ownership.KIND: "network"}
    notices = quota_notices(sock or image_makes_quota, ceilings)
    return SandboxPlan(name, engine_kind, mode, spec, volume, storage, network, net, limits, notices)

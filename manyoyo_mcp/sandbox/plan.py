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
from manyoyo_mcp.engine import ContainerSpec, Mount
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.limits import Limits, parse_memory, resolve_limits
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.layout import SANDBOX_STORAGE, SOCK_MODE_SOCKET, WORKSPACE_TARGET
from manyoyo_mcp.sandbox.runtime import SOCK_PROFILE, runtime_profile

Mode = Literal["dind", "sock"]
STOP_TIMEOUT_S = 30


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
    mode: Mode | None = None
    """None: dind."""
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


def plan_sandbox(
    request: CreateRequest,
    settings: ServerSettings,
    *,
    name: str,
    workspace: str | None = None,
    volumes: tuple[tuple[str, str, bool], ...] = (),
    host_socket: str | None = None,
    user_name: str | None = None,
) -> SandboxPlan:
    """The sandbox `request` stands for, named `name` (already validated).

    `workspace` and `volumes` are the request's host folders, resolved (symlinks followed);
    `host_socket` is the host engine's unix socket, mounted in sock mode; `user_name` names the
    workspace owner's user inside (the owner's login name on this machine, when known). Limits default to the
    operator's and may not exceed the ceilings. Raises InvalidArgument (limits, env names, podman
    asked for in sock mode).
    """
    mode: Mode = request.mode or "dind"
    sock = mode == "sock"
    if sock and request.engine == "podman":
        raise InvalidArgument("sock mode uses the host's Docker engine: leave `engine` out or set it to docker")
    engine_kind: InnerEngine = "docker" if sock else request.engine or settings.default_engine
    limits = resolve_limits(
        cpus=request.cpus,
        memory=request.memory,
        pids=request.pids,
        defaults=Limits(settings.default_cpus, parse_memory(settings.default_memory), settings.default_pids),
        ceilings=Limits(settings.max_cpus, parse_memory(settings.max_memory), settings.max_pids),
    )
    env = validate_env(dict(request.env))
    labels = {
        **ownership.owner_labels(settings.scope),
        ownership.SANDBOX: name,
        ownership.ENGINE: engine_kind,
        ownership.MODE: mode,
    }
    if sock:  # the host's engine, through its socket, instead of one of its own
        assert host_socket is not None, "the policy refuses sock mode with a remote engine (mode.sock-remote)"
        volume = None
        mounts = [Mount(host_socket, SOCK_MODE_SOCKET, "bind")]
    else:
        volume = ownership.engine_volume_name(settings.scope, name)
        mounts = [Mount(volume, SANDBOX_STORAGE, "volume")]
    if workspace:
        mounts.append(Mount(workspace, request.workspace_target, "bind"))
        labels[ownership.WORKSPACE] = workspace
    mounts += [Mount(host, target, "bind", read_only=read_only) for host, target, read_only in volumes]
    spec = ContainerSpec(
        name=ownership.container_name(settings.scope, name),
        image=request.image or settings.sandbox_image,
        hostname=name,
        labels={**labels, ownership.KIND: "sandbox"},
        environment={
            **env,
            "MANYOYO_ENGINE": "sock" if sock else engine_kind,
            "MANYOYO_SANDBOX": name,
            **({"MANYOYO_USER_NAME": user_name} if user_name else {}),
            **({} if sock else job_settings_env(settings)),
        },
        mounts=tuple(mounts),
        nano_cpus=int(limits.cpus * 1e9),
        memory_bytes=limits.memory_bytes,
        pids_limit=limits.pids,
        profile=SOCK_PROFILE if sock else runtime_profile(settings.runtime_profile),
        working_dir=request.workspace_target if workspace else None,
        ports=request.ports,
        # A stop gives the nested engine time to stop its containers (docker's own default is 10 s).
        stop_timeout_s=None if sock else STOP_TIMEOUT_S,
    )
    return SandboxPlan(name, engine_kind, mode, spec, volume, {**labels, ownership.KIND: "engine-storage"})

"""The engine's data: what callers hand it (specs, built from validated, policy-approved fields only)
and what it hands back (summaries, details, inventories), as frozen values without docker-py in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# -- the host engine ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuntimeProfile:
    """The security settings of a sandbox's outer container (the table is sandbox/runtime.py)."""

    name: str
    summary: str
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()
    # A cgroup namespace of its own: the sandbox (and its nested engine) sees its own cgroup as
    # the root, so nested containers stay inside the sandbox's limits, and no hierarchy root with
    # a release_agent (a host-side program run by the kernel) can be mounted.
    cgroupns: str = "private"
    # Resource limits (name, soft, hard; -1: unlimited) set by the host's engine on a cgroup v2 host,
    # where they are needed: nothing inside can raise them (raising a hard limit needs
    # CAP_SYS_RESOURCE in the host's namespace); a v1 host's engine may be unable to (engine/host.py).
    ulimits: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Mount:
    source: str
    target: str
    kind: Literal["volume", "bind"]
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """A container to create, built by the caller from validated, policy-approved fields only."""

    name: str
    image: str
    labels: dict[str, str]
    environment: dict[str, str]
    mounts: tuple[Mount, ...]
    nano_cpus: int
    memory_bytes: int
    pids_limit: int
    profile: RuntimeProfile
    hostname: str | None = None
    working_dir: str | None = None
    ports: tuple[tuple[str, int | None, int, str], ...] = ()
    """Published ports: (host ip, host port or None for any, container port, protocol)."""
    stop_timeout_s: int | None = None
    """Seconds `docker stop` waits before it kills (None: the engine's default, 10)."""
    log_files: tuple[str, int] | None = None
    """The container's own output kept by the engine: (size of a file, e.g. "10m", how many files);
    None: the engine's default (unbounded with json-file)."""
    network: str | None = None
    """The network it joins (a network of its own, made with it); None: the engine's default bridge."""
    extra_hosts: tuple[tuple[str, str], ...] = ()
    """(name, address) lines added to its /etc/hosts."""


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    id: str
    name: str
    state: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class ContainerDetails:
    id: str
    name: str
    state: str
    image: str
    labels: dict[str, str]
    created: str
    started_at: str
    nano_cpus: int
    memory_bytes: int
    pids_limit: int
    mounts: tuple[Mount, ...] = field(default=())


# -- a sandbox's own engine -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NestedContainer:
    id: str
    name: str
    image: str
    image_id: str
    state: str
    status: str
    created: int
    exit_code: int | None
    ports: tuple[str, ...]
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NestedImage:
    id: str
    tags: tuple[str, ...]
    size: int
    created: int
    shared: bool = False
    """podman: read from the server's shared image store (read-only; not this sandbox's to remove)."""


@dataclass(frozen=True, slots=True)
class NestedVolume:
    name: str
    driver: str


@dataclass(frozen=True, slots=True)
class NestedNetwork:
    name: str
    driver: str
    id: str


@dataclass(frozen=True, slots=True)
class NestedInventory:
    containers: tuple[NestedContainer, ...]
    images: tuple[NestedImage, ...]
    volumes: tuple[NestedVolume, ...]
    networks: tuple[NestedNetwork, ...]


@dataclass(frozen=True, slots=True)
class NestedPort:
    container_port: int
    protocol: Literal["tcp", "udp"] = "tcp"
    host_port: int | None = None
    host_ip: str = ""


@dataclass(frozen=True, slots=True)
class NestedMount:
    source: str  # a nested volume name, or an absolute path inside the sandbox
    target: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class NestedTmpfs:
    target: str
    options: tuple[str, ...] = ()
    """Mount options the policy allowed (size=64m, mode=1777, noexec ...)."""


@dataclass(frozen=True, slots=True)
class NestedRunSpec:
    """A nested container to create, from validated fields only."""

    image: str
    command: tuple[str, ...] | None
    name: str | None
    env: dict[str, str]
    labels: dict[str, str]
    ports: tuple[NestedPort, ...]
    mounts: tuple[NestedMount, ...]
    workdir: str | None
    network: str | None
    nano_cpus: int
    memory_bytes: int
    pids_limit: int
    cap_add: tuple[str, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    restart: tuple[str, int] = ("no", 0)
    init: bool = False
    """An init as the container's PID 1 (docker-init / catatonit) that reaps orphaned children."""
    user: str | None = None
    """'uid[:gid]' or 'name[:group]' as the image knows them; None: the image's own user."""
    read_only: bool = False
    tmpfs: tuple[NestedTmpfs, ...] = ()


@dataclass(frozen=True, slots=True)
class NestedBuildSpec:
    """A build, from validated fields only."""

    dockerfile: str
    """The Dockerfile's path inside the context."""
    tag: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    secrets: dict[str, str] = field(default_factory=dict)
    """id -> where the builder finds the secret: a file name in the context for podman's API (which
    moves it out before the build), a path in the sandbox for BuildKit's CLI."""


@dataclass(frozen=True, slots=True)
class NestedContainerState:
    id: str
    name: str
    image: str
    state: str
    exit_code: int | None
    oom_killed: bool
    ports: tuple[str, ...]
    ip_addresses: dict[str, str]


@dataclass(frozen=True, slots=True)
class ImageCopy:
    """A host image copied into a sandbox's engine."""

    loaded: tuple[str, ...]  # the names (or ids) the sandbox's engine reports loaded
    bytes_sent: int
    image_id: str
    size: int


@dataclass(frozen=True, slots=True)
class PruneReport:
    removed: tuple[str, ...] = ()
    bytes_reclaimed: int = 0


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Per-object sizes from the engine's /system/df (unique bytes for images)."""

    image_bytes: dict[str, int] = field(default_factory=dict)
    volume_bytes: dict[str, int] = field(default_factory=dict)
    build_cache: tuple[tuple[str, int], ...] = ()  # (id, bytes) of entries not in use


# -- the host's resources -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What the host engine's machine has, for ceilings derived from it."""

    cpus: int
    memory_bytes: int
    pid_max: int
    disk_free_bytes: int | None
    """Free space where the engine keeps volumes; None when it cannot be measured (a remote engine)."""
    source: str
    """Where the figures come from: this machine, or the engine's report (pid_max then estimated)."""


# -- from the engines' answers ----------------------------------------------------------


def image_id(image_id: str) -> str:
    """podman gives image ids without the digest algorithm; docker with."""
    return image_id if ":" in image_id else f"sha256:{image_id}"


def tags_of(tags: list[str] | None) -> tuple[str, ...]:
    return tuple(t for t in tags or () if t not in ("<none>:<none>", "<none>"))


def nested_container(row: dict[str, Any], exit_code: int | None) -> NestedContainer:
    return NestedContainer(
        id=row["Id"],
        name=(row.get("Names") or ["/"])[0].lstrip("/"),
        image=row.get("Image", ""),
        image_id=image_id(row.get("ImageID", "")) if row.get("ImageID") else "",
        state=row.get("State", "unknown"),
        status=row.get("Status", ""),
        created=int(row.get("Created") or 0),
        exit_code=exit_code,
        ports=tuple(
            f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p.get('Type', 'tcp')}"
            if p.get("PublicPort")
            else f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
            for p in row.get("Ports") or []
        ),
        volumes=tuple(m["Name"] for m in row.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name")),
    )

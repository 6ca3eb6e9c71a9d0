"""Server settings: what the operator decides, never the agent.

One model for every source: built-in defaults, the user file (~/.manyoyo/manyoyo.json), the
project file (.manyoyo.json), MANYOYO_* environment variables and `serve` flags; config.py
layers them. Run profiles and agents come from the files only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from manyoyo_mcp.config.agents import AgentSpec
from manyoyo_mcp.config.run_profiles import IMPLICIT_RUN, RunProfile
from manyoyo_mcp.egress import NetworkMode, parse_destination, wider
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.limits import parse_duration

InnerEngine = Literal["docker", "podman"]
DEFAULT_IMAGE = "manyoyo-sandbox:2"


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    docker_host: str | None = None
    """Host engine endpoint (e.g. unix:///var/run/docker.sock); None uses DOCKER_HOST or the default."""

    scope: str = Field("default", pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    """Ownership scope: a server sees only the sandboxes created under its own scope."""

    sandbox_image: str = DEFAULT_IMAGE
    """Image for new sandboxes, built by `manyoyo-mcp image build`."""

    extra_sandbox_images: tuple[str, ...] = ()
    """Other images an agent may ask create_sandbox for (comma-separated in the environment)."""

    default_engine: InnerEngine = "docker"
    """Engine started inside a sandbox when the agent does not choose one."""

    sock_mode: Literal["off", "confirm", "preapproved"] = "off"
    """Sandboxes with the host's engine socket mounted (root on the host). off: refused. confirm: a
    human confirms each one through the MCP client (elicitation); clients that cannot ask are
    refused. preapproved: the operator approves them all here."""

    runtime_profile: str = "standard"
    """Security settings of the outer container: see manyoyo_mcp.sandbox.runtime.PROFILES."""

    default_cpus: float = Field(2.0, gt=0)
    max_cpus: float | None = Field(None, gt=0)
    """Per sandbox; None: host_cpu_share of the host's CPUs (a value here is lowered to that too)."""
    default_memory: str = "4g"
    max_memory: str = "16g"
    default_pids: int = Field(4096, ge=64)
    max_pids: int | None = Field(None, ge=64)
    """Per sandbox; None: host_pid_share of the host's kernel.pid_max (a value here is lowered to that too)."""

    exec_timeout_s: float = Field(600, gt=0)
    """Timeout of `exec` when the agent gives none."""
    max_exec_timeout_s: float = Field(3600, gt=0)
    """The longest `exec` timeout an agent may ask for."""

    output_cap_bytes: int = Field(1024 * 1024, ge=1024)
    """Per stream: output beyond this keeps its head and tail with a marker between."""
    max_write_file_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    """The largest content write_file takes (decoded bytes); read_file returns at most output_cap_bytes a call."""

    # -- commands through sandboxd, and their output (README: exec and jobs) --
    output_budget_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    """exec results: stdout and stderr together, in bytes (about 5k tokens by default); beyond it
    each keeps its head and tail, and the result names the files inside the sandbox holding it all."""
    jobs_max_count: int = Field(100, ge=1)
    """Jobs a sandbox keeps: running ones, and the latest ended ones with their output files."""
    jobs_max_bytes: str = "1g"
    """Disk the kept jobs' output files may use in one sandbox; past it the oldest ended jobs go."""
    job_output_max_bytes: str = "128m"
    """One output file of one job: past it its head and tail are kept, the middle dropped."""
    job_leftovers: Literal["report", "kill"] = "report"
    """Processes a command leaves running after it exits: reported in the result (report), or
    reported and killed (kill)."""

    ready_timeout_s: float = Field(120, gt=0)
    """How long create_sandbox waits for the nested engine to answer."""

    nested_default_cpus: float = Field(1.0, gt=0)
    nested_default_memory: str = "1g"
    nested_default_pids: int = Field(1024, ge=64)
    """Limits of a nested container (run_container) when the agent gives none; never above the sandbox's."""

    max_sandboxes: int = Field(20, ge=1)
    """How many sandboxes this server's scope may hold at once."""
    max_nested_containers: int = Field(100, ge=1)
    """How many containers (any state) one sandbox's engine may hold when run_container adds one."""

    secret_build_args: Literal["refuse", "warn", "allow"] = "refuse"
    """Build args that look like secrets (by name or value): refused, allowed with a warning in the
    audit log, or allowed."""

    max_build_context: str = "2g"
    """The largest build context build_image sends to a sandbox's engine."""

    loadable_images: tuple[str, ...] = ()
    """Host images load_image may copy into sandboxes: tags or shell patterns, e.g. 'node:*' (comma-separated)."""

    preload_images: tuple[str, ...] = ()
    """Host images copied into every new sandbox (comma-separated); each must exist on the host."""

    shared_images: bool = True
    """Podman sandboxes read the images load_image and preload_images bring from one read-only
    store the server keeps (a volume of this scope), instead of a copy each: the first load of an
    image fills the store, later ones of the same image in any podman sandbox take no copy.
    Docker sandboxes always get a copy (dockerd has no read-only image store)."""

    allowed_host_roots: tuple[str, ...] = Field(default_factory=lambda: (os.getcwd(),))
    """Host folders under which a sandbox's workspace may be (comma-separated). Default: the folder
    the server was started in, i.e. the project the agent works on."""

    audit_dir: str = "~/.manyoyo/audit"
    """Where the audit log lives (JSON Lines, hash-chained, one file per day and size step)."""
    audit_max_bytes: int = Field(10 * 1024 * 1024, ge=4096)
    """A log file is continued in a new one past this size (and every UTC day)."""
    audit_max_total_bytes: int = Field(1024**3, ge=3 * 4096)
    """The most the log's files may hold together (at least 3 files' worth)."""
    audit_retention: Literal["drop-oldest", "keep"] = "drop-oldest"
    """Past audit_max_total_bytes: the oldest files go (the chain records what went), or nothing
    goes and every call is refused until the operator archives old files."""
    audit_min_free_bytes: int = Field(256 * 1024**2, ge=0)
    """Calls are refused (recorded, rule audit.disk-low) while the log's filesystem has less free."""
    audit_max_value_bytes: int = Field(4096, ge=256)
    """A recorded text longer than this is kept as its size, a keyed digest and its head."""

    # -- resources (issue 14): disk quotas, ceilings from the host, totals, idle sandboxes ----
    disk_quota: Literal["required", "if-possible", "off"] = "required"
    """A dind sandbox's disk: a fixed-size filesystem image on a loop device holding everything it
    writes. required: a host without loop devices refuses to make sandboxes; if-possible: there they
    run without a quota (create_sandbox says so); off: no quota, no loop device in the sandbox."""
    default_disk: str = "8g"
    max_disk: str = "64g"
    """A sandbox's disk quota when the agent gives none, and the most it may ask for."""
    host_cpu_share: float = Field(0.75, gt=0)
    host_pid_share: float = Field(0.25, gt=0, le=1)
    """Per-sandbox ceilings from the host: this share of its CPUs and of its kernel.pid_max."""
    max_total_cpus: float | None = Field(None, gt=0)
    max_total_memory: str | None = None
    max_total_pids: int | None = Field(None, ge=64)
    max_total_disk: str | None = None
    """The most all of this scope's sandboxes may hold together (CPUs, memory and pids of the
    running ones, disk quotas of all); None: the share of the host below (a value is lowered to it)."""
    total_cpu_share: float = Field(4.0, gt=0)
    total_memory_share: float = Field(0.75, gt=0)
    total_pid_share: float = Field(0.5, gt=0, le=1)
    total_disk_share: float = Field(0.8, gt=0)
    """Shares of the host's CPUs (above 1: time-shared), memory, kernel.pid_max and of the disk
    space free where sandboxes' volumes live (measured when first needed; unknown for a remote engine)."""
    idle_ttl: str | None = None
    """Sandboxes with no tool call for this long ('8h', '2d') are stopped by the server and by
    `manyoyo-mcp gc`; None: never."""
    idle_action: Literal["stop", "remove"] = "stop"
    """What happens to an idle sandbox: stopped (kept, with its storage), or removed with its volume."""
    warm_pool: tuple[str, ...] = ()
    """Ready sandboxes kept waiting, so that create_sandbox without a name hands one out at once:
    `N` for calls that name no run profile, `<run profile>=N` for a profile's (comma-separated)."""

    # -- network: a sandbox's egress, enforced outside the agent's reach (egress.py) ------------
    network_default: NetworkMode | None = None
    """A sandbox's egress when neither the call nor its run profile names one: none (no network),
    allowlist (only network_allow's destinations) or public (the internet, never the host's own
    addresses, other sandboxes, private, loopback, link-local or metadata ranges). None: the ceiling."""
    network_ceiling: NetworkMode = "public"
    """The widest egress a call or run profile may ask for (none < allowlist < public)."""
    network_allow: tuple[str, ...] = ()
    """allowlist mode's destinations when the call lists none: public addresses or CIDRs with an
    optional port (203.0.113.7:443) and host names reached over HTTP(S) through the sandbox's proxy
    (registry.npmjs.org, *.debian.org); comma-separated."""
    network_exceptions: tuple[str, ...] = ()
    """Destinations reached in public and allowlist modes although private or the host's own (one
    host service on one port: 172.17.0.1:5432); comma-separated."""
    network_hosts: tuple[str, ...] = ()
    """Host names every sandbox resolves, name=address (docker's --add-host); comma-separated."""
    network_proxy: str | None = None
    """The operator's HTTP(S) proxy, http://host:port: the sandboxes' and nested engines' proxy
    (allowlist mode's proxy forwards to it). Reaching it takes an exception if it is private."""
    registry_mirrors: tuple[str, ...] = ()
    """Registry mirrors of Docker Hub for the nested engines (https://mirror.example:5000); comma-separated."""

    default_run: str | None = None
    """The run profile create_sandbox and launch_agent use when the agent names none."""
    runs: dict[str, RunProfile] = Field(default_factory=dict)
    """Run profiles by name (runs.<name> and run/<name>.json of the configuration, merged)."""
    implicit_run: RunProfile | None = None
    """The implicit default profile: the top-level keys of the user and project files, used when
    a call names no profile and default_run is not set. None when those files have no such keys."""
    agents: dict[str, AgentSpec] = Field(default_factory=dict)
    """Agents added to or replacing the built-in table (claude, gemini, codex, opencode)."""

    @field_validator("idle_ttl")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        try:
            return None if value is None else (parse_duration(value) and value)
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from None

    @field_validator("warm_pool")
    @classmethod
    def _pool_sizes(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        pool_sizes(entries)
        return entries

    @field_validator("network_allow", "network_exceptions")
    @classmethod
    def _destinations(cls, entries: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for entry in entries:
            destination = parse_destination(entry)
            if info.field_name == "network_exceptions" and destination.is_host:
                raise ValueError(f"{entry!r}: an exception is an address or CIDR (with a port), not a host name")
            if info.field_name == "network_allow" and not (destination.is_host or destination.public()):
                raise ValueError(f"{entry!r} is in a range public mode refuses: list it in network_exceptions instead")
        return entries

    @field_validator("network_hosts")
    @classmethod
    def _hosts(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            name, _, address = entry.partition("=")
            if not parse_destination(name).is_host or parse_destination(address).is_host:
                raise ValueError(f"{entry!r} is not name=address")
        return entries

    @model_validator(mode="after")
    def _pools_of_known_profiles(self) -> ServerSettings:
        unknown = [key for key in pool_sizes(self.warm_pool) if key and key not in self.profiles()]
        if unknown:
            known = ", ".join(sorted(self.profiles())) or "none"
            raise ValueError(
                f"warm_pool (MANYOYO_WARM_POOL) names run profile {unknown[0]!r}, which is not configured "
                f"(run profiles: {known})"
            )
        return self

    @model_validator(mode="after")
    def _default_within_ceiling(self) -> ServerSettings:
        if self.network_default is not None and wider(self.network_default, self.network_ceiling):
            raise ValueError(
                f"network_default {self.network_default!r} is wider than network_ceiling {self.network_ceiling!r}"
            )
        return self

    @property
    def network_mode(self) -> NetworkMode:
        """The egress of a sandbox whose call and run profile name none."""
        return self.network_default or self.network_ceiling

    def run_profile(self, given: str | None) -> tuple[str | None, RunProfile | None]:
        """The run profile a call uses, by name: the one it names, else default_run, else the
        implicit default (IMPLICIT_RUN). The profile is None for a name the operator never
        configured (the policy refuses it), and both are None when there is no profile at all."""
        name = given or self.default_run
        if name is not None:
            return name, self.runs.get(name)
        if self.implicit_run is not None:
            return IMPLICIT_RUN, self.implicit_run
        return None, None

    def profiles(self) -> dict[str, RunProfile]:
        """Every run profile by name, the implicit default (if any) last."""
        implicit = {} if self.implicit_run is None else {IMPLICIT_RUN: self.implicit_run}
        return {**self.runs, **implicit}

    @property
    def audit_path(self) -> Path:
        return Path(self.audit_dir).expanduser()

    def host_engine_url(self) -> str:
        """Where the host engine answers: the setting, else DOCKER_HOST, else the local socket."""
        return self.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"

    def host_engine_socket(self) -> str | None:
        """The host engine's unix socket on this machine (sock mode mounts it); None when it is remote."""
        url = self.host_engine_url()
        return url.removeprefix("unix://") if url.startswith("unix://") else None


ENV_PREFIX = "MANYOYO_"
LIST_FIELDS = frozenset(
    {
        "extra_sandbox_images",
        "loadable_images",
        "preload_images",
        "allowed_host_roots",
        "network_allow",
        "network_exceptions",
        "network_hosts",
        "registry_mirrors",
        "warm_pool",
    }
)
POOL_DEFAULT = ""
"""The warm pool's key for calls that name no run profile."""
MAX_POOL = 8


def pool_sizes(entries: tuple[str, ...]) -> dict[str, int]:
    """The warm pool's sizes by run profile name (POOL_DEFAULT: calls naming none) from entries
    `N` or `<profile>=N`, N from 0 to MAX_POOL. Raises ValueError saying what is allowed."""
    sizes: dict[str, int] = {}
    for entry in entries:
        profile, _, size = entry.rpartition("=")
        if not size.strip().isdigit() or int(size) > MAX_POOL or profile.strip() in sizes:
            raise ValueError(
                f"warm pool entry {entry!r}: give N, or <run profile>=N, N from 0 to {MAX_POOL}, once per profile"
            )
        sizes[profile.strip()] = int(size)
    return sizes


FILE_ONLY_FIELDS = frozenset({"runs", "implicit_run", "agents"})


def env_values(environ: dict[str, str]) -> dict[str, object]:
    """The settings MANYOYO_<FIELD> variables give (lists comma-separated)."""
    values: dict[str, object] = {}
    for field in ServerSettings.model_fields.keys() - FILE_ONLY_FIELDS:
        raw = environ.get(ENV_PREFIX + field.upper())
        if raw is not None and raw != "":
            values[field] = tuple(filter(None, map(str.strip, raw.split(",")))) if field in LIST_FIELDS else raw
    return values


def settings_from_env(environ: dict[str, str] | None = None, **overrides: object) -> ServerSettings:
    """Settings from MANYOYO_<FIELD> variables, then explicit overrides (serve flags) on top."""
    values = env_values(dict(os.environ if environ is None else environ))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServerSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        raise InvalidArgument(f"invalid server settings: {problems}") from exc

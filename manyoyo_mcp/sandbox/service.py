"""Sandbox lifecycle: create (and wait for the nested engine), list, resolve, remove.

Every lookup goes through the owner labels; a sandbox reference is resolved here, once, to a
full container id, and only that id is ever passed to the engine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import anyio

from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.config.run_profiles import SANDBOX_NAME, SANDBOX_NAME_RULE
from manyoyo_mcp.config.settings import InnerEngine, ServerSettings
from manyoyo_mcp.engine import ContainerDetails, ContainerSpec, ContainerSummary, Engine, Mount, ObjectConflict
from manyoyo_mcp.errors import (
    FirstCommandFailed,
    ImageMissing,
    InvalidArgument,
    PolicyDenied,
    SandboxConflict,
    SandboxNotFound,
    SandboxNotReady,
    SandboxNotRunning,
)
from manyoyo_mcp.limits import Limits, format_memory, parse_memory, resolve_limits
from manyoyo_mcp.models import CreateSandboxResult, LimitsView, RemoveSandboxResult, SandboxView
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.execution import ExecRequest, run_exec
from manyoyo_mcp.sandbox.layout import ENGINE_LOG, ENGINE_SOCKETS, ENGINE_STORAGE, WORKSPACE_TARGET
from manyoyo_mcp.sandbox.runtime import SOCK_PROFILE, runtime_profile
from manyoyo_mcp.threads import in_thread

BUILD_HELP = (
    "build it with `manyoyo-mcp image build` (on a machine with no registry: `scripts/base-image`, then "
    "`manyoyo-mcp image build --base manyoyo-base:bookworm`)"
)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    name: str | None = None
    engine: InnerEngine | None = None
    image: str | None = None
    workspace: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory: str | None = None
    pids: int | None = None
    mode: Literal["dind", "sock"] | None = None
    """None: dind."""
    # From a run profile (the operator's configuration), never from an agent's arguments:
    workspace_target: str = WORKSPACE_TARGET
    volumes: tuple[tuple[str, str, bool], ...] = ()
    ports: tuple[tuple[str, int | None, int, str], ...] = ()
    first: str | None = None


def host_socket_path(settings: ServerSettings) -> str | None:
    """The host engine's unix socket on this machine, or None when the engine is remote."""
    url = settings.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return url.removeprefix("unix://") if url.startswith("unix://") else None


def validate_sandbox_name(name: str) -> str:
    if not SANDBOX_NAME.fullmatch(name):
        raise InvalidArgument(f"sandbox name {name!r} is not allowed: {SANDBOX_NAME_RULE}")
    return name


def resolve_workspace(path: str) -> str:
    """An existing host directory, as an absolute path with symlinks resolved."""
    return resolve_host_path(path, "workspace", directory=True)


def resolve_host_path(path: str, what: str, directory: bool = False) -> str:
    """An existing host folder (or file), absolute with symlinks resolved (judged by the policy before)."""
    if "\x00" in path:
        raise InvalidArgument(f"{what} path contains a NUL byte")
    resolved = Path(os.path.expanduser(path)).resolve()
    if not (resolved.is_dir() if directory else resolved.exists()):
        kind = "directory" if directory else "file or directory"
        raise InvalidArgument(f"{what} {path!r} is not an existing {kind} on the host")
    return str(resolved)


class SandboxService:
    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._owner = ownership.owner_labels(settings.scope)

    # -- lookups --------------------------------------------------------------------------

    async def owned(self) -> list[ContainerSummary]:
        containers = await in_thread(self.engine.list_containers, {**self._owner, ownership.KIND: "sandbox"})
        return sorted(containers, key=lambda c: c.labels.get(ownership.SANDBOX, ""))

    async def resolve(self, reference: str) -> ContainerSummary:
        owned = await self.owned()
        found = ownership.match_reference(reference, owned)
        if found is None:
            names = [c.labels.get(ownership.SANDBOX, "?") for c in owned]
            listing = ", ".join(names) if names else "none yet: create one with create_sandbox"
            raise SandboxNotFound(
                f"no sandbox named {reference!r} (references are an exact sandbox name or a full id). "
                f"Sandboxes: {listing}"
            )
        return found

    async def resolve_running(self, reference: str) -> ContainerSummary:
        found = await self.resolve(reference)
        if found.state != "running":
            raise SandboxNotRunning(
                f"sandbox {reference!r} is {found.state}; call create_sandbox with name {reference!r} to start it again"
            )
        return found

    async def details(self, sandbox: ContainerSummary) -> ContainerDetails:
        return await in_thread(self.engine.inspect_container, sandbox.id)

    async def list(self) -> list[SandboxView]:
        views = []
        for container in await self.owned():
            details = await in_thread(self.engine.inspect_container, container.id)
            views.append(_view(details))
        return views

    # -- create ---------------------------------------------------------------------------

    async def create(self, request: CreateRequest) -> CreateSandboxResult:
        started = time.monotonic()
        name = validate_sandbox_name(request.name) if request.name else f"sbx-{secrets.token_hex(3)}"
        owned = await self.owned()
        existing = ownership.match_reference(name, owned)
        if existing is not None:
            return await self._reuse(existing, request, started)

        if len(owned) >= self.settings.max_sandboxes:
            raise PolicyDenied(
                rule_ids.QUOTA_SANDBOXES.id,
                f"this server may hold {self.settings.max_sandboxes} sandboxes and has {len(owned)}: remove one "
                "with remove_sandbox, or reuse one by name",
            )
        mode = request.mode or "dind"
        sock = mode == "sock"
        if sock and request.engine == "podman":
            raise InvalidArgument("sock mode uses the host's Docker engine: leave `engine` out or set it to docker")
        engine_kind = "docker" if sock else request.engine or self.settings.default_engine
        image = self._image(request.image)
        limits = self._limits(request)
        env = validate_env(dict(request.env))
        workspace = resolve_workspace(request.workspace) if request.workspace else None
        profile = SOCK_PROFILE if sock else runtime_profile(self.settings.runtime_profile)
        host_socket = host_socket_path(self.settings)
        if sock and host_socket is None:
            raise PolicyDenied(rule_ids.SOCK_REMOTE.id, "sock mode needs the host engine's socket on this machine")

        if not await in_thread(self.engine.image_present, image):
            raise ImageMissing(f"sandbox image {image!r} is not on the engine: {BUILD_HELP}")
        for ref in self.settings.preload_images:
            if await in_thread(self.engine.image_tags, ref) is None:
                raise ImageMissing(
                    f"the operator's preload image {ref!r} (MANYOYO_PRELOAD_IMAGES) is not on the host engine: "
                    "the operator must build or pull it, or remove it from the preload list"
                )
        cname = ownership.container_name(self.settings.scope, name)
        if await in_thread(self.engine.container_named, cname) is not None:
            raise SandboxConflict(
                f"a container named {cname!r} already exists on the host and is not a sandbox of this "
                "server; choose another sandbox name"
            )

        labels = {**self._owner, ownership.SANDBOX: name, ownership.ENGINE: engine_kind, ownership.MODE: mode}
        volume = None if sock else ownership.engine_volume_name(self.settings.scope, name)
        if volume is None:  # sock mode: the host's engine, through its socket, instead of one of its own
            mounts = [Mount(str(host_socket), ENGINE_SOCKETS["docker"], "bind")]
        else:
            mounts = [Mount(volume, ENGINE_STORAGE[engine_kind], "volume")]
        if workspace:
            mounts.append(Mount(workspace, request.workspace_target, "bind"))
            labels[ownership.WORKSPACE] = workspace
        for host, target, read_only in request.volumes:
            mounts.append(Mount(resolve_host_path(host, "profile volume"), target, "bind", read_only=read_only))
        spec = ContainerSpec(
            name=cname,
            image=image,
            hostname=name,
            labels={**labels, ownership.KIND: "sandbox"},
            environment={**env, "MANYOYO_ENGINE": "sock" if sock else engine_kind, "MANYOYO_SANDBOX": name},
            mounts=tuple(mounts),
            nano_cpus=int(limits.cpus * 1e9),
            memory_bytes=limits.memory_bytes,
            pids_limit=limits.pids,
            profile=profile,
            working_dir=request.workspace_target if workspace else None,
            ports=request.ports,
        )

        if volume is not None:
            await in_thread(self.engine.create_volume, volume, {**labels, ownership.KIND: "engine-storage"})
        try:
            container_id = await in_thread(self.engine.create_container, spec)
        except ObjectConflict as exc:
            # A concurrent create_sandbox of the same name won the race: hand back its sandbox.
            winner = ownership.match_reference(name, await self.owned())
            if winner is not None:
                return await self._reuse(winner, request, started)
            raise SandboxConflict(f"sandbox name {name!r} is taken: {exc}") from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                if volume is not None:
                    await in_thread(self.engine.remove_volume, volume)
            raise
        try:
            await in_thread(self.engine.start_container, container_id)
            version = await self._wait_ready(container_id, engine_kind)
            for ref in () if sock else self.settings.preload_images:
                await in_thread(self.engine.copy_image, ref, container_id, ENGINE_SOCKETS[engine_kind], engine_kind)
            if request.first:
                await self._run_first(container_id, request)
        except BaseException:
            # Nothing half-done: a sandbox whose engine never answered is removed with its storage.
            with anyio.CancelScope(shield=True):
                await in_thread(self.engine.remove_container, container_id)
                if volume is not None:
                    await in_thread(self.engine.remove_volume, volume)
            raise

        details = await in_thread(self.engine.inspect_container, container_id)
        return CreateSandboxResult(
            **_view(details).model_dump(),
            created=True,
            ready_s=round(time.monotonic() - started, 3),
            engine_version=version,
            preloaded=[] if sock else list(self.settings.preload_images),
        )

    async def _reuse(self, existing: ContainerSummary, request: CreateRequest, started: float) -> CreateSandboxResult:
        name = existing.labels.get(ownership.SANDBOX, "")
        engine_kind = existing.labels.get(ownership.ENGINE, "docker")
        mode = existing.labels.get(ownership.MODE, "dind")
        if (request.mode or "dind") != mode:
            raise SandboxConflict(
                f"sandbox {name!r} exists in {mode} mode; use it as it is, or remove_sandbox and create it again "
                f"in {request.mode or 'dind'} mode"
            )
        if request.engine and request.engine != engine_kind:
            raise SandboxConflict(
                f"sandbox {name!r} exists with engine {engine_kind!r}; use it as it is, or remove_sandbox "
                f"and create it again with engine {request.engine!r}"
            )
        if existing.state != "running":
            await in_thread(self.engine.start_container, existing.id)
        version = await self._wait_ready(existing.id, engine_kind)
        details = await in_thread(self.engine.inspect_container, existing.id)
        return CreateSandboxResult(
            **_view(details).model_dump(),
            created=False,
            ready_s=round(time.monotonic() - started, 3),
            engine_version=version,
            preloaded=[],
        )

    async def _run_first(self, container_id: str, request: CreateRequest) -> None:
        """The profile's `first` command, once, in a new sandbox; a failure removes the sandbox."""
        outcome = await run_exec(
            self.engine,
            container_id,
            ExecRequest(command=str(request.first), timeout_s=self.settings.exec_timeout_s),
            self.settings.output_cap_bytes,
        )
        if outcome.exit_code != 0:
            tail = (outcome.stderr or outcome.stdout).strip()[-2000:]
            why = "timed out" if outcome.timed_out else f"exited with {outcome.exit_code}"
            raise FirstCommandFailed(
                f"the profile's first command {why}; the sandbox was removed. Its output ends:\n{tail}"
            )

    def _image(self, requested: str | None) -> str:
        allowed = (self.settings.sandbox_image, *self.settings.extra_sandbox_images)
        if requested is None:
            return self.settings.sandbox_image
        if requested not in allowed:
            raise InvalidArgument(
                f"image {requested!r} is not allowed for sandboxes: use one of {', '.join(allowed)} "
                "(the operator adds others with MANYOYO_EXTRA_SANDBOX_IMAGES)"
            )
        return requested

    def _limits(self, request: CreateRequest) -> Limits:
        s = self.settings
        return resolve_limits(
            cpus=request.cpus,
            memory=request.memory,
            pids=request.pids,
            defaults=Limits(s.default_cpus, parse_memory(s.default_memory), s.default_pids),
            ceilings=Limits(s.max_cpus, parse_memory(s.max_memory), s.max_pids),
        )

    async def _wait_ready(self, container_id: str, engine_kind: str) -> str:
        """Poll the nested engine's API (GET /version on its socket) until it answers."""
        probe = [
            "curl", "-sf", "--max-time", "2", "--unix-socket", ENGINE_SOCKETS[engine_kind], "http://localhost/version",
        ]  # fmt: skip
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while True:
            code, out, _ = await in_thread(self.engine.exec_run, container_id, probe)
            if code == 0:
                try:
                    return str(json.loads(out).get("Version", "unknown"))
                except ValueError:
                    return "unknown"
            if time.monotonic() > deadline:
                _, log, _ = await in_thread(self.engine.exec_run, container_id, ["tail", "-n", "20", ENGINE_LOG])
                raise SandboxNotReady(
                    f"the nested {engine_kind} engine did not answer within {self.settings.ready_timeout_s:g}s. "
                    f"Last lines of {ENGINE_LOG}:\n{log.strip()}\nIf it reports read-only cgroups or missing "
                    "permissions, the operator may need another runtime profile (see README, runtime profiles)."
                )
            await anyio.sleep(0.1)

    # -- remove ---------------------------------------------------------------------------

    async def remove(self, reference: str) -> RemoveSandboxResult:
        found = await self.resolve(reference)
        name = found.labels.get(ownership.SANDBOX, "")
        if found.labels.get(ownership.MODE) == "sock":  # what its tools made on the host goes with it
            await in_thread(self.engine.remove_labelled, {ownership.SOCK_OF: found.id})
        await in_thread(self.engine.remove_container, found.id)
        volumes = await in_thread(
            self.engine.list_volumes, {**self._owner, ownership.SANDBOX: name, ownership.KIND: "engine-storage"}
        )
        for volume in volumes:
            await in_thread(self.engine.remove_volume, volume)
        return RemoveSandboxResult(name=name, id=found.id, removed_volumes=volumes)


def _view(details: ContainerDetails) -> SandboxView:
    labels = details.labels
    created = _parse_time(details.created)
    return SandboxView(
        name=labels.get(ownership.SANDBOX, details.name),
        id=details.id,
        engine=labels.get(ownership.ENGINE, "docker"),  # type: ignore[arg-type]
        mode=labels.get(ownership.MODE, "dind"),  # type: ignore[arg-type]
        state=details.state,
        image=details.image,
        workspace=labels.get(ownership.WORKSPACE),
        limits=LimitsView(
            cpus=details.nano_cpus / 1e9,
            memory=format_memory(details.memory_bytes),
            memory_bytes=details.memory_bytes,
            pids=details.pids_limit,
        ),
        created_at=created.isoformat() if created else details.created,
        age_s=round((datetime.now(UTC) - created).total_seconds(), 1) if created else 0.0,
    )


def _parse_time(value: str) -> datetime | None:
    # Docker gives nanoseconds ("2026-11-29T04:32:06.916434760Z"); Python takes microseconds.
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", value)
    if not match:
        return None
    fraction = (match.group(2) or ".0")[:7]
    return datetime.fromisoformat(match.group(1) + fraction).replace(tzinfo=UTC)

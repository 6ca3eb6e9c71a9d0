"""run_container: a container run by a sandbox's own engine, attached or detached.

The request is parsed into a spec (pure: run_spec), the sandbox's engine is checked for what only
it knows (quota, image, network, name), the container is started; an attached run follows its
output (bounded, streamed as progress) until it exits, and at `timeout_s`, or when the call is
cancelled, the container is killed through the nested API.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp import policy
from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import NestedRunSpec
from manyoyo_mcp.errors import (
    ImageMissing,
    InvalidArgument,
    ManyoyoError,
    ObjectConflict,
    ObjectNotFound,
    PolicyDenied,
)
from manyoyo_mcp.limits import Limits, format_memory, parse_memory, resolve_limits
from manyoyo_mcp.models import (
    LimitsView,
    RunContainerResult,
)
from manyoyo_mcp.nested import specs
from manyoyo_mcp.nested.connect import opened_engine
from manyoyo_mcp.output import OutputCapture
from manyoyo_mcp.policy import allowlists, rule_ids
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import ProgressCallback, in_thread, supervise

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, LogStream, NestedEngine

EXIT_DRAIN_S = 1.0
NESTED_LABELS = {ownership.LABEL_PREFIX + "run-by": "manyoyo-mcp"}


@dataclass(frozen=True, slots=True)
class RunRequest:
    image: str
    command: str | list[str] | None = None
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    workdir: str | None = None
    network: str | None = None
    detach: bool = False
    remove: bool = False
    timeout_s: float = 600
    cpus: float | None = None
    memory: str | None = None
    pids: int | None = None
    cap_add: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    restart: str = "no"
    init: bool = False
    user: str | None = None
    read_only: bool = False
    tmpfs: list[str] = field(default_factory=list)


def nested_options(request: RunRequest) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, int]]:
    """Capabilities, sysctls and restart policy as the engines read them (the policy allowed them)."""
    caps = tuple(sorted({allowlists.normalize_capability(c) for c in request.cap_add}))
    sysctls = tuple(sorted((allowlists.normalize_sysctl(k), str(v)) for k, v in request.sysctls.items()))
    restart = allowlists.restart_policy(request.restart)
    assert restart is not None, "the policy refuses other restart policies (nested.restart-policy)"
    return caps, sysctls, restart


def missing_image_help(image: str, sandbox: str, loadable: tuple[str, ...]) -> str:
    """What to do about an image a sandbox lacks: build it, load it from the host, or pull it."""
    allowed = ", ".join(loadable) if loadable else "none are configured (MANYOYO_LOADABLE_IMAGES)"
    return (
        f"image {image!r} is not in sandbox {sandbox!r}: build it there with build_image, copy it from the "
        f"host with load_image (host images the operator allows: {allowed}), or pull it with exec "
        "(`docker pull` / `podman pull`) if the sandbox can reach a registry"
    )


def command_argv(command: str | list[str] | None) -> tuple[str, ...] | None:
    """A string runs with `sh -c`, a list as it is, None the image's default; InvalidArgument if empty or with NUL."""
    if command is None:
        return None
    if isinstance(command, str):
        if not command.strip():
            raise InvalidArgument("command is empty: give a shell string, an argv list, or leave it out")
        specs.check_no_nul("command", command)
        return ("sh", "-c", command)
    if not command or not command[0]:
        raise InvalidArgument("command is empty: give a shell string, an argv list, or leave it out")
    for part in command:
        specs.check_no_nul("command", part)
    return tuple(command)


def nested_limits(request: RunRequest, sandbox: Sandbox, settings: ServerSettings) -> Limits:
    """The agent's limits or the operator's defaults, never above what the sandbox itself has (a
    limit the sandbox does not set is capped by the operator's sandbox ceiling, else its default:
    the ceilings the host makes are the sandbox service's)."""
    own = sandbox.limits
    ceilings = Limits(
        own.cpus or settings.max_cpus or settings.default_cpus,
        own.memory_bytes or parse_memory(settings.max_memory),
        own.pids or settings.max_pids or settings.default_pids,
    )
    defaults = Limits(
        settings.nested_default_cpus, parse_memory(settings.nested_default_memory), settings.nested_default_pids
    )
    return resolve_limits(
        cpus=request.cpus, memory=request.memory, pids=request.pids, defaults=defaults, ceilings=ceilings
    )


async def run_container(
    engine: Engine,
    sandbox: Sandbox,
    request: RunRequest,
    settings: ServerSettings,
    on_progress: ProgressCallback | None = None,
    owner: tuple[int, int] | None = None,
) -> RunContainerResult:
    """Run a nested container in `sandbox` (inspected: its limits cap the container's).

    Attached: follows its output (bounded by the operator's cap, streamed to `on_progress` as
    (bytes so far, recent output)) until it exits, killing it at `request.timeout_s` seconds or
    when the call is cancelled. Detached: returns once it started. Limits default to the
    operator's nested defaults and may not exceed the sandbox's own. Raises InvalidArgument (a
    malformed argument, remove with detach, limits), PolicyDenied (sock.bind-mount,
    sandbox.user-unmapped against the workspace `owner`'s (uid, gid) where the sandbox has a
    proper, quota.nested-containers), ImageMissing (saying how to build, load or pull it) and
    ObjectConflict (the name is taken).
    """
    limits = nested_limits(request, sandbox, settings)
    spec = run_spec(request, sandbox, limits, owner)
    capture = OutputCapture(settings.output_cap_bytes)
    timed_out = removed = False
    exit_code: int | None = None
    async with opened_engine(engine, sandbox) as nested:
        network_created = await _make_room(nested, sandbox, spec, settings)
        started = time.monotonic()
        try:
            container_id = await in_thread(nested.run, spec)
        except ObjectConflict as exc:
            raise _name_taken(spec.name, sandbox) from exc
        if not request.detach:
            timed_out = await _follow(nested, container_id, capture, request.timeout_s, on_progress)
            exit_code = await in_thread(nested.wait, container_id)
        state = await in_thread(nested.state, container_id)
        if request.remove and not request.detach:
            await in_thread(nested.remove, container_id, force=True)
            removed = True
    return RunContainerResult(
        sandbox=sandbox.name,
        id=state.id,
        name=state.name,
        image=spec.image,
        state="removed" if removed else state.state,
        detached=request.detach,
        exit_code=exit_code if exit_code is not None else state.exit_code,
        stdout=capture.stdout.text(),
        stderr=capture.stderr.text(),
        truncated=capture.truncated,
        duration_s=round(time.monotonic() - started, 3),
        timed_out=timed_out,
        oom_killed=state.oom_killed,
        removed=removed,
        ports=list(state.ports),
        ip_addresses=state.ip_addresses,
        network_created=network_created,
        limits=LimitsView(
            cpus=limits.cpus,
            memory=format_memory(limits.memory_bytes),
            memory_bytes=limits.memory_bytes,
            pids=limits.pids,
        ),
    )


def run_spec(
    request: RunRequest, sandbox: Sandbox, limits: Limits, owner: tuple[int, int] | None = None
) -> NestedRunSpec:
    """The nested container `request` stands for, every field parsed the way the engines read it
    (pure). Raises InvalidArgument, and PolicyDenied for a bind mount in sock mode or a user id
    the sandbox proper does not map (`owner`: its workspace owner's (uid, gid))."""
    caps, sysctls, restart = nested_options(request)
    spec = NestedRunSpec(
        image=specs.image_ref(request.image),
        command=command_argv(request.command),
        name=specs.container_name(request.name) if request.name else None,
        env=validate_env(dict(request.env)),
        labels=dict(NESTED_LABELS),
        ports=tuple(specs.port(p) for p in request.ports),
        mounts=tuple(specs.volume(v) for v in request.volumes),
        workdir=specs.sandbox_path("workdir", request.workdir, "/") if request.workdir else None,
        network=specs.network_name(request.network) if request.network else None,
        nano_cpus=int(limits.cpus * 1e9),
        memory_bytes=limits.memory_bytes,
        pids_limit=limits.pids,
        cap_add=caps,
        sysctls=sysctls,
        restart=restart,
        init=request.init,
        user=specs.user(request.user) if request.user else None,
        read_only=request.read_only,
        tmpfs=tuple(specs.tmpfs(t) for t in request.tmpfs),
    )
    if spec.user and owner is not None and (denied := policy.user_denial(spec.user, owner)):
        raise PolicyDenied(denied.rule, denied.reason)
    if sandbox.is_sock and any(m.source.startswith("/") for m in spec.mounts):
        raise PolicyDenied(
            rule_ids.SOCK_BIND_MOUNT.id,
            "in sock mode a path would be one of the HOST's folders, not the sandbox's: use named volumes "
            "('NAME:/path') only",
        )
    if request.remove and request.detach:
        raise InvalidArgument(
            "remove=true applies to attached runs only; remove a detached container with remove_container"
        )
    return spec


async def _make_room(nested: NestedEngine, sandbox: Sandbox, spec: NestedRunSpec, settings: ServerSettings) -> bool:
    """What only the sandbox's engine knows: room under the quota, the image there, the network
    (created if missing: True), the name free."""
    present = len((await in_thread(nested.inventory)).containers)
    if present >= settings.max_nested_containers:
        raise PolicyDenied(
            rule_ids.QUOTA_NESTED.id,
            f"sandbox {sandbox.name!r} may hold {settings.max_nested_containers} containers and has {present}: "
            "remove some with remove_container or prune (stopped ones), or run with remove=true",
        )
    if await in_thread(nested.image, spec.image) is None:
        raise ImageMissing(missing_image_help(spec.image, sandbox.name, settings.loadable_images))
    network_created = False
    if spec.network and spec.network != "bridge" and not await in_thread(nested.network_exists, spec.network):
        await in_thread(nested.create_network, spec.network, dict(NESTED_LABELS))
        network_created = True
    if spec.name and await _exists(nested, spec.name):
        raise _name_taken(spec.name, sandbox)  # podman answers a taken name with a 500, not a conflict: ask first
    return network_created


def _name_taken(name: str | None, sandbox: Sandbox) -> ObjectConflict:
    return ObjectConflict(
        f"a container named {name!r} already exists in sandbox {sandbox.name!r}: choose another name, or "
        "remove_container it first"
    )


async def _follow(
    nested: NestedEngine,
    container_id: str,
    capture: OutputCapture,
    timeout_s: float,
    on_progress: ProgressCallback | None,
) -> bool:
    """Copy the container's output into `capture` until it exits; kill it at the timeout. True if timed out."""
    stream: LogStream = await in_thread(nested.logs, container_id, follow=True)

    def drain() -> None:
        with contextlib.suppress(ManyoyoError):  # a stream cut after a kill ends like a finished one
            for kind, data in stream.frames():
                capture.write(kind, data)

    async def report() -> None:
        if on_progress is not None and (recent := capture.take_recent()):
            await on_progress(capture.total, recent)

    async def kill() -> None:
        await in_thread(nested.kill, container_id)

    async def end_after_exit() -> None:
        # podman's follow may never end for a container that exited before it attached: once the
        # container is gone, the stream gets a moment to drain, then it is closed (what it had not
        # delivered yet is read again below: a slow podman's last lines come later than that).
        await in_thread(nested.wait, container_id)
        await anyio.sleep(EXIT_DRAIN_S)
        stream.close()

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(end_after_exit)
            timed_out = await supervise(
                drain,
                timeout_s=timeout_s,
                stop=kill,
                report=report if on_progress is not None else None,
                close_after_stop=stream.close,
            )
            tasks.cancel_scope.cancel()
        if not timed_out:  # a follow cut, or ended by Podman before its last lines (under emulation)
            await in_thread(nested.wait, container_id)
            await _catch_up(nested, container_id, capture)
        return timed_out
    finally:
        stream.close()


async def _catch_up(nested: NestedEngine, container_id: str, capture: OutputCapture) -> None:
    """After a follow cut short: the container's whole log read again, what `capture` lacks appended."""
    seen = {1: capture.stdout.total, 2: capture.stderr.total}
    stream: LogStream = await in_thread(nested.logs, container_id, follow=False)

    def read() -> None:
        with contextlib.suppress(ManyoyoError):
            for kind, data in stream.frames():
                key = 2 if kind == 2 else 1
                skip = min(seen[key], len(data))
                seen[key] -= skip
                if data[skip:]:
                    capture.write(kind, data[skip:])

    try:
        await in_thread(read)
    finally:
        stream.close()


async def _exists(nested: NestedEngine, container: str) -> bool:
    try:
        await in_thread(nested.state, container)
    except ObjectNotFound:
        return False
    return True

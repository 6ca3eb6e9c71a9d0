"""Sandbox lifecycle: create (and wait for the nested engine), list, resolve, remove.

Every lookup goes through the owner labels; a sandbox reference is resolved here, once, to a
full container id, and only that id is ever passed to the engine. Creating one: resolve the host
folders, plan the container (plan.py, pure), check what needs the engine, then create exactly
the plan and wait until the nested engine answers; anything half-made is removed again."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp import egress
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import ObjectConflict
from manyoyo_mcp.errors import (
    EngineFailure,
    FirstCommandFailed,
    ImageMissing,
    InvalidArgument,
    PolicyDenied,
    SandboxConflict,
    SandboxNotFound,
    SandboxNotReady,
    SandboxNotRunning,
)
from manyoyo_mcp.models import CreateSandboxResult, RemoveSandboxResult, SandboxView
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.ceilings import Ceilings, derive
from manyoyo_mcp.sandbox.execution import ExecRequest, run_exec
from manyoyo_mcp.sandbox.inside import CRUN, PROPER, PROPER_ROOT, STATE_FILE, Entry, ProperState, parse_state
from manyoyo_mcp.sandbox.layout import ENGINE_LOG, ENGINE_SOCKETS, SOCK_MODE_SOCKET
from manyoyo_mcp.sandbox.plan import CreateRequest, SandboxPlan, plan_sandbox, validate_sandbox_name
from manyoyo_mcp.sandbox.usage import check_totals, disk_notices, disk_view, image_makes_quotas, limits_of
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

CRUN_EXEC = (*CRUN, "exec", PROPER)
BUILD_HELP = (
    "build it with `manyoyo-mcp image build` (on a machine with no registry: `scripts/base-image`, then "
    "`manyoyo-mcp image build --base manyoyo-base:trixie`)"
)


def notices_of(state: ProperState | None) -> list[str]:
    """What the agent should know about a new sandbox that differs from what it asked for."""
    if state is None or state.workspace_idmapped or state.user.uid != 0:
        return []
    return [
        "the workspace belongs to root and this host cannot id-map it (Linux 5.12+ on ext4, xfs or btrfs): "
        "it is readable here but only world-writable parts of it can be written"
    ]


def _owner_name(workspace: str | None) -> str | None:
    """The login name of the workspace's owner when that is the user running the server (the
    owner's user inside the sandbox is named after it; otherwise the image's default name)."""
    with contextlib.suppress(KeyError, OSError):
        if workspace and os.stat(workspace).st_uid == os.getuid() != 0:
            return pwd.getpwuid(os.getuid()).pw_name
    return None


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
    """The sandboxes of one server scope on one host engine. Every method may raise
    EngineUnavailable (the host engine cannot be reached) or EngineFailure (it refused)."""

    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._owner = ownership.owner_labels(settings.scope)
        self._entries: dict[str, Entry] = {}
        self._host_addresses: tuple[str, ...] | None = None
        self.known_ceilings: Ceilings | None = None
        """The ceilings, once the host's figures were read (describe_policy makes no engine call)."""

    async def ceilings(self) -> Ceilings:
        """Each sandbox's defaults and ceilings and the scope's totals, from the settings and the
        host's figures (read from the engine once; the free disk is measured then)."""
        if self.known_ceilings is None:
            self.known_ceilings = derive(self.settings, await in_thread(self.engine.host_facts))
        return self.known_ceilings

    async def entry(self, sandbox: Sandbox) -> Entry:
        """How commands enter the running `sandbox` (read once from its state file, then kept)."""
        if sandbox.is_sock:
            return Entry(None)
        if sandbox.id not in self._entries:
            code, out, err = await in_thread(self.engine.exec_run, sandbox.id, ["cat", STATE_FILE])
            if code != 0:
                raise SandboxNotReady(
                    f"sandbox {sandbox.name!r} has no state file ({err.strip() or code}): it was made from an "
                    "older image or did not start; remove_sandbox and create it again"
                )
            self._entries[sandbox.id] = Entry(parse_state(out))
        return self._entries[sandbox.id]

    # -- lookups --------------------------------------------------------------------------

    async def owned(self) -> list[Sandbox]:
        """This scope's sandboxes in any state, by name (listed, not inspected)."""
        containers = await in_thread(self.engine.list_containers, {**self._owner, ownership.KIND: "sandbox"})
        return sorted((Sandbox.of(c) for c in containers), key=lambda s: s.name)

    async def resolve(self, reference: str) -> Sandbox:
        """The owned sandbox whose name or full container id is exactly `reference` (never an id
        prefix). Raises SandboxNotFound, listing the valid names."""
        owned = await self.owned()
        found = ownership.match_reference(reference, owned)
        if found is None:
            names = [s.name or "?" for s in owned]
            listing = ", ".join(names) if names else "none yet: create one with create_sandbox"
            raise SandboxNotFound(
                f"no sandbox named {reference!r} (references are an exact sandbox name or a full id). "
                f"Sandboxes: {listing}"
            )
        return found

    async def resolve_running(self, reference: str) -> Sandbox:
        """`resolve`, and it must be running: raises SandboxNotRunning (saying how to start it) if not."""
        found = await self.resolve(reference)
        if not found.running:
            raise SandboxNotRunning(
                f"sandbox {reference!r} is {found.state}; call create_sandbox with name {reference!r} to start it again"
            )
        return found

    async def inspect(self, sandbox: Sandbox) -> Sandbox:
        """The same sandbox inspected: with its image, creation time and limits."""
        return Sandbox.of(await in_thread(self.engine.inspect_container, sandbox.id))

    async def list(self) -> list[SandboxView]:
        """Every owned sandbox as list_sandboxes shows it (state, engine, mode, limits, disk, age in seconds)."""
        return [await self.view(await self.inspect(sandbox)) for sandbox in await self.owned()]

    async def view(self, sandbox: Sandbox) -> SandboxView:
        """An inspected sandbox as the agent sees it, with its disk quota and use."""
        return sandbox.view().model_copy(update={"disk": await disk_view(self.engine, sandbox)})

    # -- create ---------------------------------------------------------------------------

    async def create(self, request: CreateRequest) -> CreateSandboxResult:
        """Create and start a sandbox, or return the owned one of that name (started if stopped).

        Returns once the nested engine answers `GET /version` (`ready_s`: seconds this call took).
        Raises InvalidArgument (name, limits, env, host folders), PolicyDenied (quota.sandboxes),
        SandboxConflict (the name is a foreign container's, or the existing sandbox differs in
        mode or engine), ImageMissing (the sandbox or a preload image), SandboxNotReady (with the
        engine's log tail) and FirstCommandFailed; a sandbox that fails to come up is removed.
        """
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
        workspace = resolve_workspace(request.workspace) if request.workspace else None
        quota = request.mode == "sock" or await image_makes_quotas(
            self.engine, self.settings, request.image or self.settings.sandbox_image
        )
        plan = plan_sandbox(
            request,
            self.settings,
            await self.ceilings(),
            name=name,
            workspace=workspace,
            volumes=tuple((resolve_host_path(h, "profile volume"), t, ro) for h, t, ro in request.volumes),
            host_socket=self.settings.host_engine_socket(),
            user_name=_owner_name(workspace),
            host_addresses=await self.host_addresses() if (request.mode or "dind") == "dind" else (),
            image_makes_quota=quota,
        )
        await self._check_engine_side(plan)
        await check_totals(self, plan.limits)
        return await self._materialise(plan, request, started)

    async def host_addresses(self) -> tuple[str, ...]:
        """The engine host's own addresses, which public mode refuses: listed once per server by a
        short-lived container in the host's network namespace (so a remote engine's are its own)."""
        if self._host_addresses is None:
            labels = {**self._owner, ownership.KIND: "host-probe"}
            listing = await in_thread(self.engine.host_interfaces, self.settings.sandbox_image, labels)
            self._host_addresses = egress.host_addresses(listing)
        return self._host_addresses

    async def _check_engine_side(self, plan: SandboxPlan) -> None:
        """What only the engine knows: the images exist, the container name is free."""
        labels = await in_thread(self.engine.image_labels, plan.spec.image)
        if labels is None:
            raise ImageMissing(f"sandbox image {plan.spec.image!r} is not on the engine: {BUILD_HELP}")
        if plan.mode == "dind" and ownership.IMAGE_NETWORK not in labels:
            # An older image ignores the network settings: its sandboxes would reach everything.
            raise ImageMissing(
                f"sandbox image {plan.spec.image!r} predates network containment (no {ownership.IMAGE_NETWORK} "
                f"label) and would not enforce the sandbox's network: rebuild it, {BUILD_HELP}"
            )
        for ref in self.settings.preload_images:
            if await in_thread(self.engine.image_tags, ref) is None:
                raise ImageMissing(
                    f"the operator's preload image {ref!r} (MANYOYO_PRELOAD_IMAGES) is not on the host engine: "
                    "the operator must build or pull it, or remove it from the preload list"
                )
        if await in_thread(self.engine.container_named, plan.spec.name) is not None:
            raise SandboxConflict(
                f"a container named {plan.spec.name!r} already exists on the host and is not a sandbox of this "
                "server; choose another sandbox name"
            )

    async def _materialise(self, plan: SandboxPlan, request: CreateRequest, started: float) -> CreateSandboxResult:
        """Create the planned volume and container, start it, wait for its engine, preload, run `first`."""
        if plan.volume is not None:
            await in_thread(self.engine.create_volume, plan.volume, plan.volume_labels)
        try:
            if plan.spec.network is not None:
                internal = plan.network.mode == "none"  # no route out, whatever the rules inside say
                await in_thread(self.engine.create_network, plan.spec.network, plan.network_labels, internal)
            container_id = await in_thread(self.engine.create_container, plan.spec)
        except ObjectConflict as exc:
            # A concurrent create_sandbox of the same name won the race: hand back its sandbox.
            winner = ownership.match_reference(plan.name, await self.owned())
            if winner is not None:
                return await self._reuse(winner, request, started)
            raise SandboxConflict(f"sandbox name {plan.name!r} is taken: {exc}") from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._remove_storage_and_network(plan)
            raise
        sock = plan.mode == "sock"
        try:
            await in_thread(self.engine.start_container, container_id)
            version = await self._wait_ready(container_id, plan.engine, sock)
            for ref in () if sock else self.settings.preload_images:
                await in_thread(
                    self.engine.copy_image, ref, container_id, ENGINE_SOCKETS[plan.engine], plan.engine, PROPER_ROOT
                )
            if request.first:
                await self._run_first(container_id, sock, request.first)
        except BaseException:
            # Nothing half-done: a sandbox whose engine never answered is removed with its storage.
            with anyio.CancelScope(shield=True):
                await in_thread(self.engine.remove_container, container_id)
                await self._remove_storage_and_network(plan)
            raise
        created = Sandbox.of(await in_thread(self.engine.inspect_container, container_id))
        return CreateSandboxResult(
            **(await self.view(created)).model_dump(),
            created=True,
            ready_s=round(time.monotonic() - started, 3),
            engine_version=version,
            preloaded=[] if sock else list(self.settings.preload_images),
            notices=[
                *notices_of(state := (await self.entry(created)).state),
                *plan.notices,
                *disk_notices(plan.limits, state),
            ],
        )

    async def _remove_storage_and_network(self, plan: SandboxPlan) -> None:
        if plan.volume is not None:
            await in_thread(self.engine.remove_volume, plan.volume)
        if plan.spec.network is not None:
            await in_thread(self.engine.remove_network, plan.spec.network)

    async def _reuse(self, existing: Sandbox, request: CreateRequest, started: float) -> CreateSandboxResult:
        if (request.mode or "dind") != existing.mode:
            raise SandboxConflict(
                f"sandbox {existing.name!r} exists in {existing.mode} mode; use it as it is, or remove_sandbox and "
                f"create it again in {request.mode or 'dind'} mode"
            )
        if request.engine and request.engine != existing.engine:
            raise SandboxConflict(
                f"sandbox {existing.name!r} exists with engine {existing.engine!r}; use it as it is, or "
                f"remove_sandbox and create it again with engine {request.engine!r}"
            )
        if request.network is not None and request.network.mode != existing.network.mode:
            raise SandboxConflict(
                f"sandbox {existing.name!r} exists with network {existing.network.mode!r}; use it as it is, or "
                f"remove_sandbox and create it again with network {request.network.mode!r}"
            )
        if not existing.running:
            await check_totals(self, limits_of(await self.inspect(existing)), starting=existing.id)
            await in_thread(self.engine.start_container, existing.id)
        version = await self._wait_ready(existing.id, existing.engine, existing.is_sock)
        reused = await self.inspect(existing)
        return CreateSandboxResult(
            **(await self.view(reused)).model_dump(),
            created=False,
            ready_s=round(time.monotonic() - started, 3),
            engine_version=version,
            preloaded=[],
        )

    async def _run_first(self, container_id: str, sock: bool, first: str) -> None:
        """The profile's `first` command, once, in a new sandbox; a failure removes the sandbox."""
        created = Sandbox.of(await in_thread(self.engine.inspect_container, container_id))
        outcome = await run_exec(
            self.engine,
            container_id,
            await self.entry(created),
            ExecRequest(command=first, timeout_s=self.settings.exec_timeout_s),
            self.settings.output_cap_bytes,
        )
        if outcome.exit_code != 0:
            tail = (outcome.stderr or outcome.stdout).strip()[-2000:]
            why = "timed out" if outcome.timed_out else f"exited with {outcome.exit_code}"
            raise FirstCommandFailed(
                f"the profile's first command {why}; the sandbox was removed. Its output ends:\n{tail}"
            )

    async def _wait_ready(self, container_id: str, engine_kind: str, sock: bool) -> str:
        """Poll the nested engine's API (GET /version on its socket) until it answers; its version.
        In dind mode the probe runs as the sandbox proper's root: the socket is that user's."""
        socket = SOCK_MODE_SOCKET if sock else ENGINE_SOCKETS[engine_kind]
        probe = ["curl", "-sf", "--max-time", "30", "--unix-socket", socket, "http://localhost/version"]
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while True:
            asked = time.monotonic()
            try:
                code, out, _ = await in_thread(self.engine.exec_run, container_id, probe, None if sock else PROPER_ROOT)
            except EngineFailure as exc:  # its init ended: the container stopped
                if (await in_thread(self.engine.inspect_container, container_id)).state == "running":
                    raise
                log = await in_thread(self.engine.container_log_tail, container_id, 20)
                raise SandboxNotReady(f"the sandbox stopped while starting. Its log ends:\n{log.strip()}") from exc
            if code == 0:
                try:
                    return str(json.loads(out).get("Version", "unknown"))
                except ValueError:
                    return "unknown"
            if time.monotonic() > deadline:
                raise SandboxNotReady(
                    f"the nested {engine_kind} engine did not answer within {self.settings.ready_timeout_s:g}s. "
                    f"{await self._startup_log(container_id)}\nIf it reports read-only cgroups or missing "
                    "permissions, the operator may need another runtime profile (see README, runtime profiles)."
                )
            # A pause of twice the probe's time (an exec: seconds under emulation, leaving the CPU to the engine)
            await anyio.sleep(min(max(0.1, 2 * (time.monotonic() - asked)), 5.0))

    async def _startup_log(self, container_id: str) -> str:
        """The last lines of the outer init's log (the container's) and of the nested engine's."""
        outer = await in_thread(self.engine.container_log_tail, container_id, 20)
        inner = ["tail", "-n", "20", ENGINE_LOG]
        code, log, _ = await in_thread(self.engine.exec_run, container_id, [*CRUN_EXEC, *inner])
        engine_part = (
            f"Last lines of {ENGINE_LOG}:\n{log.strip()}" if code == 0 else "(the sandbox proper is not running)"
        )
        return f"The sandbox's log ends:\n{outer.strip()}\n{engine_part}"

    # -- remove ---------------------------------------------------------------------------

    async def remove(self, reference: str) -> RemoveSandboxResult:
        """Stop and remove a sandbox with its nested engine's storage volume (sock mode: with
        what its tools made on the host). Raises SandboxNotFound."""
        found = await self.resolve(reference)
        if found.is_sock:  # what its tools made on the host goes with it
            await in_thread(self.engine.remove_labelled, {ownership.SOCK_OF: found.id})
        await in_thread(self.engine.remove_container, found.id)
        volumes = await in_thread(
            self.engine.list_volumes, {**self._owner, ownership.SANDBOX: found.name, ownership.KIND: "engine-storage"}
        )
        for volume in volumes:
            await in_thread(self.engine.remove_volume, volume)
        networks = {**self._owner, ownership.SANDBOX: found.name, ownership.KIND: "network"}
        for network in await in_thread(self.engine.list_networks, networks):
            await in_thread(self.engine.remove_network, network)
        return RemoveSandboxResult(name=found.name, id=found.id, removed_volumes=volumes)

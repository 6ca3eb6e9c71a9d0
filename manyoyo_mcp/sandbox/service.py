"""Sandbox lifecycle: create (and wait for the nested engine), list, resolve, remove.

Every lookup goes through the owner labels; a sandbox reference is resolved here, once, to a
full container id, and only that id is ever passed to the engine. Creating one: resolve the host
folders, plan the container (plan.py, pure), check what needs the engine, then create exactly
the plan and wait until the nested engine answers; anything half-made is removed again."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp import egress
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Mount, ObjectConflict
from manyoyo_mcp.errors import (
    PolicyDenied,
    SandboxConflict,
    SandboxNotFound,
    SandboxNotReady,
    SandboxNotRunning,
)
from manyoyo_mcp.models import CreateSandboxResult, RemoveSandboxResult, SandboxView
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.sandbox import ownership, pool
from manyoyo_mcp.sandbox.ceilings import Ceilings, derive
from manyoyo_mcp.sandbox.commands import Commands
from manyoyo_mcp.sandbox.execution import run_first_command
from manyoyo_mcp.sandbox.faults import SandboxFaults
from manyoyo_mcp.sandbox.host_folders import notices_of, owner_name, resolve_host_path, resolve_workspace
from manyoyo_mcp.sandbox.image_store import ImageStore
from manyoyo_mcp.sandbox.inside import STATE_FILE, Entry, parse_state
from manyoyo_mcp.sandbox.jobs import JobTools
from manyoyo_mcp.sandbox.leftovers import NAME_RACE_S, remove_stale_network, remove_storage_and_network
from manyoyo_mcp.sandbox.phases import Phases
from manyoyo_mcp.sandbox.plan import CreateRequest, SandboxPlan, plan_sandbox, validate_sandbox_name
from manyoyo_mcp.sandbox.preflight import check_images
from manyoyo_mcp.sandbox.readiness import startup_log, wait_ready
from manyoyo_mcp.sandbox.sandboxd import Daemons
from manyoyo_mcp.sandbox.usage import check_totals, disk_notices, disk_view, image_makes_quotas, limits_of
from manyoyo_mcp.sandbox.view import RecentlyRunning, Sandbox
from manyoyo_mcp.threads import both, in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import ContainerSummary, Engine


class SandboxService(SandboxFaults):
    """The sandboxes of one server scope on one host engine. Every method may raise
    EngineUnavailable (the host engine cannot be reached) or EngineFailure (it refused)."""

    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._owner = ownership.owner_labels(settings.scope)
        self._entries: dict[str, Entry] = {}
        self._creating: dict[str, anyio.Lock] = {}
        self._resolved = RecentlyRunning()
        self.daemons = Daemons(engine)
        self.commands = Commands(engine, self.daemons, settings.output_budget_bytes, settings.output_cap_bytes)
        self.jobs = JobTools(self.commands)
        self.images = ImageStore(self)
        self._host_addresses: tuple[str, ...] | None = None
        self.pool_taken: anyio.Event | None = None
        """Set when a pooled sandbox is handed out (warm_pool.py waits for it to fill the pool again)."""
        self.known_ceilings: Ceilings | None = None
        """The ceilings, once the host's figures were read (describe_policy makes no engine call)."""

    def close(self) -> None:
        """Close the persistent channels to the sandboxes' daemons (the jobs go on)."""
        self.daemons.close()

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
        taken = [c for c in containers if not ownership.is_pooled(c.name)]  # (not the warm pool's)
        return sorted((Sandbox.of(c) for c in taken), key=lambda s: s.name)

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

    async def resolve_running(self, reference: str, cached: bool = False) -> Sandbox:
        """`resolve`, and it must be running: raises SandboxNotRunning (saying how to start it) if not.
        `cached`: a sandbox found so lately is taken as found (RecentlyRunning; for calls that learn
        at once, from the engine, when it is gone or stopped: see `checked`)."""
        if cached and (hit := self._resolved.get(reference)) is not None:
            return hit
        found = await self.resolve(reference)
        if not found.running:
            raise SandboxNotRunning(
                f"sandbox {reference!r} is {found.state}; call create_sandbox with name {reference!r} to start it again"
            )
        self._resolved.put(reference, found)
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
        # One create of a name at a time in this server; across servers, the engine's own name
        # uniqueness decides (see _materialise).
        async with self._creating.setdefault(name, anyio.Lock()):
            owned = await self.owned()
            existing = ownership.match_reference(name, owned)
            if existing is not None:
                return await self._reuse(existing, request, started)
            if len(owned) >= self.settings.max_sandboxes:
                raise PolicyDenied(
                    rule_ids.QUOTA_SANDBOXES.id,
                    f"this server may hold {self.settings.max_sandboxes} sandboxes and has {len(owned)}: remove "
                    "one with remove_sandbox, or reuse one by name",
                )
            if self.settings.warm_pool and pool.serves(request) and (taken := await pool.take(self, request, started)):
                return taken
            plan = await self._plan(request, name)
            holder = await in_thread(self.engine.container_named, plan.spec.name)
            if holder is not None:  # a sandbox of this scope another server is making, or a foreign one
                return await self._adopt(holder, plan, request, started)
            await check_totals(self, plan.limits)
            return await self._materialise(plan, request, started)

    async def _plan(self, request: CreateRequest, name: str, shared_images: bool = True) -> SandboxPlan:
        """The sandbox `request` stands for, checked against what the host and the engine hold."""
        workspace = resolve_workspace(request.workspace) if request.workspace else None
        image = request.image or self.settings.sandbox_image
        sock = request.mode == "sock"
        quota = sock or await image_makes_quotas(self.engine, self.settings, image)
        inner = request.engine or self.settings.default_engine
        store = await self.images.for_new_sandbox(inner, image) if shared_images and not sock else None
        plan = plan_sandbox(
            request,
            self.settings,
            await self.ceilings(),
            name=name,
            workspace=workspace,
            volumes=tuple((resolve_host_path(h, "profile volume"), t, ro) for h, t, ro in request.volumes),
            host_socket=self.settings.host_engine_socket(),
            user_name=owner_name(workspace),
            host_addresses=await self.host_addresses() if (request.mode or "dind") == "dind" else (),
            image_makes_quota=quota,
            image_store=store,
        )
        await check_images(self.engine, self.settings, plan)
        return plan

    async def make_hidden(
        self,
        request: CreateRequest,
        name: str,
        *,
        suffix: str,
        labels: dict[str, str],
        mounts: tuple[Mount, ...] = (),
        env: dict[str, str] | None = None,
    ) -> CreateSandboxResult:
        """A sandbox `name` made for `request` like any, under a container name ending in `suffix`
        (uppercase: no agent's sandbox is named so), with `labels`, `mounts` and `env` added.
        A store keeper's (labels without `KIND: sandbox`: in no listing, no totals, no preloads)."""
        keeper = labels.get(ownership.KIND, "sandbox") != "sandbox"
        plan = await self._plan(request, name, shared_images=not keeper)
        spec = plan.spec
        spec = replace(
            spec,
            name=spec.name + suffix,
            labels={**spec.labels, **labels},
            mounts=spec.mounts + mounts,
            environment={**spec.environment, **(env or {})},
        )
        plan = replace(plan, spec=spec)
        if not keeper:
            await check_totals(self, plan.limits)
        return await self._materialise(plan, request, time.monotonic(), preload=not keeper)

    async def host_addresses(self) -> tuple[str, ...]:
        """The engine host's own addresses, which public mode refuses: listed once per server by a
        short-lived container in the host's network namespace (so a remote engine's are its own)."""
        if self._host_addresses is None:
            labels = {**self._owner, ownership.KIND: "host-probe"}
            listing = await in_thread(self.engine.host_interfaces, self.settings.sandbox_image, labels)
            self._host_addresses = egress.host_addresses(listing)
        return self._host_addresses

    async def _adopt(
        self, holder: ContainerSummary, plan: SandboxPlan, request: CreateRequest, started: float
    ) -> CreateSandboxResult:
        """The container's name is taken: a sandbox of this scope (made by another server sharing
        the engine) is adopted and waited for like a reused one; any other container is refused."""
        if ownership.is_sandbox_of(holder.labels, self.settings.scope, plan.name):
            return await self._reuse(Sandbox.of(holder), request, started)
        raise SandboxConflict(
            f"a container named {plan.spec.name!r} already exists on the host and is not a sandbox of this server; "
            "choose another sandbox name"
        )

    async def _name_taken(self, plan: SandboxPlan, request: CreateRequest, started: float) -> CreateSandboxResult:
        """The engine refused the name as the container was created (another server got there
        first): adopt its sandbox. The engine reserves a name before it lists the container, so
        the holder is looked for a while; if the name comes free (that create failed), ours is made."""
        deadline = time.monotonic() + NAME_RACE_S
        while True:
            holder = await in_thread(self.engine.container_named, plan.spec.name)
            if holder is not None:
                return await self._adopt(holder, plan, request, started)
            try:
                return await self._materialise(plan, request, started, retried=True)
            except ObjectConflict as exc:
                if time.monotonic() > deadline:
                    raise SandboxConflict(
                        f"the engine holds the name {plan.spec.name!r} for a container it does not list: call "
                        "create_sandbox again"
                    ) from exc
            await anyio.sleep(0.2)

    async def _materialise(
        self, plan: SandboxPlan, request: CreateRequest, started: float, retried: bool = False, preload: bool = True
    ) -> CreateSandboxResult:
        """Create the planned volume and container, start it, wait for its engine, preload, run `first`.
        The volume may exist already (a concurrent create of the name): it is shared, never removed
        while in use."""
        phases = Phases(since=started)
        phases.done("lookups and checks")
        if plan.volume is not None:
            await in_thread(self.engine.create_volume, plan.volume, plan.volume_labels)
        try:
            if plan.spec.network is not None:
                await remove_stale_network(self.engine, plan.spec.network)
                internal = plan.network.mode == "none"  # no route out, whatever the rules inside say
                await in_thread(self.engine.create_network, plan.spec.network, plan.network_labels, internal)
            phases.done("volume and network")
            container_id = await in_thread(self.engine.create_container, plan.spec)
            phases.done("container created")
        except ObjectConflict:
            if retried:
                raise
            return await self._name_taken(plan, request, started)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await remove_storage_and_network(self.engine, plan)
            raise
        sock = plan.mode == "sock"
        try:
            await in_thread(self.engine.start_container, container_id)
            phases.done("container started")
            version = await wait_ready(self.engine, container_id, plan.engine, sock, self.settings.ready_timeout_s)
            if version is None:
                raise SandboxNotReady(
                    f"the nested {plan.engine} engine did not answer within {self.settings.ready_timeout_s:g}s. "
                    f"{await startup_log(self.engine, container_id)}\nIf it reports read-only cgroups or missing "
                    "permissions, the operator may need another runtime profile (see README, runtime profiles)."
                )
            phases.done(f"nested {plan.engine} answered")
            made = Sandbox(container_id, "running", plan.spec.labels, plan.spec.name)
            for ref in () if sock or not preload else self.settings.preload_images:
                await self.images.provide(ref, made, self.settings.exec_timeout_s)
            phases.done("preloaded images")
            if request.first:
                await run_first_command(self, container_id, request.first)
            phases.done("first command")
        except BaseException:
            # Nothing half-done: a sandbox whose engine never answered is removed with its storage.
            with anyio.CancelScope(shield=True):
                await in_thread(self.engine.remove_container, container_id)
                await remove_storage_and_network(self.engine, plan)
            raise
        created = Sandbox.of(await in_thread(self.engine.inspect_container, container_id))
        view, _ = await both(self.view(created), self.entry_kept(created))  # two execs at once
        phases.done("inspected")
        phases.log_done(f"sandbox {plan.name!r} created")
        return CreateSandboxResult(
            **view.model_dump(),
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
        notices: list[str] = []
        if existing.state == "paused":
            await in_thread(self.engine.unpause_container, existing.id)
            notices.append("the sandbox was paused (outside this server) and was unpaused")
        elif not existing.running:
            await check_totals(self, limits_of(await self.inspect(existing)), starting=existing.id)
            self.forget(existing.id)  # its daemon's channel and state are from before it stopped
            await in_thread(self.engine.start_container, existing.id)
        version = await self.answering(existing, probe_only=existing.running, notices=notices)
        reused = await self.inspect(existing)
        return CreateSandboxResult(
            **(await self.view(reused)).model_dump(),
            created=False,
            ready_s=round(time.monotonic() - started, 3),
            engine_version=version,
            preloaded=[],
            notices=notices,
        )

    # -- remove ---------------------------------------------------------------------------

    async def remove(self, reference: str) -> RemoveSandboxResult:
        """Stop and remove a sandbox with its nested engine's storage volume (sock mode: with
        what its tools made on the host). Raises SandboxNotFound."""
        return await self.discard(await self.resolve(reference))

    async def discard(self, found: Sandbox) -> RemoveSandboxResult:
        """Remove this sandbox (found by `resolve`, or the warm pool's), as `remove` does."""
        if found.is_sock:  # what its tools made on the host goes with it
            await in_thread(self.engine.remove_labelled, {ownership.SOCK_OF: found.id})
        await in_thread(self.engine.remove_container, found.id)
        self.forget(found.id)
        volumes = await in_thread(
            self.engine.list_volumes, {**self._owner, ownership.SANDBOX: found.name, ownership.KIND: "engine-storage"}
        )
        for volume in volumes:
            await in_thread(self.engine.remove_volume, volume)
        networks = {**self._owner, ownership.SANDBOX: found.name, ownership.KIND: "network"}
        for network in await in_thread(self.engine.list_networks, networks):
            await in_thread(self.engine.remove_network, network)
        return RemoveSandboxResult(name=found.name, id=found.id, removed_volumes=volumes)

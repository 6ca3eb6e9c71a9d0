"""Keeping the warm pool filled while the server runs (MANYOYO_WARM_POOL): for each run profile
with a size, that many ready sandboxes made for exactly what create_sandbox without a name (and
without other arguments) asks under that profile; one more is made whenever one is handed out
(pool.py). Made one at a time, so the pool never crowds out the agent's own creates.

Each sandbox made for the pool is recorded in the audit log like a call of a tool named `pool`
(rule sandbox.warm-pool); handing one out is the agent's create_sandbox call. When the server
stops, the pool's sandboxes it made or found waiting are removed. What a server killed before
that leaves goes to the next server with the same pool: it hands out the ready ones and removes
those it cannot use (stopped, or never finished). They count towards no quota until handed out.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

import anyio

from manyoyo_mcp import __version__
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.settings import POOL_DEFAULT, ServerSettings, pool_sizes
from manyoyo_mcp.engine import ContainerSummary, ObjectConflict, ObjectNotFound
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.policy import Decision, rule_ids
from manyoyo_mcp.sandbox import ownership, pool
from manyoyo_mcp.sandbox.launch import ChosenProfile, from_profile
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.sandbox.view import Sandbox, parse_time
from manyoyo_mcp.threads import in_thread

log = logging.getLogger(__name__)
LOOK_S = 15
"""The pool is looked at this often besides each handout of this server (another server sharing
it may take one, a waiting sandbox may stop)."""
RETRY_S = 60
STALE_S = 60
"""A sandbox begun for the pool this long past twice the engine's readiness wait was left by a
server that was killed while it made it."""
CLIENT = {"name": "manyoyo-mcp serve", "version": __version__}
"""After a failed fill (the engine down, a quota reached), the pool is looked at again this much later."""


def pool_requests(settings: ServerSettings) -> list[tuple[str, CreateRequest, int]]:
    """(profile shown, the request, size) of each pool the settings ask for (their profiles exist:
    the settings check it); one that cannot be served (its env files cannot be read, it names its
    sandbox or asks for sock mode) is logged and left out."""
    wanted = []
    for key, size in pool_sizes(settings.warm_pool).items():
        name, profile = settings.run_profile(key or None)
        shown = "calls naming no run profile" if key == POOL_DEFAULT else f"run profile {key!r}"
        if size == 0:
            continue
        try:
            chosen = None if profile is None or name is None else ChosenProfile.read(name, profile)
            request = CreateRequest() if chosen is None else from_profile(CreateRequest(), chosen)
        except ManyoyoError as exc:
            log.warning("warm pool: %s: %s; no pool for it", shown, exc)
            continue
        if not pool.serves(request):
            log.warning("warm pool: %s names its sandbox (containerName) or asks for sock mode; no pool for it", shown)
            continue
        wanted.append((shown, request, size))
    return wanted


class WarmPool:
    """The pool of one server: `keep_filled` while it serves, `drain` when it stops."""

    def __init__(self, service: SandboxService, recorder: Recorder) -> None:
        self.service = service
        self.recorder = recorder
        self.made: set[str] = set()
        """Ids of the pool's sandboxes this server drains when it stops (made or found by it)."""

    async def waiting(self, request: CreateRequest) -> int:
        """How many sandboxes made for `request` wait ready in the pool. Those another server of
        this scope made (or one killed before it could drain) are this server's to drain too; what
        such a server left that cannot be handed out (stopped, or made no further than STALE_S
        ago) is removed."""
        labels = {
            **ownership.owner_labels(self.service.settings.scope),
            ownership.POOL_SHAPE: await pool.shape_now(self.service.engine, request, self.service.settings),
        }
        ready = []
        for container in await in_thread(self.service.engine.list_containers, labels):
            if container.name.endswith(ownership.POOLED) and container.state == "running":
                ready.append(container.id)
            elif container.name.endswith(ownership.POOLED) or await self._stale(container):
                await self._remove(container, "left by a server that stopped without removing it: it cannot be used")
        self.made.update(ready)
        return len(ready)

    async def _stale(self, container: ContainerSummary) -> bool:
        """Whether a sandbox still being made for the pool was begun longer ago than any make takes."""
        if not container.name.endswith(ownership.POOLING):
            return False
        details = await in_thread(self.service.engine.inspect_container, container.id)
        begun = parse_time(details.created)
        limit = 2 * self.service.settings.ready_timeout_s + STALE_S
        return begun is not None and (datetime.now(UTC) - begun).total_seconds() > limit

    async def keep_filled(self) -> None:
        """Fill every pool to its size, then again each time one is handed out (or LOOK_S passed);
        runs until cancelled."""
        wanted = pool_requests(self.service.settings)
        while wanted:
            self.service.pool_taken = taken = anyio.Event()
            try:
                for shown, request, size in wanted:
                    while await self.waiting(request) < size:
                        await self._make(shown, request)
            except ManyoyoError as exc:  # the engine is down, a quota or the log is full: later
                log.warning("warm pool: %s; trying again in %d s", exc, RETRY_S)
                with anyio.move_on_after(RETRY_S):
                    await taken.wait()
                continue
            with anyio.move_on_after(LOOK_S):
                await taken.wait()

    async def _make(self, shown: str, request: CreateRequest) -> None:
        name = f"sbx-{secrets.token_hex(3)}"
        call = await self.recorder.arrive("pool", {"sandbox": name, "action": "make", "for": shown}, CLIENT)
        reason = f"the operator's warm pool (MANYOYO_WARM_POOL) for {shown} is below its size"
        await call.decision(Decision(True, rule_ids.WARM_POOL.id, reason))
        try:
            made = await pool.make_pooled(self.service, request, name)
        except anyio.get_cancelled_exc_class():  # the server stops: what was half made is gone
            await call.outcome("cancelled")
            raise
        except Exception as exc:
            await call.outcome("error", error=f"{type(exc).__name__}: {exc}")
            raise
        self.made.add(made.id)
        log.info("warm pool: made sandbox %s for %s in %.1f s", made.name, shown, made.ready_s)
        await call.outcome("ok", result={"id": made.id, "name": made.name})

    async def drain(self) -> None:
        """Remove the pool's sandboxes this server made or found that still wait (with their storage)."""
        labels = {**ownership.owner_labels(self.service.settings.scope), ownership.KIND: "sandbox"}
        for container in await in_thread(self.service.engine.list_containers, labels):
            if container.id in self.made and container.name.endswith(ownership.POOLED):
                await self._remove(container, "the server stops: the warm pool's sandboxes that no one took go")

    async def _remove(self, container: ContainerSummary, why: str) -> None:
        """Remove a pooled sandbox, recorded, if it still is one: it is renamed by its current name
        first (ownership.DRAINING), so that one handed out meanwhile is never touched."""
        sandbox = Sandbox.of(container)
        draining = container.name.removesuffix(ownership.POOLED).removesuffix(ownership.POOLING) + ownership.DRAINING
        try:
            await in_thread(self.service.engine.rename_container, container.name, draining)
        except (ObjectNotFound, ObjectConflict):  # handed out, or another server removes it
            return
        call = await self.recorder.arrive("pool", {"sandbox": sandbox.name, "action": "remove"}, CLIENT)
        await call.decision(Decision(True, rule_ids.WARM_POOL.id, why))
        try:
            removed = await self.service.discard(sandbox)
        except ManyoyoError as exc:
            await call.outcome("error", error=f"{type(exc).__name__}: {exc}")
            raise
        await call.outcome("ok", result={"id": removed.id, "removed": True})

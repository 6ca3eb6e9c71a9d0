"""The warm pool (MANYOYO_WARM_POOL) on the real engine: filled by the server, invisible until
handed out, handed out to create_sandbox without a name (by any server whose settings made it
alike), never to a request or settings that differ, filled again, drained when the server stops."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.audit.log import AuditLog, read_records
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import ContainerSummary, Engine
from manyoyo_mcp.sandbox import ownership, pool
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.sandbox.warm_pool import WarmPool
from manyoyo_mcp.server import build_server

from ..helpers import call

pytestmark = pytest.mark.anyio


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def pooled(engine: Engine, scope: str) -> list[ContainerSummary]:
    labels = {**ownership.owner_labels(scope), ownership.KIND: "sandbox"}
    return [c for c in engine.list_containers(labels) if ownership.is_pooled(c.name)]


def ready(engine: Engine, scope: str) -> list[ContainerSummary]:
    return [c for c in pooled(engine, scope) if c.name.endswith(ownership.POOLED) and c.state == "running"]


async def waiting(engine: Engine, scope: str, but: set[str] = frozenset()) -> ContainerSummary:
    """The first pooled sandbox ready to be handed out not in `but`, once there is one (at most 120 s)."""
    with anyio.fail_after(120):
        while True:
            found = [c for c in ready(engine, scope) if c.id not in but]
            if found:
                return found[0]
            await anyio.sleep(0.5)


def pool_records(settings: ServerSettings) -> list[dict]:
    return [r for _, _, r, _ in read_records(settings.audit_path) if r and r.get("tool") == "pool"]


async def test_a_bare_create_takes_a_ready_sandbox_from_the_pool_which_fills_again_and_drains(
    settings: ServerSettings, engine: Engine
):
    with_pool = settings.model_copy(update={"warm_pool": ("1",)})
    other_pool_size = settings.model_copy(update={"warm_pool": ("0",)})  # takes, never fills
    other_settings = settings.model_copy(update={"warm_pool": ("0",), "nested_default_pids": 2048})
    made: list[str] = []
    try:
        async with Client(build_server(with_pool, engine)) as client:
            first = await waiting(engine, settings.scope)
            listed = await call(client, "list_sandboxes")
            assert first.id not in [s["id"] for s in listed["sandboxes"]]  # no one's yet
            taken = await call(client, "create_sandbox", {})
            made.append(taken["name"])
            assert (taken["pooled"], taken["created"], taken["id"], taken["state"]) == (True, True, first.id, "running")
            assert engine.inspect_container(first.id).name == ownership.container_name(settings.scope, taken["name"])
            ran = await call(
                client, "exec", {"sandbox": taken["name"], "command": "docker info -f '{{.ServerVersion}}'"}
            )
            assert (ran["exit_code"], ran["stdout"].strip()) == (0, taken["engine_version"]), ran
            listed = await call(client, "list_sandboxes")
            assert taken["id"] in [s["id"] for s in listed["sandboxes"]]

            second = await waiting(engine, settings.scope, but={first.id})  # filled again
            asked_other = await call(client, "create_sandbox", {"memory": "512m"})  # another request
            made.append(asked_other["name"])
            assert asked_other["pooled"] is False and asked_other["id"] != second.id
            async with Client(build_server(other_settings, engine)) as elsewhere:
                differs = await call(elsewhere, "create_sandbox", {})  # made under other settings
                made.append(differs["name"])
            assert differs["pooled"] is False and differs["id"] != second.id
            async with Client(build_server(other_pool_size, engine)) as alike:
                shared = await call(alike, "create_sandbox", {})  # alike but for the pool's size
                made.append(shared["name"])
            assert (shared["pooled"], shared["id"]) == (True, second.id)
            third = await waiting(engine, settings.scope, but={first.id, second.id})
            with anyio.fail_after(120):  # made to the end (its engine answered), not cut short by the stop
                while len([r for r in pool_records(settings) if r["event"] == "outcome"]) < 3:
                    await anyio.sleep(0.5)
        assert [c.id for c in pooled(engine, settings.scope)] == []  # the server's stop drained the pool
        assert third.name.endswith(ownership.POOLED)
        volumes = engine.list_volumes({**ownership.owner_labels(settings.scope), ownership.KIND: "engine-storage"})
        assert not [v for v in volumes if third.labels[ownership.SANDBOX] in v]  # with its storage
    finally:
        async with Client(build_server(settings, engine)) as client:
            for name in made:
                await client.call_tool("remove_sandbox", {"sandbox": name})
    pool_calls = pool_records(settings)
    decisions = [r for r in pool_calls if r["event"] == "decision"]
    assert {r["rule"] for r in decisions} == {"sandbox.warm-pool"} and len(decisions) >= 4  # 3 made, 1 removed
    assert any("the server stops" in r["reason"] for r in decisions)
    outcomes = [r["status"] for r in pool_calls if r["event"] == "outcome"]
    assert outcomes and set(outcomes) == {"ok"}


@pytest.fixture
def warm(settings: ServerSettings, engine: Engine) -> Iterator[WarmPool]:
    """A pool of its own (no server), made with a service and a recorder of the test's settings."""
    service = SandboxService(engine, settings)
    yield WarmPool(service, Recorder(AuditLog(settings.audit_path), settings))
    service.close()


async def test_a_sandbox_handed_out_meanwhile_is_never_removed_by_a_drain(warm: WarmPool, engine: Engine):
    service, request = warm.service, CreateRequest()
    made = await pool.make_pooled(service, request, unique("sbx"))
    [listed] = [c for c in ready(engine, service.settings.scope) if c.id == made.id]  # what a drain lists
    warm.made.add(made.id)
    taken = await pool.take(service, request, time.monotonic())  # another server takes it meanwhile
    try:
        assert taken is not None and taken.id == made.id
        await warm._remove(listed, "the server stops")  # (the drain's step, with its stale listing)
        assert engine.inspect_container(made.id).state == "running"
        assert [s.id for s in await service.owned()].count(made.id) == 1
    finally:
        await service.remove(made.name)


async def test_what_a_killed_server_left_that_cannot_be_handed_out_is_removed(warm: WarmPool, engine: Engine):
    service, request = warm.service, CreateRequest()
    made = await pool.make_pooled(service, request, unique("sbx"))
    engine.stop_container(made.id, 5)  # a leftover stopped (by hand, or with its host)
    assert await warm.waiting(request) == 0
    assert made.id not in [c.id for c in pooled(engine, service.settings.scope)]
    storage = engine.list_volumes({**ownership.owner_labels(service.settings.scope), ownership.SANDBOX: made.name})
    assert storage == []

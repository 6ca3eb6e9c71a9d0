"""The warm pool's handout: create_sandbox without a name takes a ready sandbox made earlier for
exactly the same request under the same settings, if one waits (sandbox/warm_pool.py keeps it
filled).

A pooled sandbox is a whole sandbox (its name, network, storage, engine started) whose container
name ends in ownership.POOLING while it is made and ownership.POOLED once it is ready, which keeps
it out of every listing. Handing it out renames its container, by its pooled name, to the
sandbox's ordinary name: one engine step, so of several servers sharing the pool exactly one gets
it. What it was made for is its label ownership.POOL_SHAPE, the digest of the request, the
server's settings and the sandbox image's id (`shape_of`): anything that differs never matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import TYPE_CHECKING

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import ObjectConflict, ObjectNotFound
from manyoyo_mcp.models import CreateSandboxResult
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import both, in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.service import SandboxService


NOT_SHAPING = frozenset(
    {"warm_pool", "allowed_host_roots", "audit_dir", "audit_max_bytes", "audit_max_total_bytes", "audit_retention"}
    | {"audit_min_free_bytes", "audit_max_value_bytes"}
)
"""Settings that change nothing in a sandbox made for a request: the pool's sizes, the audit log's,
and the host folders a call may name (the policy judged the call's, and the request holds them)."""


def shape_of(request: CreateRequest, settings: ServerSettings, image_id: str | None = None) -> str:
    """The digest (16 hex digits) of what a sandbox is made from: the request but its name, the
    server's settings but NOT_SHAPING, and the id of the sandbox image (the tag may be rebuilt).
    Equal digests: sandboxes made alike."""
    asked = dataclasses.asdict(dataclasses.replace(request, name=None))
    if request.network is not None:
        asked["network"] = request.network.model_dump(mode="json")
    server = settings.model_dump(mode="json", exclude=NOT_SHAPING)
    made = json.dumps({"request": asked, "settings": server, "image": image_id}, sort_keys=True, default=str)
    return hashlib.sha256(made.encode()).hexdigest()[:16]


def serves(request: CreateRequest) -> bool:
    """Whether a warm pool may serve this request: it names no sandbox and asks for dind mode (sock
    mode always asks a human first)."""
    return request.name is None and (request.mode or "dind") == "dind"


async def shape_now(engine: Engine, request: CreateRequest, settings: ServerSettings) -> str:
    """`shape_of` with the id the sandbox image has on the engine now."""
    found = await in_thread(engine.image_tags, request.image or settings.sandbox_image)
    return shape_of(request, settings, found[0] if found else None)


async def take(service: SandboxService, request: CreateRequest, started: float) -> CreateSandboxResult | None:
    """A ready sandbox made for `request` (one the pool serves), now the caller's; None when none waits. Its
    engine is probed (and revived if it stopped answering) as for a reused sandbox. Raises what
    SandboxService.answering raises."""
    shape = await shape_now(service.engine, request, service.settings)
    labels = {**ownership.owner_labels(service.settings.scope), ownership.KIND: "sandbox", ownership.POOL_SHAPE: shape}
    for container in await in_thread(service.engine.list_containers, labels):
        if not container.name.endswith(ownership.POOLED) or container.state != "running":  # (ready ones)
            continue
        sandbox = Sandbox.of(container)
        name = ownership.container_name(service.settings.scope, sandbox.name)
        try:  # by its pooled name: only if no one else took it meanwhile
            await in_thread(service.engine.rename_container, container.name, name)
        except (ObjectNotFound, ObjectConflict):  # another taker got it first, or it went
            continue
        if service.pool_taken is not None:  # (this server keeps a pool filled)
            service.pool_taken.set()
        notices: list[str] = []
        taken = await service.inspect(sandbox)
        version, view = await both(service.answering(taken, probe_only=True, notices=notices), service.view(taken))
        return CreateSandboxResult(
            **view.model_dump(),
            created=True,
            ready_s=round(time.monotonic() - started, 3),
            engine_version=version,
            preloaded=list(service.settings.preload_images),
            notices=notices,
            pooled=True,
        )
    return None


async def make_pooled(service: SandboxService, request: CreateRequest, name: str) -> CreateSandboxResult:
    """A sandbox `name` for the warm pool: made for `request` (serves) like any, under a container
    name that keeps it out of every listing until it is handed out. Raises what create does."""
    shape = await shape_now(service.engine, request, service.settings)
    made = await service.make_hidden(request, name, suffix=ownership.POOLING, labels={ownership.POOL_SHAPE: shape})
    pooled = ownership.container_name(service.settings.scope, name) + ownership.POOLED
    await in_thread(service.engine.rename_container, made.id, pooled)
    return made

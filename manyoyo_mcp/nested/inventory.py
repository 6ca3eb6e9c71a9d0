"""What lives inside a sandbox's own engine, and pruning it, through its API (never the host's engine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from manyoyo_mcp.engine import DiskUsage, NestedInventory, PruneReport
from manyoyo_mcp.models import (
    ListNestedResult,
    NestedContainerView,
    NestedImageView,
    NestedNetworkView,
    NestedVolumeView,
    PrunedItem,
    PruneResult,
)
from manyoyo_mcp.nested.connect import opened_engine
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, NestedEngine

ImageSelection = Literal["none", "dangling", "unused"]
STOPPED_STATES = ("exited", "created", "dead", "stopped", "configured")


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch else ""


async def list_nested(engine: Engine, sandbox: Sandbox) -> ListNestedResult:
    """What the sandbox's own engine holds: containers (any state, with image, ports, exit code),
    images (tags, size in bytes), volumes, networks. Raises EngineFailure (its engine failed)."""
    kind = sandbox.engine
    async with opened_engine(engine, sandbox) as nested:
        inventory: NestedInventory = await in_thread(nested.inventory)
    return ListNestedResult(
        sandbox=sandbox.name,
        engine=kind,  # type: ignore[arg-type]
        containers=[
            NestedContainerView(
                id=c.id,
                name=c.name,
                image=c.image,
                state=c.state,
                status=c.status,
                created_at=_iso(c.created),
                exit_code=c.exit_code,
                ports=list(c.ports),
            )
            for c in inventory.containers
        ],
        images=[
            NestedImageView(id=i.id, tags=list(i.tags), size_bytes=i.size, created_at=_iso(i.created), shared=i.shared)
            for i in inventory.images
        ],
        volumes=[NestedVolumeView(name=v.name, driver=v.driver) for v in inventory.volumes],
        networks=[NestedNetworkView(name=n.name, driver=n.driver) for n in inventory.networks],
    )


@dataclass(frozen=True, slots=True)
class PruneRequest:
    containers: bool = True
    images: ImageSelection = "dangling"
    volumes: bool = False
    build_cache: bool = True
    dry_run: bool = False


def prune_plan(inventory: NestedInventory, usage: DiskUsage, request: PruneRequest) -> list[PrunedItem]:
    """What a prune would remove, in the engine's order: containers first, then what they used."""
    plan: list[PrunedItem] = []
    staying = list(inventory.containers)
    if request.containers:
        stopped = [c for c in inventory.containers if c.state in STOPPED_STATES]
        staying = [c for c in inventory.containers if c.state not in STOPPED_STATES]
        plan += [PrunedItem(kind="container", id=c.id, name=c.name, size_bytes=None) for c in stopped]
    used_images = {c.image_id for c in staying}
    if request.images != "none":
        for image in inventory.images:
            if image.shared or image.id in used_images or (request.images == "dangling" and image.tags):
                continue
            size = usage.image_bytes.get(image.id, image.size)
            plan.append(PrunedItem(kind="image", id=image.id, name=", ".join(image.tags), size_bytes=size))
    if request.volumes:
        used_volumes = {v for c in staying for v in c.volumes}
        plan += [
            PrunedItem(kind="volume", id=v.name, name=v.name, size_bytes=usage.volume_bytes.get(v.name))
            for v in inventory.volumes
            if v.name not in used_volumes
        ]
    if request.build_cache:
        plan += [PrunedItem(kind="build_cache", id=i, name="", size_bytes=n) for i, n in usage.build_cache]
    return plan


def _prune(
    nested: NestedEngine, request: PruneRequest, names: dict[str, str]
) -> tuple[list[PrunedItem], dict[str, int]]:
    """Blocking: prune for real; (items removed, bytes reclaimed per kind) as the engine reports them."""
    items: list[PrunedItem] = []
    reclaimed: dict[str, int] = {}
    steps: list[tuple[str, PruneReport]] = []
    if request.containers:
        steps.append(("container", nested.prune_containers()))
    if request.images != "none":
        steps.append(("image", nested.prune_images(unused=request.images == "unused")))
    if request.volumes:
        steps.append(("volume", nested.prune_volumes()))
    if request.build_cache:
        steps.append(("build_cache", nested.prune_build_cache()))
    for kind, report in steps:
        reclaimed[kind] = report.bytes_reclaimed
        items += [
            PrunedItem(kind=kind, id=i, name=names.get(i, ""), size_bytes=None)  # type: ignore[arg-type]
            for i in report.removed
        ]
    return items, reclaimed


async def prune(engine: Engine, sandbox: Sandbox, request: PruneRequest) -> PruneResult:
    """Free space in the sandbox's own engine, or with `dry_run` list what would go (with the
    engine's size estimates). Returns the items, the bytes reclaimed (per kind and in all, as the
    engine reports them) and notes on what was skipped. Raises EngineFailure."""
    kind = sandbox.engine
    notes = []
    if request.build_cache and kind == "podman":
        notes.append("podman keeps no separate build cache: its build layers are images, pruned with `images`")
    async with opened_engine(engine, sandbox) as nested:
        inventory: NestedInventory = await in_thread(nested.inventory)
        if request.dry_run:
            usage: DiskUsage = await in_thread(nested.disk_usage)
            items = prune_plan(inventory, usage, request)
            by_kind: dict[str, int] = {}
            for item in items:
                by_kind[item.kind] = by_kind.get(item.kind, 0) + (item.size_bytes or 0)
        else:
            names = {c.id: c.name for c in inventory.containers} | {i.id: ", ".join(i.tags) for i in inventory.images}
            items, by_kind = await in_thread(_prune, nested, request, names)
    return PruneResult(
        sandbox=sandbox.name,
        engine=kind,  # type: ignore[arg-type]
        dry_run=request.dry_run,
        items=items,
        bytes_reclaimed=sum(by_kind.values()),
        bytes_by_kind=by_kind,
        notes=notes,
    )

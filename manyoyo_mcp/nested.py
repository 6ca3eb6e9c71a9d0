"""What lives inside a sandbox's own engine, read through its API (never the host's engine)."""

from __future__ import annotations

from datetime import UTC, datetime

from manyoyo_mcp import ownership
from manyoyo_mcp.engine import ContainerSummary, Engine, NestedEngine, NestedInventory
from manyoyo_mcp.models import (
    ListNestedResult,
    NestedContainerView,
    NestedImageView,
    NestedNetworkView,
    NestedVolumeView,
)
from manyoyo_mcp.sandboxes import ENGINE_SOCKETS, in_thread


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch else ""


async def list_nested(engine: Engine, sandbox: ContainerSummary) -> ListNestedResult:
    kind = sandbox.labels.get(ownership.ENGINE, "docker")
    nested: NestedEngine = await in_thread(engine.nested, sandbox.id, ENGINE_SOCKETS[kind])
    try:
        inventory: NestedInventory = await in_thread(nested.inventory)
    finally:
        await in_thread(nested.close)
    return ListNestedResult(
        sandbox=sandbox.labels.get(ownership.SANDBOX, ""),
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
            NestedImageView(id=i.id, tags=list(i.tags), size_bytes=i.size, created_at=_iso(i.created))
            for i in inventory.images
        ],
        volumes=[NestedVolumeView(name=v.name, driver=v.driver) for v in inventory.volumes],
        networks=[NestedNetworkView(name=n.name, driver=n.driver) for n in inventory.networks],
    )

"""What a create leaves when it fails or races: the storage volume and network it made, and a
network left behind by a sandbox removed outside the server (or a server killed mid-create)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from manyoyo_mcp.engine import ObjectConflict
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.plan import SandboxPlan

NAME_RACE_S = 10
"""How long a create that lost the name to another server's waits for that sandbox to be listed."""


async def remove_stale_network(engine: Engine, network: str) -> None:
    """A network of this name that no container uses and that is older than NAME_RACE_S was left
    by this sandbox removed outside the server (or a server killed mid-create): it is removed.
    A newer one is a concurrent create's: its create_network conflicts and that sandbox is adopted."""
    age = await in_thread(engine.unused_network_age, network)
    if age is not None and age > NAME_RACE_S:
        await in_thread(engine.remove_network, network)


async def remove_storage_and_network(engine: Engine, plan: SandboxPlan) -> None:
    """Remove the volume and network this create made, unless a container uses them (a
    concurrent create's)."""
    if plan.volume is not None:
        with contextlib.suppress(ObjectConflict):
            await in_thread(engine.remove_volume, plan.volume)
    if plan.spec.network is not None:
        with contextlib.suppress(ObjectConflict):
            await in_thread(engine.remove_network, plan.spec.network)

"""The engine a sandbox's nested tools talk to: its own (dind), or the host's seen through labels (sock)."""

from __future__ import annotations

from manyoyo_mcp import ownership
from manyoyo_mcp.engine import ContainerSummary, Engine, NestedEngine
from manyoyo_mcp.image import ENGINE_SOCKETS


def open_engine(engine: Engine, sandbox: ContainerSummary) -> NestedEngine:
    """Blocking. In sock mode only what this sandbox's tools made is visible (the server's labels)."""
    if sandbox.labels.get(ownership.MODE) == "sock":
        return engine.scoped({ownership.SOCK_OF: sandbox.id})
    kind = sandbox.labels.get(ownership.ENGINE, "docker")
    return engine.nested(sandbox.id, ENGINE_SOCKETS[kind], kind)

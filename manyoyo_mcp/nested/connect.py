"""The engine a sandbox's nested tools talk to: its own (dind), or the host's seen through labels (sock)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.inside import PROPER_ROOT
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, NestedEngine


def open_engine(engine: Engine, sandbox: Sandbox) -> NestedEngine:
    """Blocking. In sock mode only what this sandbox's tools made is visible (the server's labels)."""
    if sandbox.is_sock:
        return engine.scoped({ownership.SOCK_OF: sandbox.id})
    kind = sandbox.engine
    return engine.nested(sandbox.id, ENGINE_SOCKETS[kind], kind, PROPER_ROOT)


@contextlib.asynccontextmanager
async def opened_engine(engine: Engine, sandbox: Sandbox) -> AsyncIterator[NestedEngine]:
    """`open_engine` for async code, closed (even when the call is cancelled) on the way out."""
    nested: NestedEngine = await in_thread(open_engine, engine, sandbox)
    try:
        yield nested
    finally:
        with anyio.CancelScope(shield=True):
            await in_thread(nested.close)

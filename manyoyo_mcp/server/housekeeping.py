"""What the server does on its own while it serves: idle sandboxes cleaned up past the operator's
TTL (MANYOYO_IDLE_TTL), checked every quarter of the TTL (between 5 s and 5 min), and the warm
pool kept filled (MANYOYO_WARM_POOL, sandbox/warm_pool.py)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.limits import parse_duration
from manyoyo_mcp.sandbox.cleanup import collect
from manyoyo_mcp.sandbox.warm_pool import WarmPool

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def housekeeping(app: App) -> AsyncIterator[None]:
    """While the server runs: the idle cleanup, when the operator set a TTL; the warm pool kept
    filled, when the operator set one (its waiting sandboxes removed when the server stops)."""
    ttl = app.settings.idle_ttl
    pool = WarmPool(app.sandboxes, app.recorder) if app.settings.warm_pool else None
    async with anyio.create_task_group() as group:
        if ttl is not None:
            group.start_soon(_cleanup, app, ttl, min(max(parse_duration(ttl) / 4, 5.0), 300.0))
        if pool is not None:
            group.start_soon(pool.keep_filled)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
    if pool is not None:
        with anyio.CancelScope(shield=True):
            try:
                await pool.drain()
            except ManyoyoError as exc:
                log.warning("warm pool: its waiting sandboxes could not all be removed: %s", exc)


async def _cleanup(app: App, ttl: str, every_s: float) -> None:
    while True:
        await anyio.sleep(every_s)
        try:
            await collect(
                app.sandboxes, app.recorder, ttl=ttl, action=app.settings.idle_action, client="manyoyo-mcp serve"
            )
        except ManyoyoError as exc:  # the engine is down, the log full: try again next time
            log.warning("idle cleanup: %s", exc)

"""Blocking engine calls from async code."""

from __future__ import annotations

from functools import partial

import anyio.to_thread


async def in_thread(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run a blocking engine call off the event loop; a cancelled caller does not wait for it."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), abandon_on_cancel=True)

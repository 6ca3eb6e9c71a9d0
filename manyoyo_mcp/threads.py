"""Blocking engine calls from async code: one call, or a stream read under a deadline."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

ProgressCallback = Callable[[int, str], Awaitable[None]]
"""Where work in progress reports: (bytes or steps so far, the latest output)."""
REPORT_INTERVAL_S = 0.25
# After a stop, how long a stream may take to end by itself before it is closed.
DRAIN_GRACE_S = 3.0
T = TypeVar("T")
U = TypeVar("U")
log = logging.getLogger(__name__)


async def both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Await two calls at once: their results, or the first error as itself (not an exception
    group; the other call is cancelled)."""
    results: list[object] = [None, None]

    async def run(index: int, call: Awaitable[object]) -> None:
        results[index] = await call

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run, 0, first)
            group.start_soon(run, 1, second)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return results[0], results[1]  # type: ignore[return-value]


async def in_thread(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run a blocking engine call off the event loop; a cancelled caller does not wait for it."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), abandon_on_cancel=True)


async def supervise(
    read: Callable[[], None],
    *,
    timeout_s: float,
    stop: Callable[[], Awaitable[None]],
    report: Callable[[], Awaitable[None]] | None = None,
    close_after_stop: Callable[[], None] | None = None,
) -> bool:
    """Run the blocking `read` (it consumes a stream until the stream ends) under a deadline.

    At `timeout_s`, or when the caller is cancelled, `stop()` ends the work (shielded: a stop
    must finish even while everything around it unwinds; one that fails, say because the
    container was paused meanwhile, is logged); `close_after_stop` then closes a stream that
    did not end by itself within DRAIN_GRACE_S. `report()` runs every
    REPORT_INTERVAL_S meanwhile. Returns True if the deadline was hit.
    """
    timed_out = False

    async def watchdog() -> None:
        nonlocal timed_out
        await anyio.sleep(timeout_s)
        timed_out = True
        with anyio.CancelScope(shield=True):
            await _stopped(stop)
        if close_after_stop is not None:
            await anyio.sleep(DRAIN_GRACE_S)
            close_after_stop()

    async def reporter() -> None:
        while report is not None:
            await anyio.sleep(REPORT_INTERVAL_S)
            await report()

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watchdog)
            tasks.start_soon(reporter)
            await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
            tasks.cancel_scope.cancel()
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await _stopped(stop)
        raise
    if report is not None:
        await report()
    return timed_out


async def _stopped(stop: Callable[[], Awaitable[None]]) -> None:
    try:
        await stop()
    except Exception as exc:  # the stream is still closed after the grace: nothing is left open
        log.warning("stopping work at its deadline failed: %s", exc)


async def bounded(work: Callable[[], T], *, timeout_s: float, abort: Callable[[], None]) -> tuple[T | None, bool]:
    """Run the blocking `work` in a worker thread under a deadline: (its result, False), or
    (None, True) when `timeout_s` passed first. At the deadline, or when the caller is cancelled,
    `abort()` (run in another thread, shielded) must make `work` end, e.g. by cutting its
    streams; the caller does not wait for that: whatever `work` raises after the abort is dropped."""
    with anyio.move_on_after(timeout_s) as deadline:
        return await in_abortable_thread(work, abort=abort), False
    assert deadline.cancelled_caught
    return None, True


async def in_abortable_thread(work: Callable[[], T], *, abort: Callable[[], None]) -> T:
    """`in_thread` for a blocking call that can be made to end (`abort()`, e.g. cutting its
    connection): when the caller is cancelled, it is, instead of being left running."""
    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(abort)
        raise

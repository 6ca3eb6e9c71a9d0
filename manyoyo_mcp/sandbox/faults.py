"""What the server does when a sandbox fails under a call: its engine lost (looked into, revived,
explained), the sandbox paused, stopped or removed from outside (the call ends and says so), an
engine that does not answer when the sandbox is reused (revived, with a notice), a sandbox found
gone or stopped after a cached lookup (forgotten, and the call fails as a fresh lookup would).

A part of SandboxService (service.py), kept apart to keep each module short.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, TypeVar

import anyio

from manyoyo_mcp.errors import (
    EngineFailure,
    ManyoyoError,
    NestedEngineLost,
    ObjectConflict,
    ObjectNotFound,
    SandboxNotFound,
    SandboxNotReady,
    SandboxNotRunning,
)
from manyoyo_mcp.sandbox.readiness import revive, revived, startup_log, wait_ready
from manyoyo_mcp.sandbox.view import RecentlyRunning, Sandbox

if TYPE_CHECKING:
    from manyoyo_mcp.config.settings import ServerSettings
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.inside import Entry
    from manyoyo_mcp.sandbox.sandboxd import Daemons

T = TypeVar("T")
SETTLE_S = 3
"""After a call failed on its sandbox, how long the sandbox is watched for stopping (a docker stop under way)."""


class SandboxFaults:
    """The fault handling of SandboxService: needs its engine, settings, caches, `inspect`,
    `entry` and `resolve_running`."""

    engine: Engine
    settings: ServerSettings
    daemons: Daemons
    _entries: dict[str, Entry]
    _resolved: RecentlyRunning

    async def resolve_running(self, reference: str, cached: bool = False) -> Sandbox:
        raise NotImplementedError

    async def inspect(self, sandbox: Sandbox) -> Sandbox:
        raise NotImplementedError

    async def entry(self, sandbox: Sandbox) -> Entry:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def checked(self, sandbox: Sandbox, reference: str) -> AsyncIterator[None]:
        """Around work on a sandbox that may have come from the cache: if the engine says it is gone
        or stopped, it is forgotten and the call fails as a fresh lookup would (names, how to start)."""
        try:
            yield
        except (ObjectNotFound, ObjectConflict) as exc:
            self.forget(sandbox.id)
            gone = await self._gone(sandbox, settle_s=0)
            if gone is not None:
                raise gone from exc
            await self.resolve_running(reference)
            raise

    async def entry_kept(self, sandbox: Sandbox) -> None:
        """Read and keep how commands enter the sandbox, ahead of need; a failure is left to the
        next `entry` call to raise."""
        with contextlib.suppress(Exception):
            await self.entry(sandbox)

    def forget(self, sandbox_id: str) -> None:
        """Drop what is kept about a sandbox (its lookups, state, channel to its daemon)."""
        self._resolved.drop(sandbox_id)
        self._entries.pop(sandbox_id, None)
        self.daemons.drop(sandbox_id)

    async def answering(self, sandbox: Sandbox, *, probe_only: bool, notices: list[str]) -> str:
        """The version of the sandbox's engine once it answers. One that was running is probed once
        and, if it does not answer, revived (readiness.revive; what was done goes to `notices`).
        Raises SandboxNotReady after ready_timeout_s, with the sandbox's log."""
        kind, wait = sandbox.engine, self.settings.ready_timeout_s
        version = await wait_ready(self.engine, sandbox.id, kind, sandbox.is_sock, 0 if probe_only else wait)
        story = ""
        if version is None and probe_only and not sandbox.is_sock:
            report = await revive(self.engine, sandbox.id, await self.entry(sandbox), kind)
            story = report.story()
            version = await wait_ready(self.engine, sandbox.id, kind, False, wait)
            if report.did:
                notices.append(f"{story}; it answers again")
        elif version is None and probe_only:
            version = await wait_ready(self.engine, sandbox.id, kind, True, wait)
        if version is None:
            raise SandboxNotReady(
                f"{story + '; ' if story else ''}the {kind} engine of sandbox {sandbox.name!r} did not answer within "
                f"{wait:g}s. {await startup_log(self.engine, sandbox.id)}\nIf it does not recover, remove_sandbox and "
                "create it again"
            )
        return version

    async def on_engine(self, sandbox: Sandbox, work: Awaitable[T]) -> T:
        """`work` on the sandbox's own engine. If it lost the engine, the error says what happened
        to the engine and what the server did about it (engine_lost)."""
        try:
            return await work
        except NestedEngineLost as exc:
            raise await self.engine_lost(sandbox, exc) from exc
        except EngineFailure as exc:  # "is not running", "no such container": was it stopped meanwhile?
            gone = await self._gone(sandbox)
            if gone is None:
                raise
            raise gone from exc

    async def _gone(self, sandbox: Sandbox, settle_s: float = SETTLE_S) -> ManyoyoError | None:
        """The error for a sandbox removed, stopped or paused (outside this server) during a call;
        None if it runs. A sandbox being stopped still shows as running for a moment (its init
        ends last), so it is looked at for up to `settle_s`."""
        deadline = time.monotonic() + settle_s
        while True:
            try:
                current = await self.inspect(sandbox)
            except ObjectNotFound:
                return SandboxNotFound(f"sandbox {sandbox.name!r} was removed (outside this server) during the call")
            if not current.running:
                break
            if time.monotonic() > deadline:
                return None
            await anyio.sleep(0.25)
        how = "paused" if current.state == "paused" else "stopped"
        return SandboxNotRunning(
            f"sandbox {sandbox.name!r} is {current.state}: it was {how} during the call (outside this server); "
            f"call create_sandbox with name {sandbox.name!r} to start it again"
        )

    async def engine_lost(self, sandbox: Sandbox, lost: NestedEngineLost) -> ManyoyoError:
        """Why a call lost the sandbox's engine, after the server has looked, and revived it if it
        was down (readiness.revive), waiting until it answers again."""
        if sandbox.is_sock:
            return lost  # the host's own engine: its errors say how to start it
        gone = await self._gone(sandbox, settle_s=0)
        if gone is not None:
            return gone
        current = await self.inspect(sandbox)
        try:
            entry = await self.entry(current)
            return await revived(self.engine, current, entry, lost, self.settings.ready_timeout_s)
        except EngineFailure:  # the sandbox went while the server looked into it
            return await self._gone(sandbox) or lost

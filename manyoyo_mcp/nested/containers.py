"""A nested container already there: its logs, stopping and removing it (run.py starts them).

Containers are found by name or id in the sandbox's own engine (in sock mode, only among the
objects this sandbox's tools made); a miss lists the containers that are there.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from manyoyo_mcp.engine import NestedContainerState
from manyoyo_mcp.errors import ContainerNotFound, InvalidArgument, ObjectNotFound
from manyoyo_mcp.models import ContainerLogsResult, RemoveContainerResult, StopContainerResult
from manyoyo_mcp.nested import specs
from manyoyo_mcp.nested.connect import opened_engine
from manyoyo_mcp.output import OutputCapture
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, NestedEngine


async def _resolve(nested: NestedEngine, sandbox: str, container: str) -> NestedContainerState:
    specs.check_no_nul("container", container)
    try:
        return await in_thread(nested.state, container)
    except ObjectNotFound as exc:
        inventory = await in_thread(nested.inventory)
        names = ", ".join(c.name for c in inventory.containers) or "none"
        raise ContainerNotFound(
            f"no container {container!r} in sandbox {sandbox!r} (give its name or id). Containers there: {names}"
        ) from exc


def since_epoch(since: str | float | None) -> int | None:
    """'30' or 30 -> 30 seconds ago; an ISO 8601 timestamp -> that moment."""
    if since is None:
        return None
    if isinstance(since, int | float) or since.replace(".", "", 1).isdigit():
        seconds = float(since)
        if seconds < 0:
            raise InvalidArgument("since may not be negative")
        return int(time.time() - seconds)
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidArgument(
            f"since {since!r} is not understood: give seconds ago (e.g. 60) or an ISO 8601 time "
            "(e.g. 2026-11-29T10:00:00Z)"
        ) from exc
    if moment.tzinfo is None:
        raise InvalidArgument(f"since {since!r} has no time zone: add 'Z' or an offset like '+00:00'")
    return int(moment.timestamp())


async def container_logs(
    engine: Engine,
    sandbox: Sandbox,
    container: str,
    *,
    tail: int | None,
    since: str | float | None,
    output_cap: int,
) -> ContainerLogsResult:
    """A nested container's output: the last `tail` lines, `since` seconds ago or an ISO time,
    each stream bounded by `output_cap` bytes. Raises ContainerNotFound (listing the containers
    there) and InvalidArgument (an unreadable `since`)."""
    name = sandbox.name
    since_ts = since_epoch(since)
    capture = OutputCapture(output_cap)
    async with opened_engine(engine, sandbox) as nested:
        state = await _resolve(nested, name, container)
        stream = await in_thread(nested.logs, state.id, follow=False, tail=tail, since=since_ts)
        try:
            for kind, data in await in_thread(lambda: list(stream.frames())):
                capture.write(kind, data)
        finally:
            stream.close()
    return ContainerLogsResult(
        sandbox=name,
        container=state.name,
        state=state.state,
        stdout=capture.stdout.text(),
        stderr=capture.stderr.text(),
        stdout_bytes=capture.stdout.total,
        stderr_bytes=capture.stderr.total,
        truncated=capture.truncated,
    )


async def stop_container(engine: Engine, sandbox: Sandbox, container: str, *, timeout_s: int) -> StopContainerResult:
    """Stop a running nested container: SIGTERM, then SIGKILL after `timeout_s` seconds (a stopped
    one is left as it is). Returns its state and exit code. Raises ContainerNotFound."""
    name = sandbox.name
    async with opened_engine(engine, sandbox) as nested:
        state = await _resolve(nested, name, container)
        if state.state == "running":
            await in_thread(nested.stop, state.id, timeout_s)
            state = await in_thread(nested.state, state.id)
    return StopContainerResult(sandbox=name, id=state.id, name=state.name, state=state.state, exit_code=state.exit_code)


async def remove_container(engine: Engine, sandbox: Sandbox, container: str, *, force: bool) -> RemoveContainerResult:
    """Remove a nested container with its anonymous volumes (`force`: kill it first if it runs).
    Raises ContainerNotFound, and InvalidArgument for a running one without `force`."""
    name = sandbox.name
    async with opened_engine(engine, sandbox) as nested:
        state = await _resolve(nested, name, container)
        if state.state == "running" and not force:
            raise InvalidArgument(
                f"container {state.name!r} is running: stop_container it first, or pass force=true to kill and "
                "remove it"
            )
        await in_thread(nested.remove, state.id, force=force)
    return RemoveContainerResult(sandbox=name, id=state.id, name=state.name)

"""A sandbox paused, stopped or removed behind the server's back during a call: the call ends and
says what happened, and create_sandbox on that name brings it back answering (issue 12)."""

from __future__ import annotations

import secrets

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import answers_at_once, call, docker, tool_error

pytestmark = pytest.mark.anyio


async def meanwhile(action: tuple[str, ...], work) -> object:
    """`work()` while the host's docker runs `action` once the call is under way (after 1.5 s)."""
    outcome: list[object] = []

    async def run() -> None:
        outcome.append(await work())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        await anyio.sleep(1.5)
        await anyio.to_thread.run_sync(lambda: docker(*action))
    return outcome[0]


async def test_a_sandbox_paused_stopped_or_removed_mid_call(settings: ServerSettings, engine: Engine):
    name = f"fault-{secrets.token_hex(3)}"
    server = build_server(settings, engine)
    async with Client(server) as client:
        created = await call(client, "create_sandbox", {"name": name})
        container = created["id"]
        long_exec = {"sandbox": name, "command": "echo hi; sleep 1007", "timeout_s": 4}

        paused = await meanwhile(("pause", container), lambda: tool_error(client, "exec", long_exec))
        refused = await tool_error(client, "exec", {"sandbox": name, "command": "true"})
        again = await call(client, "create_sandbox", {"name": name})
        await answers_at_once(client, name)

        await call(client, "exec", {"sandbox": name, "command": "pkill -f '[s]leep 1007'; mkdir -p /tmp/c"})
        build = {"sandbox": name, "context": "/tmp/c", "dockerfile": "FROM scratch\nCOPY missing /\n"}
        slow_tar = "printf '#!/bin/sh\\nexec sleep 1008\\n' > /usr/local/bin/tar; chmod +x /usr/local/bin/tar"
        await call(client, "exec", {"sandbox": name, "command": f'sudo sh -c "{slow_tar}"'})
        stopped = await meanwhile(("stop", "-t", "2", container), lambda: tool_error(client, "build_image", build))
        await call(client, "create_sandbox", {"name": name})
        await call(client, "exec", {"sandbox": name, "command": "sudo rm -f /usr/local/bin/tar"})
        await answers_at_once(client, name)

        removed = await meanwhile(("rm", "-f", container), lambda: client.call_tool("exec", long_exec))
        missing = await tool_error(client, "exec", {"sandbox": name, "command": "true"})
        back = await call(client, "create_sandbox", {"name": name})
        await answers_at_once(client, name)
        await call(client, "remove_sandbox", {"sandbox": name})
    # The command's daemon is frozen with the sandbox: the call ends as soon as that is seen, and says so.
    assert "is paused: it was paused during the call (outside this server)" in paused  # type: ignore[operator]
    assert "is paused; call create_sandbox" in refused
    assert not again["created"] and "the sandbox was paused (outside this server) and was unpaused" in again["notices"]
    assert "is exited: it was stopped during the call (outside this server)" in stopped  # type: ignore[operator]
    # Killed with its container: an error saying so (through sandboxd), or exit 137 or the engine's story (crun exec).
    text = " ".join(getattr(block, "text", "") for block in removed.content)  # type: ignore[attr-defined]
    result = removed.structured_content or {}  # type: ignore[attr-defined]
    assert (
        "was removed (outside this server) during the call" in text
        or "its sandbox was removed or restarted during the call" in text
        or result.get("exit_code") == 137
    )
    assert f"no sandbox named {name!r}" in missing
    assert back["created"] and back["id"] != container

"""Concurrent creates of one name, from one server and from two sharing the engine, give one sandbox
(item 4); absurd inputs and working directories in /proc get an error naming the limit or the rule,
and the sandbox answers at once afterwards (items 5 and 6 of issue 12)."""

from __future__ import annotations

import secrets
from pathlib import Path

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.server import build_server

from ..helpers import answers_at_once, call, docker, tool_error

pytestmark = pytest.mark.anyio


async def create_concurrently(clients: list[Client], name: str) -> list[dict]:
    results: list[dict] = []

    async def create(client: Client) -> None:
        results.append(await call(client, "create_sandbox", {"name": name}))

    async with anyio.create_task_group() as tasks:
        for client in clients:
            tasks.start_soon(create, client)
    return results


@pytest.mark.parametrize("servers", [1, 2])
async def test_concurrent_creates_of_one_name_give_one_sandbox(settings: ServerSettings, engine: Engine, servers):
    name = f"race-{secrets.token_hex(3)}"
    built = [build_server(settings, engine) for _ in range(servers)]
    async with Client(built[0]) as first, Client(built[-1]) as last:
        results = await create_concurrently([first, last, first, last], name)
        await answers_at_once(first, name)
        await call(first, "remove_sandbox", {"sandbox": name})
    assert sorted(r["created"] for r in results) == [False, False, False, True]
    assert len({r["id"] for r in results}) == 1 and all(r["state"] == "running" for r in results)
    volume = ownership.engine_volume_name(settings.scope, name)
    assert volume not in docker("volume", "ls", "-q").split()


@pytest.fixture(scope="module")
def shared(settings: ServerSettings, engine: Engine):
    name = f"absurd-{secrets.token_hex(3)}"

    async def use(tool: str, arguments: dict) -> None:
        async with Client(build_server(settings, engine)) as client:
            await call(client, tool, arguments)

    anyio.run(use, "create_sandbox", {"name": name})
    yield name
    anyio.run(use, "remove_sandbox", {"sandbox": name})


def absurd_calls(sandbox: str, root: Path) -> list[tuple[str, dict, str]]:
    """(tool, arguments, what the error must say)."""
    long = "a" * 5000
    return [
        ("create_sandbox", {"name": "w1", "workspace": f"{root}/{long}"}, "path of 5"),
        ("create_sandbox", {"name": "w2", "workspace": f"{root}/" + "b" * 300}, "a name of 300 bytes"),
        ("create_sandbox", {"name": "x" * 5000}, "name is 5000 bytes: at most"),
        ("create_sandbox", {"name": "w3", "env": {"A": "v" * 300_000}}, "is 300002 bytes: at most 131071"),
        ("exec", {"sandbox": sandbox, "command": "echo " + "y" * 200_000}, "has a word of 200005 bytes"),
        ("exec", {"sandbox": sandbox, "command": ["echo"] + ["z" * 1000] * 3000}, "3001 entries: at most 1000"),
        ("exec", {"sandbox": sandbox, "command": "true", "env": {"B": "w" * 200_000}}, "at most 131071"),
        ("exec", {"sandbox": sandbox, "command": "true", "workdir": f"/{long}"}, "path of 5001 bytes"),
        ("exec", {"sandbox": sandbox, "command": "pwd", "workdir": "/proc/self/fd/7"}, "sandbox.proc-workdir"),
        ("exec", {"sandbox": sandbox, "command": "pwd", "workdir": "/dev/fd/8"}, "sandbox.proc-workdir"),
        ("run_container", {"sandbox": sandbox, "image": "x", "workdir": "/proc/self/fd/7"}, "sandbox.proc-workdir"),
        ("build_image", {"sandbox": sandbox, "context": "/proc/self/fd/7"}, "sandbox.proc-workdir"),
        ("build_image", {"sandbox": sandbox, "context": "/tmp", "tag": "t" * 5000}, "tag is 5000 bytes"),
        ("container_logs", {"sandbox": sandbox, "container": "c" * 5000}, "container is 5000 bytes"),
        ("launch_agent", {"prompt": "p" * 300_000, "sandbox": sandbox}, "has a word of 300000 bytes"),
    ]


async def test_absurd_inputs_get_errors_naming_the_limit_and_the_sandbox_answers(settings, engine, shared, tmp_path):
    async with Client(build_server(settings, engine)) as client:
        for tool, arguments, says in absurd_calls(shared, tmp_path):
            message = await tool_error(client, tool, arguments)
            assert says in message and len(message) < 1000, (tool, message[:300])
            assert message.startswith(f"Error executing tool {tool}: denied by policy rule "), message[:300]
        await answers_at_once(client, shared)
        symlinked = await call(client, "exec", {"sandbox": shared, "command": "ln -sfn /proc/1 /tmp/p1 && echo made"})
        refused = await tool_error(client, "build_image", {"sandbox": shared, "context": "/tmp/p1"})
    assert symlinked["stdout"] == "made\n"
    assert "sandbox.proc-workdir" in refused and "(that is /proc/1)" in refused, refused

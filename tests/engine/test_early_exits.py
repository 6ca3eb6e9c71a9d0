"""Every early exit from a call that holds an engine stream (a refusal, a cap reached, a timeout, a
cancelled call, a client gone) closes what it held: afterwards the same sandbox answers a trivial
exec, and the server lists its sandboxes, within a second (issue 12, items 1 and 2)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client, StdioServerParameters

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, answers_at_once, call, cancel_after, in_proper, tool_error

pytestmark = pytest.mark.anyio

BIG_IMAGE = "manyoyo-sandbox:*"  # over a gigabyte: a copy still runs when it is cut


@pytest.fixture(scope="module")
def early_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(
        update={"max_build_context": "1m", "loadable_images": (TESTBOX, BIG_IMAGE, settings.sandbox_image)}
    )


@pytest.fixture(scope="module")
def sandbox(early_settings: ServerSettings, engine: Engine) -> Iterator[tuple[str, str]]:
    """(name, container id) of a docker sandbox with the busybox image loaded."""
    name = f"early-{secrets.token_hex(3)}"

    async def create() -> str:
        async with Client(build_server(early_settings, engine)) as client:
            created = await call(client, "create_sandbox", {"name": name})
            await call(client, "load_image", {"sandbox": name, "image": TESTBOX})
            return str(created["id"])

    async def remove() -> None:
        async with Client(build_server(early_settings, engine)) as client:
            await call(client, "remove_sandbox", {"sandbox": name})

    yield name, anyio.run(create)
    anyio.run(remove)


@pytest.fixture
def server(early_settings: ServerSettings, engine: Engine):
    return build_server(early_settings, engine)


def host_answers(container: str) -> None:
    """The host's engine answers about the sandbox's container (it was wedged in issue 12)."""
    subprocess.run(["docker", "inspect", "--format", "{{.State.Status}}", container], check=True, timeout=5)


async def processes(client: Client, sandbox: str, pattern: str) -> str:
    found = await call(
        client, "exec", {"sandbox": sandbox, "command": f"ps -eo args | grep -e '{pattern}' | grep -v grep"}
    )
    return found["stdout"]


async def gone(client: Client, sandbox: str, pattern: str) -> None:
    """Bounded wait until no process in the sandbox matches `pattern`."""
    with anyio.fail_after(20):
        while await processes(client, sandbox, pattern):
            await anyio.sleep(0.2)


async def test_a_build_refused_for_its_context_size_leaves_the_sandbox_answering(server, sandbox):
    name, container = sandbox
    make = (
        "mkdir -p /tmp/big && head -c 3000000 /dev/urandom > /tmp/big/blob && echo 'FROM scratch' > /tmp/big/Dockerfile"
    )
    async with Client(server) as client:
        await call(client, "exec", {"sandbox": name, "command": make})
        refused = await tool_error(client, "build_image", {"sandbox": name, "context": "/tmp/big"})
        await answers_at_once(client, name)
        assert not await processes(client, name, "^tar ")
    host_answers(container)
    assert "larger than the operator's cap of 1048576 bytes" in refused and ".dockerignore" in refused


async def test_a_context_that_cannot_be_read_in_time_stops_the_build_and_its_reader(server, sandbox):
    # The sandbox's root can put any `tar` first on the PATH: one that never ends stands for a
    # context on a stuck file system.
    name, container = sandbox
    in_proper(
        container,
        "sh",
        "-c",
        "printf '#!/bin/sh\\nexec sleep 1001\\n' > /usr/local/bin/tar; chmod +x /usr/local/bin/tar",
    )
    try:
        async with Client(server) as client:
            await call(
                client,
                "exec",
                {"sandbox": name, "command": "mkdir -p /tmp/small && echo 'FROM scratch' > /tmp/small/Dockerfile"},
            )
            stopped = await tool_error(
                client, "build_image", {"sandbox": name, "context": "/tmp/small", "timeout_s": 2}
            )
            await answers_at_once(client, name)
            await gone(client, name, "^sleep 1001")
    finally:
        in_proper(container, "rm", "-f", "/usr/local/bin/tar")
    assert "ran past timeout_s=2 before its first step, while reading its context" in stopped


async def test_a_cancelled_build_stops_its_steps_and_leaves_the_sandbox_answering(server, sandbox):
    name, _ = sandbox
    dockerfile = f"FROM {TESTBOX}\nRUN sleep 1002\n"
    async with Client(server) as client:
        await call(client, "exec", {"sandbox": name, "command": "mkdir -p /tmp/slow"})
        await cancel_after(
            client, 3, "build_image", {"sandbox": name, "context": "/tmp/slow", "dockerfile": dockerfile}
        )
        await answers_at_once(client, name)
        await gone(client, name, "^sleep 1002")
        listed = await call(client, "list_nested", {"sandbox": name})
    assert listed["engine"] == "docker"


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
async def test_an_attached_run_ended_early_is_killed_and_the_sandbox_answers(server, sandbox, ending):
    name, _ = sandbox
    run = {"sandbox": name, "image": TESTBOX, "command": "echo up; sleep 1003", "name": f"run-{ending}"}
    async with Client(server) as client:
        if ending == "timeout":
            result = await call(client, "run_container", {**run, "timeout_s": 1})
            assert result["timed_out"] and result["stdout"] == "up\n"
        else:
            await cancel_after(client, 3, "run_container", run)
        await answers_at_once(client, name)
        logs = {"sandbox": name, "container": run["name"]}
        with anyio.fail_after(20):
            while (await call(client, "container_logs", logs))["state"] == "running":
                await anyio.sleep(0.2)
        await call(client, "remove_container", {"sandbox": name, "container": run["name"]})


async def test_cancelled_logs_of_a_chatty_container_leave_the_sandbox_answering(server, sandbox):
    name, _ = sandbox
    chatty = {"sandbox": name, "image": TESTBOX, "name": "chatty", "detach": True,
              "command": "head -c 60000000 /dev/zero | tr '\\0' x | fold -w 100; sleep 1004"}  # fmt: skip
    async with Client(server) as client:
        await call(client, "run_container", chatty)
        with anyio.move_on_after(0.5):
            await client.call_tool("container_logs", {"sandbox": name, "container": "chatty", "tail": None})
        await answers_at_once(client, name)
        await call(client, "remove_container", {"sandbox": name, "container": "chatty", "force": True})


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
async def test_an_image_copy_ended_early_cuts_both_engines_streams(server, sandbox, early_settings, ending):
    name, container = sandbox
    load = {"sandbox": name, "image": early_settings.sandbox_image}
    async with Client(server) as client:
        if ending == "timeout":
            stopped = await tool_error(client, "load_image", {**load, "timeout_s": 1})
            assert "ran past 1s and was stopped" in stopped and "nothing was loaded" in stopped
        else:
            await cancel_after(client, 1, "load_image", load)
        await answers_at_once(client, name)
        with anyio.fail_after(5):
            listed = await call(client, "list_nested", {"sandbox": name})
    assert early_settings.sandbox_image not in {t for i in listed["images"] for t in i["tags"]}
    host_answers(container)
    subprocess.run(
        ["docker", "image", "inspect", early_settings.sandbox_image], check=True, capture_output=True, timeout=5
    )


async def test_a_client_gone_mid_call_leaves_the_sandbox_and_the_engine_answering(server, sandbox, early_settings):
    # A real stdio server whose client goes away (its pipes closed) while an exec and a build run.
    name, container = sandbox
    env = {**os.environ, "MANYOYO_SCOPE": early_settings.scope, "MANYOYO_AUDIT_DIR": early_settings.audit_dir,
           "MANYOYO_SANDBOX_IMAGE": early_settings.sandbox_image}  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=["-m", "manyoyo_mcp", "serve"], env=env)
    dockerfile = f"FROM {TESTBOX}\nRUN sleep 1005\n"
    async with Client(server) as client:
        await call(client, "exec", {"sandbox": name, "command": "mkdir -p /tmp/gone"})
    with anyio.move_on_after(4):
        async with Client(params) as remote, anyio.create_task_group() as tasks:
            tasks.start_soon(remote.call_tool, "exec", {"sandbox": name, "command": "sleep 1006"})
            tasks.start_soon(
                remote.call_tool, "build_image", {"sandbox": name, "context": "/tmp/gone", "dockerfile": dockerfile}
            )
    async with Client(server) as client:
        await answers_at_once(client, name)
        await gone(client, name, "^sleep 1005")
    host_answers(container)

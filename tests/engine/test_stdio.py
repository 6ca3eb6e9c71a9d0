"""End to end: `manyoyo-mcp serve` as a subprocess, driven over stdio by the SDK's client."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.image_store import KEEPER_KIND

from ..conftest import SANDBOX_IMAGE
from ..helpers import call, tool_error

pytestmark = pytest.mark.anyio

SERVER = str(Path(sys.executable).with_name("manyoyo-mcp"))
AUDIT_DIR = tempfile.mkdtemp(prefix="manyoyo-audit-stdio-")


def server_params(scope: str, **env: str) -> StdioServerParameters:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "MANYOYO_SANDBOX_IMAGE")}
    return StdioServerParameters(
        command=SERVER,
        args=["serve", "--scope", scope],
        env={
            **base,
            "MANYOYO_DEFAULT_MEMORY": "1g",
            "MANYOYO_AUDIT_DIR": AUDIT_DIR,
            "MANYOYO_SANDBOX_IMAGE": SANDBOX_IMAGE,
            **env,
        },
    )


def server_pid(scope: str) -> int:
    """The pid of the server process started for `scope` (found by its command line)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and scope.encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no server process for scope {scope}")


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_stdio_session_creates_execs_lists_and_removes(scope, mode):
    name = f"stdio-{mode}-{secrets.token_hex(2)}"
    async with Client(server_params(scope), mode=mode) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        created = await call(client, "create_sandbox", {"name": name})
        ran = await call(
            client, "exec", {"sandbox": name, "command": "uname -s; docker version --format '{{.Server.Os}}'"}
        )
        listed = await call(client, "list_sandboxes")
        removed = await call(client, "remove_sandbox", {"sandbox": name})
        after = await call(client, "list_sandboxes")
    assert {"create_sandbox", "exec", "list_sandboxes", "remove_sandbox"} <= tools
    assert created["created"] and created["name"] == name
    assert ran["stdout"] == "Linux\nlinux\n"
    assert name in [s["name"] for s in listed["sandboxes"]]
    assert removed["id"] == created["id"]
    assert name not in [s["name"] for s in after["sandboxes"]]


async def test_over_stdio_a_timeout_and_a_cancellation_each_kill_their_process(scope):
    name = f"kill-{secrets.token_hex(2)}"
    async with Client(server_params(scope)) as client:
        await call(client, "create_sandbox", {"name": name})
        timed = await call(client, "exec", {"sandbox": name, "command": "sleep 311", "timeout_s": 1})
        with anyio.move_on_after(1.5) as cancelled:
            await client.call_tool("exec", {"sandbox": name, "command": "sleep 312 & sleep 313"})
        with anyio.fail_after(20):
            while "sleep 31" in (await call(client, "exec", {"sandbox": name, "command": "ps -eo args"}))["stdout"]:
                await anyio.sleep(0.2)
        await call(client, "remove_sandbox", {"sandbox": name})
    assert timed["timed_out"] and timed["killed"] and timed["exit_code"] != 0
    assert cancelled.cancelled_caught


async def test_200_mb_of_output_is_truncated_and_server_memory_stays_bounded(scope):
    name = f"big-{secrets.token_hex(2)}"
    size = 200_000_000
    async with Client(server_params(scope)) as client:
        await call(client, "create_sandbox", {"name": name})
        pid = server_pid(scope)
        before = memory_kib(pid, "VmRSS")
        result = await call(
            client,
            "exec",
            {"sandbox": name, "command": f"head -c {size} /dev/zero | tr '\\0' y", "timeout_s": 300},
        )
        peak = memory_kib(pid, "VmHWM")
        await call(client, "remove_sandbox", {"sandbox": name})
    assert result["exit_code"] == 0
    assert result["stdout_bytes"] == size and result["truncated"]
    assert len(result["stdout"]) < 1024 * 1024 + 200
    # The server holds at most the caps (2 x 1 MiB per stream plus buffers), not 200 MB.
    assert peak - before < 64 * 1024, f"server grew from {before} KiB to a peak of {peak} KiB"


async def test_the_server_starts_without_an_engine_and_says_how_to_start_one(scope, tmp_path):
    params = server_params(scope, DOCKER_HOST=f"unix://{tmp_path}/absent.sock")
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        message = await tool_error(client, "create_sandbox", {})
    assert "create_sandbox" in tools
    assert "Cannot reach the Docker engine" in message and "dockerd" in message


async def test_sigterm_ends_the_server_as_its_client_closing_would_cleanup_and_records_included(scope, engine):
    """SIGTERM (how `timeout` and process managers stop a server) mid-load_image: the store keeper
    the load made is removed, the call's outcome and the server's stop are recorded."""
    name = f"term-{secrets.token_hex(2)}"
    params = server_params(scope, MANYOYO_LOADABLE_IMAGES="manyoyo-base:trixie")
    async with Client(params) as client:
        await call(client, "create_sandbox", {"name": name, "engine": "podman"})
    keepers = {**ownership.owner_labels(scope), ownership.KIND: KEEPER_KIND}
    try:
        async with Client(params) as client:
            pid = server_pid(scope)
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "load_image", {"sandbox": name, "image": "manyoyo-base:trixie"})
                with anyio.fail_after(60):
                    while not engine.list_containers(keepers):
                        await anyio.sleep(0.2)
                os.kill(pid, signal.SIGTERM)
    except Exception:
        pass
    with anyio.fail_after(30):
        while engine.list_containers(keepers) or Path(f"/proc/{pid}").exists():
            await anyio.sleep(0.2)
    records = [json.loads(line) for f in sorted(Path(AUDIT_DIR).glob("*.jsonl")) for line in f.read_text().splitlines()]
    ours = [r for r in records if r.get("scope", scope) == scope]
    assert ours[-1]["event"] == "server_stop", ours[-3:]
    loads = {r["call"] for r in ours if r.get("tool") == "load_image"}
    assert loads and all(any(r.get("call") == c and r["event"] == "outcome" for r in ours) for c in loads)
    async with Client(server_params(scope)) as client:
        await call(client, "remove_sandbox", {"sandbox": name})

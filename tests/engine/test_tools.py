"""The tools, driven through an in-memory MCP client against the real engine."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, load_testbox, tool_error

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shared_sandbox(settings: ServerSettings, engine: Engine) -> Iterator[str]:
    """One docker-engine sandbox for the exec tests of this module."""
    name = "exec-" + secrets.token_hex(3)

    async def use(tool: str, arguments: dict[str, str]) -> None:
        async with Client(build_server(settings, engine)) as client:
            await call(client, tool, arguments)

    anyio.run(use, "create_sandbox", {"name": name, "memory": "1g"})
    yield name
    anyio.run(use, "remove_sandbox", {"sandbox": name})


@pytest.fixture
def client_server(settings: ServerSettings, engine: Engine):
    return build_server(settings, engine)


async def test_the_agent_sees_each_tool_annotated_with_an_output_schema(client_server):
    async with Client(client_server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    hints = {name: (t.annotations.read_only_hint, t.annotations.destructive_hint) for name, t in tools.items()}
    assert hints == {
        "create_sandbox": (False, False),
        "exec": (False, True),
        "job_output": (True, False),
        "stop_job": (False, True),
        "list_jobs": (True, False),
        "read_output": (True, False),
        "write_file": (False, True),
        "read_file": (True, False),
        "list_files": (True, False),
        "list_sandboxes": (True, False),
        "list_nested": (True, False),
        "remove_sandbox": (False, True),
        "build_image": (False, False),
        "run_container": (False, False),
        "container_logs": (True, False),
        "stop_container": (False, False),
        "remove_container": (False, True),
        "prune": (False, True),
        "load_image": (False, False),
        "describe_policy": (True, False),
        "launch_agent": (False, True),
    }
    assert tools["launch_agent"].input_schema["required"] == ["prompt"]
    assert tools["create_sandbox"].annotations.idempotent_hint is True
    for tool in tools.values():
        assert tool.output_schema is not None and tool.output_schema.get("type") == "object"
        assert tool.description
    assert tools["exec"].input_schema["required"] == ["sandbox", "command"]
    assert tools["write_file"].input_schema["required"] == ["sandbox", "path", "content"]
    assert tools["write_file"].annotations.idempotent_hint is True


async def test_exec_returns_exit_code_and_separate_streams(client_server, shared_sandbox):
    async with Client(client_server) as client:
        result = await call(client, "exec", {"sandbox": shared_sandbox, "command": "echo out; echo err >&2; exit 7"})
    assert (result["exit_code"], result["stdout"], result["stderr"]) == (7, "out\n", "err\n")
    assert not result["truncated"] and not result["timed_out"] and not result["killed"]


async def test_exec_runs_an_argv_list_without_a_shell(client_server, shared_sandbox):
    async with Client(client_server) as client:
        result = await call(client, "exec", {"sandbox": shared_sandbox, "command": ["printf", "[%s]", "a b", "$HOME;"]})
    assert result["stdout"] == "[a b][$HOME;]"


async def test_exec_honours_workdir_and_env(client_server, shared_sandbox):
    async with Client(client_server) as client:
        result = await call(
            client,
            "exec",
            {"sandbox": shared_sandbox, "command": "pwd; echo $GREETING", "workdir": "/tmp", "env": {"GREETING": "hi"}},
        )
    assert result["stdout"] == "/tmp\nhi\n"


async def test_the_nested_docker_engine_runs_containers_that_the_host_never_sees(
    client_server, shared_sandbox, settings
):
    async with Client(client_server) as client:
        sandbox = (await call(client, "list_sandboxes"))["sandboxes"]
        container = next(s["id"] for s in sandbox if s["name"] == shared_sandbox)
        load_testbox(container, "docker")
        result = await call(
            client,
            "exec",
            {"sandbox": shared_sandbox, "command": f"docker run --name nested-probe {TESTBOX} echo from-nested"},
        )
    assert result["exit_code"] == 0, result["stderr"]
    assert result["stdout"] == "from-nested\n"
    assert "nested-probe" not in docker("ps", "-a", "--format", "{{.Names}}")


async def test_exec_streams_output_as_progress_while_it_runs(client_server, shared_sandbox):
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(client_server) as client:
        result = await call(
            client,
            "exec",
            {"sandbox": shared_sandbox, "command": "for i in 1 2 3 4; do echo step$i; sleep 0.4; done"},
            progress_callback=on_progress,
        )
    assert result["stdout"] == "step1\nstep2\nstep3\nstep4\n"
    assert len(messages) >= 2, messages
    assert "".join(messages) == result["stdout"]


async def test_a_command_past_its_timeout_is_killed_with_its_children(client_server, shared_sandbox):
    # A background child, and one that left the session with setsid: both must go.
    command = "echo started; sleep 301 & setsid sleep 302 & sleep 303"
    async with Client(client_server) as client:
        result = await call(client, "exec", {"sandbox": shared_sandbox, "command": command, "timeout_s": 1})
        left = await call(
            client, "exec", {"sandbox": shared_sandbox, "command": "ps -eo args | grep -c '^sleep 30[123]'"}
        )
    assert result["timed_out"] and result["killed"]
    assert result["stdout"] == "started\n"
    assert 1 <= result["duration_s"] < 10
    assert left["stdout"].strip() == "0"


async def test_a_cancelled_call_kills_the_command(client_server, shared_sandbox):
    async with Client(client_server) as client:
        with anyio.move_on_after(1.5) as scope:
            await client.call_tool("exec", {"sandbox": shared_sandbox, "command": "sleep 303 & sleep 304"})
        assert scope.cancelled_caught
        with anyio.fail_after(20):
            while True:
                left = await call(client, "exec", {"sandbox": shared_sandbox, "command": "ps -eo args"})
                if "sleep 30" not in left["stdout"]:
                    break
                await anyio.sleep(0.2)


async def test_large_output_keeps_head_and_tail_within_the_cap(settings, engine, shared_sandbox):
    small_cap = settings.model_copy(update={"output_cap_bytes": 64 * 1024})
    async with Client(build_server(small_cap, engine)) as client:
        result = await call(
            client,
            "exec",
            {
                "sandbox": shared_sandbox,
                "command": "echo FIRST; head -c 5000000 /dev/zero | tr '\\0' x; echo; echo LAST",
            },
        )
    assert result["truncated"]
    assert result["stdout_bytes"] == len("FIRST\n") + 5_000_000 + len("\nLAST\n")
    assert result["stdout"].startswith("FIRST\n") and result["stdout"].endswith("LAST\n")
    assert "bytes truncated" in result["stdout"]
    assert len(result["stdout"]) < 64 * 1024 + 200


async def test_exec_refuses_a_timeout_above_the_ceiling(client_server, shared_sandbox, settings):
    async with Client(client_server) as client:
        message = await tool_error(
            client, "exec", {"sandbox": shared_sandbox, "command": "true", "timeout_s": settings.max_exec_timeout_s + 1}
        )
    assert f"at most {settings.max_exec_timeout_s:g}" in message


async def test_an_unknown_sandbox_error_lists_the_valid_names(client_server, shared_sandbox):
    async with Client(client_server) as client:
        message = await tool_error(client, "exec", {"sandbox": "no-such", "command": "true"})
    assert "no sandbox named 'no-such'" in message
    assert shared_sandbox in message


async def test_an_id_prefix_never_resolves_a_sandbox(client_server, shared_sandbox):
    async with Client(client_server) as client:
        listing = (await call(client, "list_sandboxes"))["sandboxes"]
        full_id = next(s["id"] for s in listing if s["name"] == shared_sandbox)
        by_id = await call(client, "exec", {"sandbox": full_id, "command": "hostname"})
        message = await tool_error(client, "exec", {"sandbox": full_id[:12], "command": "hostname"})
    assert by_id["stdout"].strip() == shared_sandbox
    assert "no sandbox named" in message


async def test_create_applies_limits_and_mounts_the_workspace(client_server, tmp_path):
    (tmp_path / "hello.txt").write_text("from the host\n")
    name = "lim-" + secrets.token_hex(3)
    async with Client(client_server) as client:
        created = await call(
            client,
            "create_sandbox",
            {"name": name, "workspace": str(tmp_path), "cpus": 1.5, "memory": "768m", "pids": 2048, "env": {"A": "1"}},
        )
        seen = await call(client, "exec", {"sandbox": name, "command": "cat hello.txt; echo $A; echo made > out.txt"})
        host_config = json.loads(docker("inspect", created["id"]))[0]["HostConfig"]
        await call(client, "remove_sandbox", {"sandbox": name})
    assert (host_config["NanoCpus"], host_config["Memory"], host_config["PidsLimit"]) == (
        1_500_000_000,
        768 * 1024**2,
        2048,
    )
    assert created["limits"] == {"cpus": 1.5, "memory": "768m", "memory_bytes": 768 * 1024**2, "pids": 2048}
    assert created["created"] and created["mode"] == "dind" and created["engine"] == "docker"
    assert created["workspace"] == str(tmp_path)
    assert seen["stdout"] == "from the host\n1\n"
    assert (tmp_path / "out.txt").read_text() == "made\n"


async def test_only_the_sandbox_network_sysctls_are_writable_not_the_host_kernel(client_server, shared_sandbox):
    async with Client(client_server) as client:
        kernel = await call(
            client, "exec", {"sandbox": shared_sandbox, "command": "echo core > /proc/sys/kernel/core_pattern"}
        )
        net = await call(
            client,
            "exec",
            {"sandbox": shared_sandbox, "command": "cat /proc/sys/net/ipv4/ip_forward > /proc/sys/net/ipv4/ip_forward"},
        )
    # The host's sysctls belong to the host's root, which the sandbox's root is not (user namespace).
    assert kernel["exit_code"] != 0 and "Permission denied" in kernel["stderr"]
    assert net["exit_code"] == 0, net["stderr"]

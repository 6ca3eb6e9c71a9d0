"""The policy through MCP against the real engine: a denial names its rule and makes no engine call,
workspaces follow the host-path rules, quotas hold, and describe_policy tells the agent the rules."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, load_testbox, tool_error
from ..unit.policy.test_host_paths import HOST_PATHS

pytestmark = pytest.mark.anyio


class CountingEngine(Engine):
    """The real engine, counting every call the server makes to it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if callable(attribute) and not name.startswith("_") and name not in ("close", "endpoint"):
            super().__getattribute__("calls").append(name)
        return attribute


DENIED = [
    ("create_sandbox", {"name": "d1", "workspace": "/etc"}, "host.mount-system-path"),
    ("create_sandbox", {"name": "d2", "workspace": "/var/run/docker.sock"}, "host.mount-engine-socket"),
    ("create_sandbox", {"name": "d3", "workspace": "~/.ssh"}, "host.mount-credentials"),
    ("create_sandbox", {"name": "d4", "image": "ubuntu:24.04"}, "sandbox.image-allowlist"),
    ("exec", {"sandbox": "x", "command": "true", "timeout_s": 10**7}, "limits.timeout-ceiling"),
    ("build_image", {"sandbox": "x", "context": "/proc/1"}, "sandbox.proc-workdir"),
    ("build_image", {"sandbox": "x", "context": "/sys/fs"}, "build.context-protected-path"),
    (
        "run_container",
        {"sandbox": "x", "image": TESTBOX, "volumes": ["/run/docker.sock:/s"]},
        "nested.mount-protected-path",
    ),
    ("load_image", {"sandbox": "x", "image": "manyoyo-sandbox:latest"}, "image.load-allowlist"),
    ("run_container", {"sandbox": "x", "image": TESTBOX, "privileged": True}, "arguments.unknown"),
    ("run_container", {"sandbox": "x", "image": TESTBOX, "cap_add": ["ALL"], "pid": "host"}, "arguments.unknown"),
    ("create_sandbox", {"name": "d5", "network_mode": "host"}, "arguments.unknown"),
    ("create_sandbox", {"name": "d6", "volumes": ["/:/host"]}, "arguments.unknown"),
    ("exec", {"sandbox": "x", "command": "true", "user": "0", "privileged": True}, "arguments.unknown"),
    ("docker_socket", {}, "tool.unknown"),
    ("run_container", {"sandbox": "x", "image": TESTBOX, "cap_add": ["cap_sys_admin"]}, "nested.capability"),
    ("run_container", {"sandbox": "x", "image": TESTBOX, "cap_add": ["ALL"]}, "nested.capability"),
    ("run_container", {"sandbox": "x", "image": TESTBOX, "sysctls": {"kernel.core_pattern": "|/x"}}, "nested.sysctl"),
    ("run_container", {"sandbox": "x", "image": TESTBOX, "restart": "always"}, "nested.restart-policy"),
    ("build_image", {"sandbox": "x", "build_args": {"GITHUB_TOKEN": "x"}}, "build.secret-args"),
    ("create_sandbox", {"name": "d7", "mode": "sock"}, "mode.sock-disabled"),
]
# The host-path table of the pure tests, sent through MCP (paths that do not depend on the fake home).
DENIED += [
    ("create_sandbox", {"name": "hp", "workspace": bad}, rule)
    for bad, rule, _ in HOST_PATHS
    if not bad.startswith(("{h}", "~"))
]


@pytest.mark.parametrize(("tool", "arguments", "rule"), DENIED)
async def test_a_denied_call_names_its_rule_and_never_reaches_the_engine(settings, tool, arguments, rule):
    engine = CountingEngine()
    try:
        async with Client(build_server(settings, engine)) as client:
            message = await tool_error(client, tool, arguments)
    finally:
        engine.close()
    assert f"denied by policy rule {rule}:" in message
    assert engine.calls == []


async def test_workspaces_outside_the_roots_are_refused_and_inside_them_mounted(settings, engine, tmp_path):
    inside = Path(settings.allowed_host_roots[0]) / f"ws-{secrets.token_hex(2)}"
    inside.mkdir()
    (inside / "canary").write_text("host file")
    link = inside / "escape"
    link.symlink_to("/etc")
    name = f"ws-{secrets.token_hex(2)}"
    async with Client(build_server(settings, engine)) as client:
        via_link = await tool_error(client, "create_sandbox", {"name": name, "workspace": str(link)})
        dotdot = await tool_error(client, "create_sandbox", {"name": name, "workspace": f"{inside}/../../../../etc//"})
        created = await call(client, "create_sandbox", {"name": name, "workspace": f"{inside}//./"})
        seen = await call(client, "exec", {"sandbox": name, "command": "cat /workspace/canary"})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert "host.mount-system-path" in via_link and "/etc" in via_link
    assert "host.mount-system-path" in dotdot
    assert created["workspace"] == str(inside) and seen["stdout"] == "host file"


async def test_quotas_on_sandboxes_and_nested_containers(settings: ServerSettings, engine):
    few = settings.model_copy(update={"max_sandboxes": 1, "max_nested_containers": 1})
    name = f"q-{secrets.token_hex(2)}"
    async with Client(build_server(few, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name})
        second = await tool_error(client, "create_sandbox", {"name": name + "-b"})
        again = await call(client, "create_sandbox", {"name": name})  # reusing is always fine
        load_testbox(created["id"], "docker")
        await call(client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "true"})
        full = await tool_error(client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "true"})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert "quota.sandboxes" in second and again["created"] is False
    assert "quota.nested-containers" in full
    assert name + "-b" not in docker("ps", "-a", "--format", "{{.Names}}")


async def test_describe_policy_gives_the_rules_an_agent_plans_with(settings, engine):
    async with Client(build_server(settings, engine)) as client:
        described = (await call(client, "describe_policy"))["policy"]
    assert described["mode"] == "dind"
    assert described["workspace"]["allowed_roots"] == list(settings.allowed_host_roots)
    assert "/etc" in described["workspace"]["refused_system_paths"]
    assert described["timeouts_s"]["max"] == settings.max_exec_timeout_s
    rule_ids = {rule["id"] for rule in described["rules"]}
    assert {"host.mount-credentials", "limits.timeout-ceiling", "quota.sandboxes", "tool.unknown"} <= rule_ids
    assert "describe_policy" in described["tools"]


async def test_allowed_nested_options_reach_the_nested_engine(settings, engine):
    name = f"opt-{secrets.token_hex(2)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name})
        load_testbox(created["id"], "docker")
        ran = await call(
            client,
            "run_container",
            {
                "sandbox": name,
                "image": TESTBOX,
                "name": "opts",
                "command": "sleep 60",
                "detach": True,
                "cap_add": ["cap_net_raw", "Net_Bind_Service"],
                "sysctls": {"net/ipv4/ip_unprivileged_port_start": "0"},
                "restart": "on-failure:2",
            },
        )
        shown = await call(
            client,
            "exec",
            {"sandbox": name, "command": "docker inspect -f '{{json .HostConfig}}' opts"},
        )
        await call(client, "remove_sandbox", {"sandbox": name})
    host_config = json.loads(shown["stdout"])
    assert ran["state"] == "running"
    assert sorted(host_config["CapAdd"]) == ["NET_BIND_SERVICE", "NET_RAW"]
    assert host_config["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
    assert host_config["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert not host_config["Privileged"] and not host_config["Devices"]

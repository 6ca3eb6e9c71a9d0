"""Sock mode: only with the operator's opt-in and a human's yes (or the operator's pre-approval); an
argument alone is never enough. A sock sandbox's nested tools see only what its own tools made."""

from __future__ import annotations

import secrets

import pytest
from mcp import Client, types

from manyoyo_mcp.audit.review import load
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, tool_error

pytestmark = pytest.mark.anyio


async def approve(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert "root on this machine" in params.message
    return types.ElicitResult(action="accept", content={"approve": True})


async def decline(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


def host_names() -> str:
    return docker("ps", "-a", "--format", "{{.Names}}")


@pytest.mark.parametrize(
    ("sock_mode", "human", "rule"),
    [
        ("off", approve, "mode.sock-disabled"),
        ("confirm", None, "mode.sock-needs-human"),
        ("confirm", decline, "mode.sock-declined"),
    ],
)
async def test_sock_mode_is_refused_without_the_operator_and_a_human(settings, engine, sock_mode, human, rule):
    configured = settings.model_copy(update={"sock_mode": sock_mode})
    name = f"sock-{secrets.token_hex(2)}"
    async with Client(build_server(configured, engine), elicitation_callback=human) as client:
        message = await tool_error(client, "create_sandbox", {"name": name, "mode": "sock"})
    assert f"denied by policy rule {rule}" in message
    assert name not in host_names()
    if rule == "mode.sock-needs-human":
        assert "MANYOYO_SOCK_MODE=preapproved" in message


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_a_confirmed_sock_sandbox_sees_only_what_its_own_tools_made(settings, engine, era, tmp_path):
    configured = settings.model_copy(update={"sock_mode": "confirm", "audit_dir": str(tmp_path / "audit")})
    name = f"sock-{era[0]}-{secrets.token_hex(2)}"
    foreign = f"foreign-{secrets.token_hex(3)}"
    docker("create", "--name", foreign, TESTBOX, "true")
    try:
        async with Client(build_server(configured, engine), elicitation_callback=approve, mode=era) as client:
            created = await call(client, "create_sandbox", {"name": name, "mode": "sock"})
            ran = await call(client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "echo on-host"})
            listed = await call(client, "list_nested", {"sandbox": name})
            hidden = await tool_error(client, "remove_container", {"sandbox": name, "container": foreign})
            bind = await tool_error(
                client, "run_container", {"sandbox": name, "image": TESTBOX, "volumes": ["/etc:/host-etc"]}
            )
            pruned = await call(client, "prune", {"sandbox": name})
            still_there = host_names()
            await call(client, "remove_sandbox", {"sandbox": name})
        calls, _ = load(tmp_path / "audit")
    finally:
        docker("rm", "-f", foreign)
    assert created["mode"] == "sock" and ran["stdout"] == "on-host\n"
    assert [c["id"] for c in listed["containers"]] == [ran["id"]]
    assert "no container" in hidden and foreign in still_there
    assert "sock.bind-mount" in bind
    assert [i["id"] for i in pruned["items"]] == [ran["id"]]
    creates = [c for c in calls if c.tool == "create_sandbox"]
    # The modern protocol asks in a second round: the first call waits for the human's answer.
    assert [c.status for c in creates] == (["awaiting-input", "ok"] if era == "auto" else ["ok"])
    confirmations = [d for d in creates[-1].decisions if d.get("rule") == "mode.sock-confirmed"]
    assert confirmations and confirmations[0]["confirmation"] == "accepted by the user"


async def test_a_preapproved_sock_sandbox_needs_no_question_and_its_objects_go_with_it(settings, engine):
    configured = settings.model_copy(update={"sock_mode": "preapproved"})
    name = f"sock-pre-{secrets.token_hex(2)}"
    async with Client(build_server(configured, engine)) as client:
        await call(client, "create_sandbox", {"name": name, "mode": "sock"})
        service = await call(
            client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "sleep 300", "detach": True}
        )
        on_host = host_names()
        who = await call(client, "exec", {"sandbox": name, "command": "id -un; id -u", "user": "nobody"})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert service["name"] in on_host and service["name"] not in host_names()
    assert who["stdout"] == "nobody\n65534\n"  # docker exec's user: sock mode has no sandbox proper

"""A sandbox's own engine, read through its API (an exec tunnel) with both inner engines."""

from __future__ import annotations

import secrets

import pytest
from mcp import Client

from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, load_testbox, tool_error

pytestmark = pytest.mark.anyio

SETUP = (
    "{e} run --name {p}-done {img} sh -c 'exit 3'; "
    "{e} run -d --name {p}-web -p 8080:80 {img} httpd -f -p 80 >/dev/null && "
    "{e} volume create {p}-data >/dev/null"
)


@pytest.mark.parametrize("inner", ["docker", "podman"])
async def test_list_nested_shows_the_sandbox_engine_contents_and_the_host_never_has_them(settings, engine, inner):
    name = f"nest-{inner}-{secrets.token_hex(2)}"
    probe = f"p{secrets.token_hex(3)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name, "engine": inner})
        load_testbox(created["id"], inner)
        ran = await call(client, "exec", {"sandbox": name, "command": SETUP.format(e=inner, p=probe, img=TESTBOX)})
        listed = await call(client, "list_nested", {"sandbox": name})
        via_id = await call(client, "list_nested", {"sandbox": created["id"]})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert ran["exit_code"] == 0, ran["stderr"]
    containers = {c["name"]: c for c in listed["containers"]}
    assert containers[f"{probe}-done"]["state"] == "exited" and containers[f"{probe}-done"]["exit_code"] == 3
    web = containers[f"{probe}-web"]
    assert web["state"] == "running" and web["exit_code"] is None
    assert any(port.endswith(":8080->80/tcp") for port in web["ports"]), web["ports"]
    assert any(tag.endswith(TESTBOX) for image in listed["images"] for tag in image["tags"])
    assert all(image["size_bytes"] > 0 for image in listed["images"])
    assert f"{probe}-data" in [v["name"] for v in listed["volumes"]]
    assert listed["networks"] and listed["engine"] == inner and listed["sandbox"] == name
    same = [{k: v for k, v in c.items() if k != "status"} for c in listed["containers"]]  # "1 second ago" moves on
    assert [{k: v for k, v in c.items() if k != "status"} for c in via_id["containers"]] == same
    host_names = docker("ps", "-a", "--format", "{{.Names}}")
    assert probe not in host_names
    assert probe not in docker("volume", "ls", "--format", "{{.Name}}")


async def test_list_nested_of_an_unknown_sandbox_lists_the_valid_names(settings, engine):
    async with Client(build_server(settings, engine)) as client:
        message = await tool_error(client, "list_nested", {"sandbox": "nowhere"})
    assert "no sandbox named 'nowhere'" in message


async def test_the_tunnel_serves_many_requests_in_a_row(settings, engine: Engine):
    name = f"tunnel-{secrets.token_hex(2)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name})
        nested = engine.nested(created["id"], ENGINE_SOCKETS["docker"])
        try:
            versions = [nested.version() for _ in range(5)]
            inventory = nested.inventory()
        finally:
            nested.close()
        await call(client, "remove_sandbox", {"sandbox": name})
    assert all(v["version"] == created["engine_version"] for v in versions)
    assert inventory.containers == () and {n.name for n in inventory.networks} >= {"bridge", "host", "none"}

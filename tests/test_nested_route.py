"""The structured route to a sandbox's own engine: docker-py over an exec tunnel, both engines."""

from __future__ import annotations

import secrets

import pytest
from mcp import Client

from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandboxes import ENGINE_SOCKETS
from manyoyo_mcp.server import build_server

from .helpers import TESTBOX, call, docker, load_testbox

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("inner", ["docker", "podman"])
async def test_the_nested_engine_answers_its_api_through_the_host_engine_only(settings, engine: Engine, inner):
    name = f"route-{inner}-{secrets.token_hex(2)}"
    probe = f"probe-{secrets.token_hex(3)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name, "engine": inner})
        load_testbox(created["id"], inner)
        ran = await call(client, "exec", {"sandbox": name, "command": f"{inner} run --name {probe} {TESTBOX} true"})
        nested = engine.nested(created["id"], ENGINE_SOCKETS[inner])
        try:
            version = nested.version()
            again = nested.version()  # a second request on the same tunnelled connection
            containers = nested.container_names()
            images = nested.image_tags()
        finally:
            nested.close()
        await call(client, "remove_sandbox", {"sandbox": name})
    assert ran["exit_code"] == 0, ran["stderr"]
    assert version == again and version["version"] == created["engine_version"]
    assert probe in containers
    assert any(tag.endswith(TESTBOX) for tag in images)
    assert probe not in docker("ps", "-a", "--format", "{{.Names}}")

"""What the network settings change inside a sandbox, checked under the default mode: published ports
of nested containers stay on the sandbox's loopback unless an address is named, the operator's
registry mirrors and proxy reach both nested engines, and podman's default network follows the
sandbox's MTU as dockerd does. (The seed's build, nested-network and published-port flows run in
test_nested_tools.py; what a sandbox reaches is test_network_reach.py.)"""

from __future__ import annotations

import json
import secrets

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, in_proper, load_testbox, tool_error

pytestmark = pytest.mark.anyio
MIRROR, PROXY = "https://mirror.example.test:5000", "http://proxy.example.test:3128"


@pytest.fixture(scope="module")
def network_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"registry_mirrors": (MIRROR,), "network_proxy": PROXY})


async def test_nested_ports_are_on_the_sandboxs_loopback_unless_an_address_is_named(settings, engine):
    name = f"flows-{secrets.token_hex(2)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name})
        try:
            load_testbox(created["id"], "docker")
            serve = "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 80 -h /www"
            for port, published in (("18080:80", "default"), ("0.0.0.0:18081:80", "named")):
                await call(
                    client,
                    "run_container",
                    {"sandbox": name, "image": TESTBOX, "command": ["sh", "-c", serve], "ports": [port],
                     "detach": True, "name": f"web-{published}"},
                )  # fmt: skip
            check = (
                "for port in 18080 18081; do for address in 127.0.0.1 10.123.0.2; do "
                "printf '%s:%s ' $address $port; busybox wget -q -T 3 -O- http://$address:$port/ || echo refused; "
                "done; done"
            )
            ran = await call(client, "exec", {"sandbox": name, "command": check})
            mode = created["network"]["mode"]
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    assert mode == "public"
    lines = dict(line.split(" ", 1) for line in ran["stdout"].strip().splitlines())
    assert lines == {
        "127.0.0.1:18080": "served",
        "10.123.0.2:18080": "refused",  # not on the sandbox's own address: its loopback only
        "127.0.0.1:18081": "served",
        "10.123.0.2:18081": "served",  # named: every address of the sandbox (still only inside it)
    }, ran


@pytest.mark.parametrize("inner", ["docker", "podman"])
async def test_the_operators_mirrors_and_proxy_and_the_sandboxs_mtu_reach_the_nested_engine(
    network_settings, engine, inner
):
    name = f"flows-{inner[0]}-{secrets.token_hex(2)}"
    async with Client(build_server(network_settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name, "engine": inner})
        try:
            mtu = in_proper(created["id"], "cat", "/sys/class/net/eth0/mtu").strip()
            env = in_proper(created["id"], "sh", "-c", "echo $HTTP_PROXY")
            if inner == "docker":
                info = json.loads(in_proper(created["id"], "docker", "info", "--format", "{{json .}}"))
                seen = (info["RegistryConfig"]["Mirrors"], info["HttpProxy"], info["HttpsProxy"])
                bridge = in_proper(created["id"], "cat", "/sys/class/net/docker0/mtu").strip()
            else:
                conf = in_proper(created["id"], "cat", "/etc/containers/registries.conf.d/50-manyoyo-mirrors.conf")
                seen = (conf, env.strip(), env.strip())
                network = json.loads(in_proper(created["id"], "podman", "network", "inspect", "podman"))[0]
                bridge = network["options"]["mtu"]
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    assert env.strip() == PROXY
    if inner == "docker":
        assert seen == ([MIRROR + "/"], PROXY, PROXY)
    else:
        assert 'location = "mirror.example.test:5000"' in seen[0] and 'prefix = "docker.io"' in seen[0]
    assert bridge == mtu


async def test_an_image_that_cannot_enforce_the_network_is_refused_before_anything_is_made(settings, engine):
    older = settings.model_copy(update={"sandbox_image": TESTBOX})  # no network-containment label
    async with Client(build_server(older, engine)) as client:
        error = await tool_error(client, "create_sandbox", {"name": "flows-old-image"})
        listed = await call(client, "list_sandboxes")
    assert "predates network containment" in error and "rebuild it" in error
    assert "flows-old-image" not in [s["name"] for s in listed["sandboxes"]]

"""run_container's init, user, read_only and tmpfs, on both inner engines: what the nested
container's processes really see (PID 1, their ids, which paths take writes), and the owner of what
they write into a mount of a workspace that belongs to a non-root host user."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, tool_error

pytestmark = pytest.mark.anyio

OWNER = 1000
# A child orphaned at once (its parent, a subshell, exits), then watched from a sibling until it is
# either a zombie (PID 1 never reaps it) or gone (an init reaped it). PID 1 is `sleep`, which never
# waits for anything, unless an init runs above it.
ORPHAN = r"""
( pid=$( (sleep 0 & echo $!) )
  while [ -e /proc/$pid ] && ! grep -q '^State:.Z' /proc/$pid/status; do sleep 0.05; done
  if [ -e /proc/$pid ]; then echo "orphan zombie"; else echo "orphan reaped"; fi
  echo "pid1 $(cat /proc/1/comm)" ) &
exec sleep 3
"""


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace that belongs to a non-root host user, as a developer's project does."""
    path = tmp_path_factory.mktemp("owned")
    os.chown(path, OWNER, OWNER)
    return path


@pytest.fixture(scope="module")
def options_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": (TESTBOX,), "exec_timeout_s": 120})


@pytest.fixture(scope="module")
def sandbox(options_settings: ServerSettings, engine: Engine, inner: str, workspace: Path) -> Iterator[str]:
    name = f"ro{inner[0]}-{secrets.token_hex(3)}"

    async def use(tool: str, arguments: dict[str, Any]) -> None:
        async with Client(build_server(options_settings, engine)) as client:
            await call(client, tool, arguments)

    anyio.run(use, "create_sandbox", {"name": name, "engine": inner, "workspace": str(workspace)})
    anyio.run(use, "load_image", {"sandbox": name, "image": TESTBOX})
    yield name
    anyio.run(use, "remove_sandbox", {"sandbox": name})


@pytest.fixture
def server(options_settings: ServerSettings, engine: Engine):
    return build_server(options_settings, engine)


async def test_init_reaps_orphaned_children_that_stay_zombies_without_it(server, sandbox, inner):
    run = {"sandbox": sandbox, "image": TESTBOX, "command": ORPHAN, "remove": True}
    async with Client(server) as client:
        without = await call(client, "run_container", run)
        with_init = await call(client, "run_container", {**run, "init": True})
    assert without["stdout"] == "orphan zombie\npid1 sleep\n", without
    init = {"docker": "docker-init", "podman": "podman-init"}[inner]
    assert with_init["stdout"] == f"orphan reaped\npid1 {init}\n", with_init


async def test_user_runs_the_process_as_that_uid_and_what_it_writes_is_the_owners(server, sandbox, workspace, inner):
    probe = secrets.token_hex(3)
    named = {
        "sandbox": sandbox,
        "tag": f"users-{probe}:1",
        "dockerfile": f"FROM {TESTBOX}\nRUN mkdir -p /etc && echo 'app:x:4242:4243::/:/bin/sh' > /etc/passwd "
        "&& echo 'app:x:4243:' > /etc/group\n",
    }
    write = "id -u; id -g; touch /w/by-{0}-{1}"
    async with Client(server) as client:
        as_owner = await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": TESTBOX, "user": f"{OWNER}:{OWNER}", "volumes": ["/workspace:/w"],
             "command": write.format("owner", probe), "remove": True},
        )  # fmt: skip
        as_root = await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": TESTBOX, "volumes": ["/workspace:/w"],
             "command": write.format("root", probe), "remove": True},
        )  # fmt: skip
        await call(client, "build_image", named)
        by_name = await call(
            client, "run_container", {"sandbox": sandbox, "image": named["tag"], "user": "app", "command": "id"}
        )
        unmapped = await tool_error(
            client, "run_container", {"sandbox": sandbox, "image": TESTBOX, "user": "70000", "command": "id"}
        )
    assert as_owner["stdout"] == f"{OWNER}\n{OWNER}\n" and as_owner["exit_code"] == 0, as_owner
    assert as_root["stdout"] == "0\n0\n" and as_root["exit_code"] == 0, as_root
    owned = os.stat(workspace / f"by-owner-{probe}")
    assert (owned.st_uid, owned.st_gid) == (OWNER, OWNER)
    rooted = os.stat(workspace / f"by-root-{probe}")
    assert (rooted.st_uid, rooted.st_gid) == (1000000, 1000000)  # the sandbox's root, never the host's
    assert by_name["stdout"].startswith("uid=4242(app) gid=4243(app)"), by_name
    assert "sandbox.user-unmapped" in unmapped and "70000" in unmapped


async def test_read_only_refuses_writes_to_the_root_but_tmpfs_paths_take_them(server, sandbox, inner):
    check = (
        "touch /x 2>/dev/null && echo 'root writable' || echo 'root refused'; "
        "touch /scratch/x && echo 'scratch writable'; "
        "grep ' /scratch ' /proc/mounts | grep -o 'size=[0-9]*k'"
    )
    run = {"sandbox": sandbox, "image": TESTBOX, "command": check, "remove": True}
    async with Client(server) as client:
        locked = await call(client, "run_container", {**run, "read_only": True, "tmpfs": ["/scratch:size=1m"]})
        open_ = await call(client, "run_container", {**run, "tmpfs": ["/scratch"]})
        refused = await tool_error(client, "run_container", {**run, "tmpfs": ["/scratch:suid"]})
    assert locked["stdout"] == "root refused\nscratch writable\nsize=1024k\n", locked
    assert open_["stdout"].startswith("root writable\nscratch writable\n"), open_
    assert "nested.tmpfs" in refused and "'suid'" in refused

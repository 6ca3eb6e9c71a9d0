"""The right user, and run_container's other process options, on both inner engines, in a sandbox
whose workspace belongs to a non-root host user (uid 1000), as a developer's project does: who owns
what exec writes there by default, as root or as another user; what nested containers writing into
a bind mount of the workspace give on each engine (README, "Users and the workspace"); and
run_container's init, user, read_only and tmpfs as the nested container's processes see them (PID 1,
their ids, which paths take writes)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, dind_sandbox, owned_folder, tool_error

pytestmark = pytest.mark.anyio

OWNER = 1000
SANDBOX_ROOT = 1000000  # the sandbox proper's root, as the host sees it
# A child orphaned at once (its parent, a subshell, exits at once; the child ends 0.5 s later, so
# that parent never reaps it), then watched from a sibling for 2 s: it stays a zombie when PID 1
# never reaps it, or is gone once an init reaps it (an init's zombie lives for a moment before the
# reap, so the first sight of state Z decides nothing). PID 1 is `sleep`, which never waits for
# anything, unless an init runs above it.
ORPHAN = r"""
( pid=$( (sleep 0.5 >/dev/null 2>&1 & echo $!) )
  i=0; while [ -e /proc/$pid ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done
  if grep -q '^State:.Z' /proc/$pid/status 2>/dev/null; then echo "orphan zombie"
  elif [ -e /proc/$pid ]; then echo "orphan alive"; else echo "orphan reaped"; fi
  echo "pid1 $(cat /proc/1/comm)" ) &
exec sleep 3
"""


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return owned_folder(tmp_path_factory.mktemp("owned"), OWNER)


@pytest.fixture(scope="module")
def options_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": (TESTBOX,), "exec_timeout_s": 120})


@pytest.fixture(scope="module")
def sandbox(options_settings: ServerSettings, engine: Engine, inner: str, workspace: Path) -> Iterator[str]:
    yield from dind_sandbox(options_settings, engine, f"uo{inner[0]}-{secrets.token_hex(3)}", inner, workspace)


def owner_of(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


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
    assert owner_of(workspace / f"by-owner-{probe}") == (OWNER, OWNER)
    assert owner_of(workspace / f"by-root-{probe}") == (SANDBOX_ROOT, SANDBOX_ROOT)  # never the host's root
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


async def test_files_written_by_default_are_the_owners_and_by_root_the_sandboxs_root(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    write = f"id -u; id -g; echo $HOME; touch /workspace/{{}}-{probe}"
    async with Client(server) as client:
        default = await call(client, "exec", {"sandbox": sandbox, "command": write.format("default")})
        root = await call(client, "exec", {"sandbox": sandbox, "command": write.format("root"), "user": "root"})
        nobody = await call(client, "exec", {"sandbox": sandbox, "command": "id -un; echo $HOME", "user": "nobody"})
        numeric = await call(
            client, "exec", {"sandbox": sandbox, "command": write.format("numeric"), "user": f"{OWNER}:0"}
        )
        unknown = await tool_error(client, "exec", {"sandbox": sandbox, "command": "id", "user": "ghost"})
        unmapped = await tool_error(client, "exec", {"sandbox": sandbox, "command": "id", "user": "0:70000"})
        malformed = await tool_error(client, "exec", {"sandbox": sandbox, "command": "id", "user": "a;b"})
    assert default["stdout"].split("\n")[:2] == [str(OWNER), str(OWNER)] and default["exit_code"] == 0
    assert root["stdout"] == "0\n0\n/root\n" and root["exit_code"] == 0
    assert owner_of(workspace / f"default-{probe}") == (OWNER, OWNER)
    assert owner_of(workspace / f"root-{probe}") == (SANDBOX_ROOT, SANDBOX_ROOT)
    assert numeric["stdout"].split("\n")[:2] == [str(OWNER), "0"]
    assert owner_of(workspace / f"numeric-{probe}") == (OWNER, SANDBOX_ROOT)
    assert nobody["stdout"] == "nobody\n/nonexistent\n"
    assert "no user 'ghost'" in unknown and "root" in unknown
    assert "sandbox.user-unmapped" in unmapped and "70000" in unmapped
    assert "arguments.invalid" in malformed


# A nested container writing into a bind mount of the workspace, started from exec as the
# default user: (the way, the options of `<engine> run`, the owner of the file on the host). The
# default user's podman is podman's client (`--remote`, CONTAINER_HOST): rootless podman cannot
# make a user namespace of its own inside the sandbox's.
PODMAN_SOCKET = "unix:///run/manyoyo/shared/podman.sock"
NESTED_WRITES = [
    ("root", "", (SANDBOX_ROOT, SANDBOX_ROOT)),
    ("own-ids", "--user $(id -u):$(id -g)", (OWNER, OWNER)),
]
PODMAN_ONLY = [("uidmap", f"--uidmap 0:{OWNER}:1 --gidmap 0:{OWNER}:1", (OWNER, OWNER))]


async def test_nested_containers_writing_into_the_workspace_give_the_documented_owners(
    server, sandbox, workspace, inner
):
    probe = secrets.token_hex(3)
    ways = NESTED_WRITES + (PODMAN_ONLY if inner == "podman" else [])
    async with Client(server) as client:
        for way, options, _ in ways:
            cli = "podman --remote" if inner == "podman" else "docker"
            command = f"{cli} run --rm {options} -v /workspace:/w {TESTBOX} touch /w/{way}-{probe}"
            env = {"CONTAINER_HOST": PODMAN_SOCKET} if inner == "podman" else {}
            done = await call(client, "exec", {"sandbox": sandbox, "command": command, "env": env})
            assert done["exit_code"] == 0, (way, done)
    for way, _, owner in ways:
        assert owner_of(workspace / f"{way}-{probe}") == owner, way

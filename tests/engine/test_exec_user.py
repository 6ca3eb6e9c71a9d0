"""Who owns what an agent writes into a workspace that belongs to a non-root host user (uid 1000):
exec as the default user, as root, as another user; and nested containers started from exec
writing into a bind mount of the workspace, the way each inner engine does it (README, "Users and
the workspace")."""

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
SANDBOX_ROOT = 1000000  # the sandbox proper's root, as the host sees it


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mine")
    os.chown(path, OWNER, OWNER)
    return path


@pytest.fixture(scope="module")
def user_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": (TESTBOX,), "exec_timeout_s": 120})


@pytest.fixture(scope="module")
def sandbox(user_settings: ServerSettings, engine: Engine, inner: str, workspace: Path) -> Iterator[str]:
    name = f"us{inner[0]}-{secrets.token_hex(3)}"

    async def use(tool: str, arguments: dict[str, Any]) -> None:
        async with Client(build_server(user_settings, engine)) as client:
            await call(client, tool, arguments)

    anyio.run(use, "create_sandbox", {"name": name, "engine": inner, "workspace": str(workspace)})
    anyio.run(use, "load_image", {"sandbox": name, "image": TESTBOX})
    yield name
    anyio.run(use, "remove_sandbox", {"sandbox": name})


@pytest.fixture
def server(user_settings: ServerSettings, engine: Engine):
    return build_server(user_settings, engine)


def owner_of(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


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

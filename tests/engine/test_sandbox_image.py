"""What the sandbox image holds, read inside sandboxes of both inner engines through `exec`: the
versions of the nested tools and the agents' CLIs, the docker CLI and Compose talking to podman in a
podman sandbox, git trusting every folder. Each sandbox's workspace belongs to a non-root uid, so
commands run as that user (the usual case: a server run by a person), and as root through sudo."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox.image_build import AGENT_PACKAGES
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, dind_sandbox, owned_folder

pytestmark = pytest.mark.anyio

OWNER = 4321
"""The workspace's owner: not root, and no user of the image."""

# One line per tool: NAME<TAB>its version output (first line).
VERSIONS = r"""
v() { printf '%s\t%s\n' "$1" "$(shift; "$@" 2>&1 | head -n 1)"; }
v docker docker version --format '{{.Client.Version}}'
v dockerd dockerd --version
v compose docker compose version --short
v docker-compose docker-compose version --short
v buildx docker buildx version
v podman podman --version
v buildah buildah --version
v node node --version
v npm npm --version
v git git --version
v python3 python3 --version
v claude claude --version
v codex codex --version
v gemini gemini --version
v opencode opencode --version
"""
# What Debian 13 ships (issue 15) and the agents' pinned versions (image_build.AGENT_PACKAGES).
EXPECTED = {
    "docker": r"26\.1\.",
    "dockerd": r"Docker version 26\.1\.",
    "compose": r"2\.26\.",
    "docker-compose": r"2\.26\.",
    "buildx": r"github\.com/docker/buildx 0\.13\.",
    "podman": r"podman version 5\.4\.",
    "buildah": r"buildah version 1\.39\.",
    "node": r"v20\.",
    "npm": r"9\.",
    "git": r"git version 2\.",
    "python3": r"Python 3\.13\.",
    **{name: re.escape(spec.rsplit("@", 1)[1]) for name, spec in AGENT_PACKAGES.items()},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return owned_folder(tmp_path_factory.mktemp("image-ws"), OWNER)


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def sandbox(settings: ServerSettings, engine: Engine, inner: str, workspace: Path) -> Iterator[str]:
    """One sandbox per inner engine, the workspace mounted, the busybox image loaded."""
    loading = settings.model_copy(update={"loadable_images": (TESTBOX,)})
    yield from dind_sandbox(loading, engine, f"img{inner[0]}-{secrets.token_hex(3)}", inner, workspace)


@pytest.fixture
def server(settings: ServerSettings, engine: Engine):
    return build_server(settings, engine)


async def run(client: Client, sandbox: str, command: str) -> dict[str, Any]:
    return await call(client, "exec", {"sandbox": sandbox, "command": command, "timeout_s": 120})


async def test_the_nested_tools_and_the_agents_report_their_versions(server, sandbox):
    async with Client(server) as client:
        ran = await run(client, sandbox, VERSIONS)
    versions = dict(line.split("\t", 1) for line in ran["stdout"].splitlines())
    assert versions.keys() == EXPECTED.keys(), ran
    wrong = {name: versions[name] for name, pattern in EXPECTED.items() if not re.search(pattern, versions[name])}
    assert not wrong, f"unexpected versions: {wrong}"


async def test_the_default_user_and_root_reach_the_sandboxs_engine_with_both_clis(server, sandbox, inner):
    """docker and podman, as the workspace owner and as root, see the one engine the server's tools see."""
    probe = f"probe-{secrets.token_hex(3)}"
    script = f"""
        id -un
        docker run --name {probe} {TESTBOX} true >/dev/null
        echo "docker: $(docker version --format '{{{{range .Server.Components}}}}{{{{.Name}}}},{{{{end}}}}')"
        docker ps -a --format '{{{{.Names}}}}' | grep -x {probe}
        sudo docker ps -a --format '{{{{.Names}}}}' | grep -x {probe}
        docker compose ls >/dev/null && echo "compose: ok"
    """
    if inner == "docker":
        script += "docker buildx ls | grep -E '^default\\*? +docker' >/dev/null && echo 'buildx: docker driver'\n"
    if inner == "podman":
        script += f"""
            podman ps -a --format '{{{{.Names}}}}' | grep -x {probe}
            sudo podman ps -a --format '{{{{.Names}}}}' | grep -x {probe}
            export CONTAINER_HOST=unix:///run/podman/podman.sock
            podman --remote ps -a --format '{{{{.Names}}}}' | grep -x {probe}
        """
    async with Client(server) as client:
        ran = await run(client, sandbox, script)
        listed = await call(client, "list_nested", {"sandbox": sandbox})
        await run(client, sandbox, f"docker rm {probe}")
    assert ran["exit_code"] == 0, ran
    lines = ran["stdout"].splitlines()
    assert lines[0] == "dev" and "compose: ok" in lines
    assert ("buildx: docker driver" in lines) == (inner == "docker")
    components = {"docker": "docker: Engine,containerd,", "podman": "docker: Podman Engine,"}[inner]
    assert any(line.startswith(components) for line in lines), lines
    assert lines.count(probe) == (5 if inner == "podman" else 2)
    assert probe in [c["name"] for c in listed["containers"]]


async def test_git_trusts_the_workspace_and_folders_of_other_owners(server, sandbox):
    """Without safe.directory, git refuses a repository owned by someone else ("dubious ownership"):
    root on the owner's workspace, the owner on a folder root made."""
    script = """
        set -e
        cd /workspace && git init -q . && git status --short --branch
        sudo git -C /workspace status --short --branch
        sudo mkdir -p /srv/repo && sudo git -C /srv/repo init -q && git -C /srv/repo status --short --branch
        git config --system --get-all safe.directory
    """
    async with Client(server) as client:
        ran = await run(client, sandbox, script)
    assert ran["exit_code"] == 0, ran
    assert "dubious ownership" not in ran["stderr"]
    assert ran["stdout"].splitlines() == ["## No commits yet on master"] * 3 + ["*"]

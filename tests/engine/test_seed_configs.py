"""The seed guide's configuration files, copied from it as they are, against the real engine: a
sandbox created in Example 2's project gets its env, and Example 1's `~/.docker` is mounted
read-only as the operator's grant. Sandboxes live under the session's scope (conftest.py), which
labels them and removes them by label at the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.config.layers import USER_FILE
from manyoyo_mcp.config.loader import load_config
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import call, tool_error
from ..seed_configs import EXAMPLE_1_DIND_DEV, EXAMPLE_2_PROJECT, QUICK_START_DIND

pytestmark = pytest.mark.anyio


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def seeded(settings: ServerSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerSettings:
    """The session's settings with the profiles a home and project set up as the guide says give."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    write(home / ".manyoyo/env/anthropic_claudecode.env", "ANTHROPIC_AUTH_TOKEN=sk-ant-api03-stand-in-0123456789\n")
    write(home / ".docker/config.json", '{"auths": {"registry.example": {}}}\n')
    write(home / ".manyoyo/run/dind.json", QUICK_START_DIND)
    write(home / ".manyoyo/run/dind-dev.json", EXAMPLE_1_DIND_DEV)
    project = write(tmp_path / "myproject/.manyoyo.json", EXAMPLE_2_PROJECT).parent
    loaded = load_config(USER_FILE, project, environ={}).settings
    return settings.model_copy(update={"runs": loaded.runs, "implicit_run": loaded.implicit_run})


async def test_a_sandbox_created_in_example_2s_project_gets_its_env(engine: Engine, seeded: ServerSettings):
    async with Client(build_server(seeded, engine)) as client:
        created = await call(client, "create_sandbox")
        try:
            assert (created["name"], created["mode"]) == ("my-ci", "dind")
            ran = await call(client, "exec", {"sandbox": "my-ci", "command": 'echo "$CI $NODE_ENV"'})
            assert ran["stdout"] == "true test\n"
        finally:
            await call(client, "remove_sandbox", {"sandbox": "my-ci"})


async def test_example_1s_docker_config_is_mounted_read_only(engine: Engine, seeded: ServerSettings):
    async with Client(build_server(seeded, engine)) as client:
        described = await call(client, "describe_policy")
        assert [g["volume"] for g in described["policy"]["credential_grants"]] == ["~/.docker:/root/.docker:ro"]
        created = await call(client, "create_sandbox", {"profile": "dind-dev"})
        name = created["name"]
        try:
            command = "cat /root/.docker/config.json; touch /root/.docker/x 2>/dev/null || echo ro"
            ran = await call(client, "exec", {"sandbox": name, "command": command})
            assert ran["stdout"] == '{"auths": {"registry.example": {}}}\nro\n'
            # The same folder as an agent's workspace stays refused.
            message = await tool_error(client, "create_sandbox", {"name": "ws", "workspace": "~/.docker"})
            assert "host.mount-credentials" in message
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})

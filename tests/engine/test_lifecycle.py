"""Sandbox lifecycle through the tools: create, reuse, restart, remove, ownership, errors."""

from __future__ import annotations

import json
import logging
import re
import secrets
import subprocess

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, load_testbox, tool_error

pytestmark = pytest.mark.anyio


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def server(settings: ServerSettings, engine: Engine):
    return build_server(settings, engine)


def volumes() -> set[str]:
    return set(docker("volume", "ls", "-q").split())


async def test_a_podman_sandbox_runs_nested_containers_and_builds(server):
    name = unique("pod")
    async with Client(server) as client:
        created = await call(client, "create_sandbox", {"name": name, "engine": "podman"})
        load_testbox(created["id"], "podman")
        script = (
            f"podman run --rm {TESTBOX} echo from-podman && mkdir -p /tmp/ctx && "
            f"printf 'FROM {TESTBOX}\\nRUN echo built > /x\\n' > /tmp/ctx/Dockerfile && "
            "podman build -q -t probe /tmp/ctx >/dev/null && podman run --rm probe cat /x"
        )
        result = await call(client, "exec", {"sandbox": name, "command": script, "timeout_s": 120})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert created["engine"] == "podman" and created["engine_version"]
    assert result["exit_code"] == 0, result["stderr"]
    assert result["stdout"] == "from-podman\nbuilt\n"


@pytest.mark.parametrize("inner", ["docker", "podman"])
async def test_create_with_an_existing_name_returns_that_sandbox_started_again(server, inner):
    name = unique("again")
    version = {
        "docker": "docker info --format '{{.ServerVersion}}'",
        "podman": "podman version --format '{{.Server.Version}}'",
    }
    async with Client(server) as client:
        first = await call(client, "create_sandbox", {"name": name, "engine": inner})
        second = await call(client, "create_sandbox", {"name": name})
        docker("stop", "-t", "1", first["id"])
        stopped = await tool_error(client, "exec", {"sandbox": name, "command": "true"})
        third = await call(client, "create_sandbox", {"name": name})
        works = await call(client, "exec", {"sandbox": name, "command": version[inner]})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert first["created"] and not second["created"] and not third["created"]
    assert first["id"] == second["id"] == third["id"]
    assert "is exited" in stopped and "create_sandbox" in stopped
    assert third["state"] == "running"
    assert works["exit_code"] == 0 and works["stdout"].strip() == third["engine_version"]


async def test_reusing_a_name_with_another_engine_is_refused(server):
    name = unique("eng")
    async with Client(server) as client:
        await call(client, "create_sandbox", {"name": name, "engine": "docker"})
        message = await tool_error(client, "create_sandbox", {"name": name, "engine": "podman"})
        await call(client, "remove_sandbox", {"sandbox": name})
    assert "exists with engine 'docker'" in message


async def test_remove_takes_the_nested_engine_storage_with_it(server, settings):
    name = unique("rm")
    async with Client(server) as client:
        created = await call(client, "create_sandbox", {"name": name})
        volume = ownership.engine_volume_name(settings.scope, name)
        assert volume in volumes()
        removed = await call(client, "remove_sandbox", {"sandbox": name})
        listed = await call(client, "list_sandboxes")
        again = await tool_error(client, "remove_sandbox", {"sandbox": name})
    assert removed == {"name": name, "id": created["id"], "removed_volumes": [volume]}
    assert volume not in volumes()
    assert name not in {s["name"] for s in listed["sandboxes"]}
    assert "no sandbox named" in again
    with pytest.raises(subprocess.CalledProcessError):
        docker("inspect", created["id"])


async def test_containers_the_server_did_not_create_are_never_listed_touched_or_removed(server, settings):
    name = unique("foreign")
    # A host container that looks like one of ours by name, and one with our labels but another scope.
    impostor = docker("create", "--name", ownership.container_name(settings.scope, name), TESTBOX).strip()
    other_scope = docker(
        "create",
        "--label", f"{ownership.MANAGED}=true",
        "--label", f"{ownership.SCOPE}=someone-else",
        "--label", f"{ownership.SANDBOX}={name}-other",
        "--label", f"{ownership.KIND}=sandbox",
        TESTBOX,
    ).strip()  # fmt: skip
    try:
        async with Client(server) as client:
            listed = await call(client, "list_sandboxes")
            conflict = await tool_error(client, "create_sandbox", {"name": name})
            by_id = await tool_error(client, "remove_sandbox", {"sandbox": impostor})
            by_name = await tool_error(client, "remove_sandbox", {"sandbox": f"{name}-other"})
            exec_other = await tool_error(client, "exec", {"sandbox": other_scope, "command": "true"})
        ids = {s["id"] for s in listed["sandboxes"]}
        assert impostor not in ids and other_scope not in ids
        assert "already exists on the host and is not a sandbox of this server" in conflict
        assert all("no sandbox named" in m for m in (by_id, by_name, exec_other))
        assert docker("inspect", "-f", "{{.Id}}", impostor).strip() == impostor
        assert docker("inspect", "-f", "{{.Id}}", other_scope).strip() == other_scope
    finally:
        docker("rm", "-f", impostor, other_scope)


async def test_a_missing_image_says_how_to_build_it(settings, engine):
    allowing = settings.model_copy(update={"extra_sandbox_images": ("manyoyo-absent:0",)})
    async with Client(build_server(allowing, engine)) as client:
        message = await tool_error(client, "create_sandbox", {"name": unique("img"), "image": "manyoyo-absent:0"})
    assert "'manyoyo-absent:0' is not on the engine" in message
    assert "manyoyo-mcp image build" in message


async def test_an_image_the_operator_did_not_allow_is_refused_naming_the_allowed_ones(server, settings):
    async with Client(server) as client:
        message = await tool_error(client, "create_sandbox", {"name": unique("img"), "image": TESTBOX})
    assert f"image '{TESTBOX}' is not allowed" in message
    assert settings.sandbox_image in message and "MANYOYO_EXTRA_SANDBOX_IMAGES" in message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"name": "Bad Name"}, "lowercase ASCII letters"),
        ({"cpus": 10_000}, "cpus must be more than 0 and at most"),
        ({"memory": "1m"}, "memory must be between 128m"),
        ({"memory": "plenty"}, "use a byte count or a number with k, m, g or t"),
        ({"pids": 5}, "pids must be between 64"),
        ({"workspace": "/definitely/not/here"}, "host.mount-outside-roots"),
        ({"env": {"BAD-NAME": "x"}}, "letters, digits and '_'"),
        ({"engine": "lxc"}, "docker"),
    ],
)
async def test_bad_create_arguments_are_refused_and_nothing_is_created(server, settings, arguments, expected):
    before = docker("ps", "-aq", "--filter", f"label={ownership.SCOPE}={settings.scope}")
    volumes_before = volumes()
    async with Client(server) as client:
        message = await tool_error(client, "create_sandbox", arguments)
    assert expected in message
    assert docker("ps", "-aq", "--filter", f"label={ownership.SCOPE}={settings.scope}") == before
    assert volumes() - volumes_before == set()  # none made (others may go meanwhile: a shared engine)


async def test_list_reports_state_engine_mode_age_and_limits_and_create_logs_its_phases(server, caplog):
    name = unique("list")
    async with Client(server) as client:
        with caplog.at_level(logging.INFO, logger="manyoyo_mcp.sandbox.phases"):
            created = await call(client, "create_sandbox", {"name": name, "cpus": 1, "memory": "512m", "pids": 1000})
        listed = await call(client, "list_sandboxes")
        await call(client, "remove_sandbox", {"sandbox": name})
    [logged] = [r.getMessage() for r in caplog.records if r.name == "manyoyo_mcp.sandbox.phases"]
    shown = re.fullmatch(rf"sandbox '{name}' created in (\d+) ms: (.*)", logged)
    assert shown, logged
    phases = dict(re.fullmatch(r"(.+) (\d+) ms", part).groups() for part in shown[2].split(", "))
    assert list(phases) == [
        "lookups and checks", "volume and network", "container created", "container started",
        "nested docker answered", "preloaded images", "first command", "inspected",
    ]  # fmt: skip
    assert sum(map(int, phases.values())) == pytest.approx(int(shown[1]), abs=len(phases))  # (each rounded)
    assert int(shown[1]) <= created["ready_s"] * 1000 + 1  # (the result's reading is taken after)
    entry = next(s for s in listed["sandboxes"] if s["name"] == name)
    assert entry["id"] == created["id"]
    assert (entry["state"], entry["engine"], entry["mode"]) == ("running", "docker", "dind")
    assert entry["limits"] == {"cpus": 1.0, "memory": "512m", "memory_bytes": 512 * 1024**2, "pids": 1000}
    assert entry["age_s"] >= 0


async def test_every_tool_says_how_to_start_an_unreachable_engine(settings, tmp_path):
    down = settings.model_copy(update={"docker_host": f"unix://{tmp_path}/no-engine.sock"})
    calls = [
        ("create_sandbox", {"name": "x"}),
        ("exec", {"sandbox": "x", "command": "true"}),
        ("list_sandboxes", {}),
        ("remove_sandbox", {"sandbox": "x"}),
    ]
    async with Client(build_server(down)) as client:
        for tool, arguments in calls:
            message = await tool_error(client, tool, arguments)
            assert "Cannot reach the Docker engine" in message, (tool, message)
            assert "Start it" in message and "DOCKER_HOST" in message


async def test_the_sandbox_is_labelled_and_runs_under_the_standard_profile(server, settings):
    name = unique("prof")
    async with Client(server) as client:
        created = await call(client, "create_sandbox", {"name": name})
        info = json.loads(docker("inspect", created["id"]))[0]
        await call(client, "remove_sandbox", {"sandbox": name})
    labels, host = info["Config"]["Labels"], info["HostConfig"]
    assert labels[ownership.MANAGED] == "true" and labels[ownership.SCOPE] == settings.scope
    assert labels[ownership.SANDBOX] == name and labels[ownership.MODE] == "dind"
    assert host["Privileged"] is False
    assert sorted(host["CapAdd"]) == ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"]
    assert not host["Ulimits"]  # unlimited locked memory on cgroup v2 hosts only (test_engine_matrix.py)
    assert host["NetworkMode"] == f"manyoyo-{settings.scope}-{name}-net"  # a network of its own, made with it
    assert labels[ownership.NETWORK] == "public" and labels[ownership.KIND] == "sandbox"
    assert host["PidMode"] == "" and host["IpcMode"] in ("private", "shareable", "")
    assert not any(m.get("Source") == "/var/run/docker.sock" for m in info["Mounts"])

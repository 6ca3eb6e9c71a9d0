"""launch_agent against the real engine, with a stand-in agent that records how it was started.

The real agent CLIs cannot reach their services from these machines: the stand-in is installed
in the sandbox by the profile's own `first` command and records its argv, env and working
directory in the workspace, where the test reads them from the host.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import anyio
import pytest
from mcp import Client, types

from manyoyo_mcp.config.loader import load_config
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import call, docker, tool_error

pytestmark = pytest.mark.anyio

TOKEN = "sk-ant-api03-" + secrets.token_hex(16)
STAND_IN = """#!/bin/sh
echo "as $(id -un)"
out=/workspace/.record
mkdir -p "$out"
printf '%s\\n' "$0" > "$out/argv0"
: > "$out/argv"
for arg in "$@"; do printf '%s\\n' "$arg" >> "$out/argv"; done
env > "$out/env"
pwd > "$out/cwd"
echo "working on: $*"
echo "my token is $ANTHROPIC_AUTH_TOKEN"
echo "stderr sees $ANTHROPIC_AUTH_TOKEN too" >&2
[ -n "$STAND_IN_SLEEP" ] && sleep "$STAND_IN_SLEEP"
echo done
"""
INSTALL = "for agent in claude codex; do install -m 0755 /workspace/stand-in /usr/local/bin/$agent; done"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "stand-in").write_text(STAND_IN)
    return folder


@pytest.fixture
def configured(settings: ServerSettings, workspace: Path, tmp_path: Path) -> ServerSettings:
    """The session's settings with run profiles from a MANYOYO file and an env file of credentials."""
    env_file = tmp_path / "anthropic_claudecode.env"
    env_file.write_text(f'# claude credentials\nexport ANTHROPIC_AUTH_TOKEN="{TOKEN}"\r\nANTHROPIC_MODEL=opus\n')
    name = "agent-" + secrets.token_hex(3)
    user_file = tmp_path / "manyoyo.json"
    user_file.write_text(
        json.dumps(
            {
                "envFile": [str(env_file)],
                "hostPath": str(workspace),
                "first": INSTALL,
                "serverUser": "admin",
                "runs": {
                    "claude": {"yolo": "c", "containerName": name, "containerMode": "dind"},
                    "slow": {"yolo": "c", "containerName": name + "-slow", "env": {"STAND_IN_SLEEP": "300"}},
                    "broken": {
                        "yolo": "c",
                        "containerName": name + "-broken",
                        "first": "echo no such tool, token $ANTHROPIC_AUTH_TOKEN >&2; exit 3",
                    },
                    "host": {"yolo": "c", "containerName": name + "-host", "containerMode": "sock"},
                    "full": {
                        "containerName": name + "-full",
                        "engine": "podman",
                        "containerPath": "/src/app",
                        "volumes": [f"{tmp_path / 'data'}:/data:ro"],
                        "ports": ["127.0.0.1::8080"],
                        "first": "true",
                        "cpus": 1,
                        "memory": "768m",
                    },
                },
            }
        )
    )
    loaded = load_config(user_file, "", environ={})
    return settings.model_copy(update={"runs": loaded.settings.runs})


def recorded(workspace: Path, what: str) -> str:
    return (workspace / ".record" / what).read_text()


async def test_the_agent_runs_headless_in_yolo_mode_with_its_credentials_masked_everywhere(
    engine: Engine, configured: ServerSettings, workspace: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(build_server(configured, engine)) as client:
        result = await call(
            client,
            "launch_agent",
            {"profile": "claude", "prompt": "fix the failing test"},
            progress_callback=on_progress,
        )
        name = result["sandbox"]
        try:
            assert result["command"] == ["claude", "--dangerously-skip-permissions", "-p", "fix the failing test"]
            assert recorded(workspace, "argv").splitlines() == result["command"][1:]
            assert recorded(workspace, "argv0").strip() == "/usr/local/bin/claude"
            assert recorded(workspace, "cwd").strip() == "/workspace"
            env = dict(line.split("=", 1) for line in recorded(workspace, "env").splitlines() if "=" in line)
            assert env["ANTHROPIC_AUTH_TOKEN"] == TOKEN  # present inside the sandbox
            assert (env["IS_SANDBOX"], env["ANTHROPIC_MODEL"]) == ("1", "opus")
            assert (result["exit_code"], result["agent"], result["profile"]) == (0, "claude", "claude")
            assert result["sandbox_created"] and result["duration_s"] > 0 and not result["timed_out"]
            assert "working on: --dangerously-skip-permissions -p fix the failing test" in result["output"]
            assert "my token is [redacted:" in result["output"] and "[redacted:" in result["stderr"]

            # The same sandbox again: another agent, and claude resuming its conversation.
            codex = await call(
                client, "launch_agent", {"profile": "claude", "agent": "cx", "prompt": "review", "sandbox": name}
            )
            assert not codex["sandbox_created"]
            assert recorded(workspace, "argv").splitlines() == [
                "exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check", "review",
            ]  # fmt: skip
            resumed = await call(
                client, "launch_agent", {"profile": "claude", "prompt": "go on", "sandbox": name, "resume": True}
            )
            assert resumed["command"] == ["claude", "--dangerously-skip-permissions", "--continue", "-p", "go on"]
            # Another user of the sandbox's, asked for by name (the workspace is root's: root is the default).
            as_nobody = await call(
                client, "launch_agent", {"profile": "claude", "prompt": "x", "sandbox": name, "user": "nobody"}
            )
            assert as_nobody["output"].startswith("as nobody\n") and result["output"].startswith("as root\n")
            # exec in the sandbox sees the credentials, and masks them too.
            shown = await call(client, "exec", {"sandbox": name, "command": "echo $ANTHROPIC_AUTH_TOKEN"})
            assert shown["stdout"].startswith("[redacted:")
            session = await client.read_resource("manyoyo://audit/session")
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})

    everything = [
        json.dumps([result, codex, resumed, shown]),
        *progress,
        caplog.text,
        *(p.read_text() for p in Path(configured.audit_dir).glob("*.jsonl")),
        str(session),
    ]
    assert "".join(progress).count("my token is [redacted:") == 1
    records = json.loads(session.contents[0].text)
    launched = [r for r in records if r["event"] == "outcome" and r["tool"] == "launch_agent"]
    assert launched[0]["created"] == [result["sandbox_id"]] and "created" not in launched[1]
    assert launched[0]["exit_code"] == 0 and launched[0]["output_bytes"] > 0
    for text in everything:
        assert TOKEN not in text


async def test_a_slow_agent_is_killed_at_its_timeout_or_when_cancelled(engine: Engine, configured: ServerSettings):
    async with Client(build_server(configured, engine)) as client:
        result = await call(client, "launch_agent", {"profile": "slow", "prompt": "wait", "timeout_s": 3})
        name = result["sandbox"]
        try:
            assert result["timed_out"] and result["killed"]
            assert result["exit_code"] != 0 and result["duration_s"] < 30
            assert await sleeping(client, result["sandbox"]) == "none"
            # Cancelled by the client while the agent runs (in the same sandbox): the agent goes too.
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(client.call_tool, "launch_agent", {"profile": "slow", "prompt": "w", "sandbox": name})
                with anyio.fail_after(20):
                    while await sleeping(client, name) == "none":
                        await anyio.sleep(0.2)
                tasks.cancel_scope.cancel()
            with anyio.fail_after(20):
                while await sleeping(client, name) != "none":
                    await anyio.sleep(0.2)
        finally:
            await call(client, "remove_sandbox", {"sandbox": result["sandbox"]})


async def sleeping(client: Client, sandbox: str) -> str:
    found = await call(
        client, "exec", {"sandbox": sandbox, "command": "ps -eo args= | grep -x 'sleep 300' || echo none"}
    )
    return found["stdout"].strip()


async def test_a_failing_first_command_leaves_nothing_behind(engine: Engine, configured: ServerSettings):
    async with Client(build_server(configured, engine)) as client:
        message = await tool_error(client, "launch_agent", {"profile": "broken", "prompt": "x"})
        assert "first command exited with 3; the sandbox was removed" in message
        assert "no such tool, token [redacted:" in message and TOKEN not in message
        listed = await call(client, "list_sandboxes")
        assert configured.runs["broken"].container_name not in [s["name"] for s in listed["sandboxes"]]


async def approve(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert "root on this machine" in params.message
    return types.ElicitResult(action="accept", content={"approve": True})


async def decline(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


async def test_a_sock_profile_runs_only_when_the_operator_allows_and_a_human_confirms(
    engine: Engine, configured: ServerSettings
):
    confirm = configured.model_copy(update={"sock_mode": "confirm"})
    sandbox = configured.runs["host"].container_name
    async with Client(build_server(confirm, engine), elicitation_callback=decline) as client:
        message = await tool_error(client, "launch_agent", {"profile": "host", "prompt": "x"})
        assert "denied by policy rule mode.sock-declined" in message
        assert sandbox not in [s["name"] for s in (await call(client, "list_sandboxes"))["sandboxes"]]
    async with Client(build_server(confirm, engine), elicitation_callback=approve) as client:
        result = await call(client, "launch_agent", {"profile": "host", "prompt": "x"})
        try:
            listed = {s["name"]: s for s in (await call(client, "list_sandboxes"))["sandboxes"]}
            assert listed[sandbox]["mode"] == "sock" and result["exit_code"] == 0
        finally:
            await call(client, "remove_sandbox", {"sandbox": sandbox})


async def test_profiles_the_policy_refuses_never_reach_the_engine(engine: Engine, configured: ServerSettings):
    runs = {**configured.runs, "sock": configured.runs["claude"].model_copy(update={"container_mode": "sock"})}
    async with Client(build_server(configured.model_copy(update={"runs": runs}), engine)) as client:
        assert "profile.unknown" in await tool_error(client, "launch_agent", {"profile": "nope", "prompt": "x"})
        assert "mode.sock-disabled" in await tool_error(client, "launch_agent", {"profile": "sock", "prompt": "x"})
        assert "mode.sock-disabled" in await tool_error(client, "create_sandbox", {"profile": "sock"})
        listed = await call(client, "list_sandboxes")
    assert configured.runs["claude"].container_name not in [s["name"] for s in listed["sandboxes"]]


async def test_create_sandbox_from_a_profile(engine: Engine, configured: ServerSettings, workspace: Path):
    async with Client(build_server(configured, engine)) as client:
        created = await call(client, "create_sandbox", {"profile": "claude"})
        try:
            assert created["name"] == configured.runs["claude"].container_name
            assert created["workspace"] == str(workspace)
            which = await call(client, "exec", {"sandbox": created["name"], "command": "command -v claude; pwd"})
            assert which["stdout"] == "/usr/local/bin/claude\n/workspace\n"  # `first` ran, workspace mounted
        finally:
            await call(client, "remove_sandbox", {"sandbox": created["name"]})


async def test_a_profile_sets_engine_mount_point_volumes_ports_and_limits(
    engine: Engine, configured: ServerSettings, tmp_path: Path
):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "seed.txt").write_text("from the host\n")
    async with Client(build_server(configured, engine)) as client:
        created = await call(client, "create_sandbox", {"profile": "full"})
        name = created["name"]
        try:
            assert (created["engine"], created["limits"]["cpus"], created["limits"]["memory"]) == ("podman", 1, "768m")
            ran = await call(
                client, "exec", {"sandbox": name, "command": "pwd; ls; cat /data/seed.txt; touch /data/x || echo ro"}
            )
            assert ran["stdout"].splitlines() == ["/src/app", "stand-in", "from the host", "ro"]
            # Read-only for good: the sandbox's root can neither remount it read-write nor unmount it.
            attempt = (
                "mount -o remount,bind,rw /data; echo remount=$?; umount /data; echo umount=$?; echo x >/data/seed.txt"
            )
            tried = await call(client, "exec", {"sandbox": name, "command": attempt, "user": "root"})
            assert "remount=32" in tried["stdout"] and "umount=32" in tried["stdout"], tried
            assert "Read-only file system" in tried["stderr"]
            assert (tmp_path / "data" / "seed.txt").read_text() == "from the host\n"
            bindings = json.loads(docker("inspect", "--format", "{{json .HostConfig.PortBindings}}", created["id"]))
            assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})

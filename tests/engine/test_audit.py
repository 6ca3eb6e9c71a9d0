"""Every call through MCP leaves its records: allowed, denied, failed, timed out, cancelled, killed
mid-call; no secret reaches the log; a log that cannot be written stops the tools; the review
commands and the HTML report show it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from manyoyo_mcp.audit.log import log_files, read_records, verify
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import AUDIT_RESOURCE, build_server

from ..helpers import TESTBOX, call, docker, tool_error

pytestmark = pytest.mark.anyio
CLI = str(Path(sys.executable).with_name("manyoyo-mcp"))


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def audited(settings: ServerSettings, audit_dir: Path) -> ServerSettings:
    return settings.model_copy(update={"audit_dir": str(audit_dir), "loadable_images": (TESTBOX,)})


def records_of(audit_dir: Path) -> list[dict]:
    return [r for _, _, r, _ in read_records(audit_dir) if r is not None]


def by_call(records: list[dict], tool: str) -> list[list[dict]]:
    calls: dict[str, list[dict]] = {}
    for record in records:
        if record.get("tool") == tool and record.get("call"):
            calls.setdefault(record["call"], []).append(record)
    return list(calls.values())


def shape(records: list[dict]) -> list[tuple]:
    return [(r["event"], r.get("allowed") if r["event"] == "decision" else r.get("status")) for r in records]


async def test_every_path_of_a_call_is_recorded(audited, engine: Engine, audit_dir):
    name = f"aud-{secrets.token_hex(2)}"
    async with Client(build_server(audited, engine)) as client:
        await call(client, "create_sandbox", {"name": name})
        ok = await call(client, "exec", {"sandbox": name, "command": "echo hi; exit 3"})
        await tool_error(client, "exec", {"sandbox": name, "command": "true", "timeout_s": 99999})
        await tool_error(client, "load_image", {"sandbox": name, "image": "manyoyo-sandbox:latest"})
        await tool_error(client, "exec", {"sandbox": "missing-box", "command": "true"})
        await tool_error(client, "exec", {"sandbox": name, "command": "true", "timeout_s": "soon"})
        timed = await call(client, "exec", {"sandbox": name, "command": "sleep 60", "timeout_s": 1})
        with anyio.move_on_after(1.5):
            await client.call_tool("exec", {"sandbox": name, "command": "sleep 60"})
        await anyio.sleep(1.0)  # the cancelled call's outcome is written as the server unwinds
        await call(client, "remove_sandbox", {"sandbox": name})
    records = records_of(audit_dir)
    execs = by_call(records, "exec")
    assert [shape(c) for c in execs] == [
        [("call", None), ("decision", True), ("outcome", "ok")],
        [("call", None), ("decision", False), ("outcome", "denied")],
        [("call", None), ("decision", True), ("outcome", "error")],
        [("call", None), ("decision", False), ("outcome", "denied")],
        [("call", None), ("decision", True), ("outcome", "timeout")],
        [("call", None), ("decision", True), ("outcome", "cancelled")],
    ]
    first = execs[0]
    assert first[0]["args"] == {"sandbox": name, "command": "echo hi; exit 3"}
    assert first[0]["client"]["name"] and first[0]["sandbox"] == name
    assert first[2]["exit_code"] == ok["exit_code"] == 3 and first[2]["output_bytes"] == 3
    assert execs[1][1]["rule"] == "limits.timeout-ceiling" and "at most" in execs[1][2]["error"]
    assert "no sandbox named 'missing-box'" in execs[2][2]["error"]
    assert execs[3][1]["rule"] == "arguments.invalid" and "timeout_s" in execs[3][2]["error"]
    assert execs[3][0]["args"]["timeout_s"] == "soon"  # invalid, still recorded
    assert timed["timed_out"] and execs[4][2]["exit_code"] == timed["exit_code"]
    (load,) = by_call(records, "load_image")
    assert load[1]["rule"] == "image.load-allowlist" and load[2]["status"] == "denied"
    (create,) = by_call(records, "create_sandbox")
    (remove,) = by_call(records, "remove_sandbox")
    assert create[2]["created"] == [remove[2]["removed"][0]]
    assert records[0]["event"] == "server_start" and records[-1]["event"] == "server_stop"
    assert verify(audit_dir) == (len(records), None)


async def test_no_secret_passed_in_reaches_the_log(audited, engine: Engine, audit_dir):
    name = f"sec-{secrets.token_hex(2)}"
    token, build_secret, run_secret = (f"tok{secrets.token_hex(8)}" for _ in range(3))
    github = "ghp_" + secrets.token_hex(18)
    async with Client(build_server(audited, engine)) as client:
        await call(client, "create_sandbox", {"name": name, "env": {"SANDBOX_KEY": token}})
        await call(client, "load_image", {"sandbox": name, "image": TESTBOX})
        ran = await call(
            client,
            "exec",
            {"sandbox": name, "command": f"echo $API_TOKEN {github}", "env": {"API_TOKEN": token}},
        )
        failed = await tool_error(client, "exec", {"sandbox": name, "command": f"true {token}", "timeout_s": 1e9})
        await call(
            client,
            "build_image",
            {
                "sandbox": name,
                "dockerfile": f'FROM {TESTBOX}\nARG V\nRUN test -n "$V"\n',
                "build_args": {"V": build_secret},
            },
        )
        await call(
            client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "true", "env": {"X": run_secret}}
        )
        await call(client, "remove_sandbox", {"sandbox": name})
    assert token in ran["stdout"]  # the secret did reach the sandbox
    assert "at most" in failed
    text = "".join(path.read_text() for path in log_files(audit_dir))
    for secret in (token, build_secret, run_secret, github):
        assert secret not in text
    assert text.count("[redacted:") >= 6 and "echo $API_TOKEN" in text


async def test_fifty_concurrent_calls_leave_a_valid_chain_with_whole_lines(audited, engine: Engine, audit_dir):
    async with Client(build_server(audited, engine)) as client, anyio.create_task_group() as tasks:
        for i in range(50):
            tasks.start_soon(client.call_tool, "list_nested", {"sandbox": f"ghost-{i}"})
    records = records_of(audit_dir)
    calls = by_call(records, "list_nested")
    assert len(calls) == 50 and all([r["event"] for r in c] == ["call", "decision", "outcome"] for c in calls)
    assert {c[0]["sandbox"] for c in calls} == {f"ghost-{i}" for i in range(50)}
    assert verify(audit_dir) == (len(records), None)


async def test_the_session_resource_shows_this_sessions_records(audited, engine: Engine):
    async with Client(build_server(audited, engine)) as client:
        await call(client, "list_sandboxes")
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        content = (await client.read_resource(AUDIT_RESOURCE)).contents[0]
    records = json.loads(content.text)
    assert AUDIT_RESOURCE in resources
    assert [r["event"] for r in records] == ["server_start", "call", "decision", "outcome"]
    assert len({r["session"] for r in records}) == 1


async def test_a_log_that_cannot_be_written_stops_every_tool(settings, engine: Engine, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    broken = settings.model_copy(update={"audit_dir": str(blocker / "audit")})
    name = f"closed-{secrets.token_hex(2)}"
    async with Client(build_server(broken, engine)) as client:
        message = await tool_error(client, "create_sandbox", {"name": name})
        listing = await tool_error(client, "list_sandboxes")
    assert "audit log" in message and "nothing was done" in message and "audit log" in listing
    assert name not in docker("ps", "-a", "--format", "{{.Names}}")


def test_a_server_killed_mid_exec_leaves_a_verifiable_log_with_the_arrival(scope, tmp_path):
    audit_dir = tmp_path / "audit"
    name = f"kill-{secrets.token_hex(2)}"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "MANYOYO_SANDBOX_IMAGE")}
    params = StdioServerParameters(
        command=CLI,
        args=["serve", "--scope", scope],
        env={**env, "MANYOYO_AUDIT_DIR": str(audit_dir), "MANYOYO_DEFAULT_MEMORY": "1g"},
    )

    killed_pid: list[int] = []

    async def session() -> None:
        async with Client(params) as client:
            await call(client, "create_sandbox", {"name": name})
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(client.call_tool, "exec", {"sandbox": name, "command": "sleep 120"})
                with anyio.fail_after(30):
                    while not any(r.get("args", {}).get("command") == "sleep 120" for r in records_of(audit_dir)):
                        await anyio.sleep(0.05)
                pid = next(
                    int(p.name)
                    for p in Path("/proc").iterdir()
                    if p.name.isdigit() and str(audit_dir).encode() in _environ(p)
                )
                os.kill(pid, signal.SIGKILL)
                killed_pid.append(pid)
                tasks.cancel_scope.cancel()

    with contextlib.suppress(Exception):  # how the client takes its server's death does not matter here
        anyio.run(session)
    assert killed_pid and not _environ(Path(f"/proc/{killed_pid[0]}"))  # the server is gone
    records = records_of(audit_dir)
    (killed,) = [c for c in by_call(records, "exec")]
    assert [r["event"] for r in killed] == ["call", "decision"] and killed[0]["args"]["command"] == "sleep 120"
    assert verify(audit_dir) == (len(records), None)
    assert records[-1]["event"] != "server_stop"
    subprocess.run(["docker", "rm", "-f", "-v", f"manyoyo-{scope}-{name}"], capture_output=True, check=False)
    subprocess.run(["docker", "volume", "rm", f"manyoyo-{scope}-{name}-engine"], capture_output=True, check=False)


def _environ(proc: Path) -> bytes:
    try:
        return (proc / "environ").read_bytes()
    except OSError:
        return b""


async def test_the_review_commands_and_the_html_report_show_the_calls(audited, engine: Engine, audit_dir, tmp_path):
    async with Client(build_server(audited, engine)) as client:
        await call(client, "list_sandboxes")
        await tool_error(client, "load_image", {"sandbox": "nobox", "image": "not-allowed:1"})
        await tool_error(client, "exec", {"sandbox": "nobox", "command": "true"})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "audit", "--dir", str(audit_dir), *args], capture_output=True, text=True, timeout=60
        )

    shown, denied, errors = cli("show"), cli("show", "--denied"), cli("show", "--errors", "--json")
    stats = json.loads(cli("stats", "--json").stdout)
    lines = [line for line in shown.stdout.splitlines()[1:] if not line.startswith(("== ", "-- "))]
    assert shown.returncode == 0 and [line.split()[1] for line in lines] == ["list_sandboxes", "load_image", "exec"]
    assert "denied · image.load-allowlist" in denied.stdout and "list_sandboxes" not in denied.stdout
    assert [json.loads(line)["tool"] for line in errors.stdout.splitlines()] == ["exec"]
    assert stats["calls_per_tool"] == {"list_sandboxes": 1, "load_image": 1, "exec": 1}
    assert stats["denials_per_rule"] == {"image.load-allowlist": 1}
    assert "p50" in cli("stats").stdout or "p50 s" in cli("stats").stdout
    assert cli("verify").returncode == 0 and "intact" in cli("verify").stdout
    assert "outcome" in cli("tail", "-n", "3").stdout
    assert [json.loads(line)["event"] for line in cli("tail", "-n", "2", "--json").stdout.splitlines()] == [
        "outcome",
        "server_stop",
    ]
    assert json.loads(cli("verify", "--json").stdout)["intact"] is True
    summary = json.loads(cli("summary", "--json").stdout)
    assert summary["calls"] == 3 and list(summary["denials"]) == ["image.load-allowlist"] and summary["chain"]["intact"]

    # The page is rendered on the server: its rows are in the file (tests/unit/audit/test_page.py
    # reads a page like it in headless Chromium).
    report = tmp_path / "report.html"
    assert cli("report", "--html", str(report)).returncode == 0
    page = report.read_text()
    assert page.count('<details class="ok"') == 1 and page.count('<details class="denied"') == 1
    assert page.count('<details class="error"') == 1 and "image.load-allowlist" in page and "Chain verified" in page

    tampered = tmp_path / "tampered"
    shutil.copytree(audit_dir, tampered)
    (path,) = log_files(tampered)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    broken = subprocess.run([CLI, "audit", "--dir", str(tampered), "verify"], capture_output=True, text=True)
    assert broken.returncode == 1 and "line 4" in broken.stdout and "missing" in broken.stdout

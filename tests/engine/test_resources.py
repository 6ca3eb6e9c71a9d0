"""Ceilings from the host, totals for all of a scope's sandboxes, and idle sandboxes cleaned up:
measured against the real engine and this machine's figures."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.audit.log import AuditLog, read_records
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox.cleanup import collect
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.server import build_server

from ..helpers import call, docker, tool_error

pytestmark = pytest.mark.anyio


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def state(container: str) -> str:
    return docker("inspect", "--format", "{{.State.Status}}", container).strip()


async def test_the_ceilings_come_from_this_hosts_cpus_and_pid_max(settings: ServerSettings, engine: Engine):
    async with Client(build_server(settings, engine)) as client:
        before = (await call(client, "describe_policy"))["policy"]["sandbox_limits"]
        refused = await tool_error(client, "create_sandbox", {"name": unique("big"), "pids": 10**7})
        limits = (await call(client, "describe_policy"))["policy"]["sandbox_limits"]
    assert "first call to the engine" in before["from_host"]  # describe_policy alone makes no engine call
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert limits["host"]["pid_max"] == pid_max and limits["host"]["cpus"] == os.cpu_count()
    assert limits["ceilings"]["pids"] == int(settings.host_pid_share * pid_max) < pid_max
    assert limits["ceilings"]["cpus"] == round(settings.host_cpu_share * os.cpu_count(), 2)
    most = limits["ceilings"]["pids"]
    assert f"denied by policy rule limits.pids-ceiling: pids must be between 64 and {most}" in refused


async def test_sandboxes_together_stay_within_the_totals(settings: ServerSettings, engine: Engine):
    tight = settings.model_copy(update={"max_total_memory": "2g", "max_total_disk": "5g", "default_disk": "2g"})
    first, second, third = unique("tot"), unique("tot"), unique("tot")
    async with Client(build_server(tight, engine)) as client:
        await call(client, "create_sandbox", {"name": first, "memory": "1g"})
        try:
            await call(client, "create_sandbox", {"name": second, "memory": "1g"})
            memory = await tool_error(client, "create_sandbox", {"name": third, "memory": "512m"})
            await call(client, "exec", {"sandbox": second, "command": "true"})
            docker("stop", "-t", "1", f"manyoyo-{tight.scope}-{second}")  # a stopped one holds no memory ...
            disk = await tool_error(client, "create_sandbox", {"name": third, "memory": "512m"})  # ... but its disk
            made = await call(client, "create_sandbox", {"name": third, "memory": "512m", "disk": "1g"})
        finally:
            for name in (first, second, third):
                await client.call_tool("remove_sandbox", {"sandbox": name})
    assert "denied by policy rule quota.total-memory" in memory and "hold 2g" in memory
    assert "denied by policy rule quota.total-disk" in disk and "hold 4g" in disk
    assert made["disk"]["quota"] == "1g"


async def test_an_idle_sandbox_is_stopped_past_the_ttl_and_a_used_one_is_kept(settings: ServerSettings, engine: Engine):
    idle, used = unique("idle"), unique("used")
    async with Client(build_server(settings, engine)) as client:
        a = await call(client, "create_sandbox", {"name": idle})
        b = await call(client, "create_sandbox", {"name": used})
        try:
            await anyio.sleep(4)
            await call(client, "exec", {"sandbox": used, "command": "true"})
            service = SandboxService(engine, settings)
            recorder = Recorder(AuditLog(settings.audit_path), settings)
            dry = await collect(service, recorder, ttl="3s", action="stop", dry_run=True)
            done = await collect(service, recorder, ttl="3s", action="stop")
            states = state(a["id"]), state(b["id"])
            shown = subprocess.run(
                [sys.executable, "-m", "manyoyo_mcp", "status", "--json"],
                env={**os.environ, "MANYOYO_SCOPE": settings.scope, "MANYOYO_AUDIT_DIR": str(settings.audit_path)},
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            for name in (idle, used):
                await client.call_tool("remove_sandbox", {"sandbox": name})
    ours = {d.name: d.action for d in done}
    assert {d.name: d.action for d in dry} == {idle: "would stop"} and ours == {idle: "stop"}
    assert states == ("exited", "running")
    rows = {row["name"]: row for row in json.loads(shown.stdout)["sandboxes"]}
    assert rows[idle]["state"] == "exited" and rows[used]["state"] == "running"
    assert rows[used]["memory_bytes"] > 0 and rows[used]["disk"]["used_bytes"] > 0 and rows[used]["age_s"] >= 4
    assert rows[used]["idle_s"] < rows[used]["age_s"]  # its exec was a call naming it
    gc = [r for _, _, r, _ in read_records(settings.audit_path) if r and r.get("tool") == "gc" and r["sandbox"] == idle]
    assert [r["event"] for r in gc] == ["call", "decision", "outcome"]
    assert gc[1]["rule"] == "sandbox.idle-ttl" and "past the operator's 3s" in gc[1]["reason"]


async def test_the_server_stops_idle_sandboxes_itself_and_create_starts_one_again(settings, engine):
    name = unique("ttl")
    quick = settings.model_copy(update={"idle_ttl": "6s"})  # checked every 5 s
    async with Client(build_server(quick, engine)) as client:
        made = await call(client, "create_sandbox", {"name": name})
        try:
            with anyio.move_on_after(90):
                while state(made["id"]) == "running":
                    await anyio.sleep(1)
            stopped = state(made["id"])
            again = await call(client, "create_sandbox", {"name": name})
        finally:
            await client.call_tool("remove_sandbox", {"sandbox": name})
    assert stopped == "exited" and again["created"] is False and again["state"] == "running"

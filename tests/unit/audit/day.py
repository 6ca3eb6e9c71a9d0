"""A day of an agent's work, written by the server's own audit writer (Recorder over AuditLog).

Two agents' sessions and a few server runs without calls, with everything a reviewer must be
shown: sandboxes made (one by launch_agent, unnamed) and removed, commands that passed and
failed, denials by several rules, an error, a timeout, a cancelled call, a call the server never
finished, sock mode confirmed by a human and granted by the operator, a build allowed with a
warning, and a secret that must stay redacted. The clock is the script's: each step advances it.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from manyoyo_mcp.audit import log as audit_log
from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy import Decision
from manyoyo_mcp.policy import rule_ids as r

START = datetime(2026, 11, 28, 9, 12, 4, tzinfo=UTC)
SECRET = "tok_9f8e7d6c5b4a39281706"  # passed in env: must never appear in the log or the page
CLAUDE = {"name": "claude-code", "version": "2.0.31"}
CODEX = {"name": "codex-mcp-client", "version": "0.46.0"}
DENIED_COMMAND = "npm run e2e -- --timeout 9999"
CALLS, RECORDS, SECOND_SESSION_CALLS = 22, 74, 8  # what write_day writes


def hexid(n: int) -> str:
    return f"{n:02x}" * 32


@contextlib.contextmanager
def clock(start: datetime) -> Iterator[list[datetime]]:
    """Records stamped by a clock that only the script moves (now[0] += ...)."""
    now = [start]
    real = audit_log.now_iso
    audit_log.now_iso = lambda: now[0].isoformat(timespec="microseconds").replace("+00:00", "Z")
    try:
        yield now
    finally:
        audit_log.now_iso = real


class Agent:
    """One server session seen from its recorder: calls go in, records come out."""

    def __init__(self, directory: Path, client: dict[str, str], now: list[datetime]) -> None:
        self.recorder = Recorder(AuditLog(directory, fsync=False), ServerSettings(audit_dir=str(directory)))
        self.client, self.now = client, now

    async def call(
        self,
        tool: str,
        args: dict[str, Any],
        *,
        status: str = "ok",
        seconds: float = 0.2,
        result: dict[str, Any] | None = None,
        denied: tuple[str, str] | None = None,
        error: str | None = None,
        confirmation: tuple[Decision, str] | None = None,
        finish: bool = True,
    ) -> None:
        self.now[0] += timedelta(seconds=7)
        call = await self.recorder.arrive(tool, args, self.client)
        if denied:
            await call.decision(Decision(False, *denied))
            await call.outcome(
                "denied", error=f"Error executing tool {tool}: denied by policy rule {denied[0]}: {denied[1]}"
            )
            return
        await call.decision(Decision(True, r.tool_allowed(tool), "dind mode; checks passed: timeout-ceiling"))
        if confirmation:
            await call.decision(*confirmation)
        if not finish:
            return
        self.now[0] += timedelta(seconds=seconds)
        call.started = time.monotonic() - seconds
        await call.outcome(status, result=result, error=error)


async def _claude(directory: Path, now: list[datetime]) -> None:
    agent = Agent(directory, CLAUDE, now)
    await agent.recorder.server_event("server_start", version="0.1.0", pid=4242)
    shop = {"created": True, "id": hexid(1), "name": "shop"}
    await agent.call(
        "create_sandbox", {"name": "shop", "workspace": "/home/dev/shop", "memory": "2g"}, seconds=3.1, result=shop
    )
    out = {"exit_code": 0, "stdout_bytes": 48_213, "stderr_bytes": 310}
    await agent.call("exec", {"sandbox": "shop", "command": "npm ci"}, seconds=41, result=out)
    failed = {"exit_code": 1, "stdout_bytes": 11_870, "stderr_bytes": 2_046}
    await agent.call("exec", {"sandbox": "shop", "command": "npm test -- cart"}, seconds=12.4, result=failed)
    await agent.call(
        "exec",
        {
            "sandbox": "shop",
            "command": 'curl -H "Authorization: token $API_TOKEN" https://api.example.com/orders | head',
            "env": {"API_TOKEN": SECRET},
        },
        seconds=0.8,
        result={"exit_code": 0, "stdout_bytes": 812, "stderr_bytes": 0},
    )
    await agent.call(
        "create_sandbox",
        {"name": "keys", "workspace": "/home/dev/.ssh"},
        denied=(r.HOST_CREDENTIALS.id, "/home/dev/.ssh is a credential folder; mount a project folder instead"),
    )
    await agent.call(
        "exec",
        {"sandbox": "shop", "command": DENIED_COMMAND, "timeout_s": 9999},
        denied=(r.TIMEOUT_CEILING.id, "timeout_s is at most 3600"),
    )
    await agent.call(
        "load_image",
        {"sandbox": "shop", "image": "node:22"},
        denied=(r.LOAD_ALLOWLIST.id, "node:22 is not in MANYOYO_LOADABLE_IMAGES"),
    )
    await agent.call(
        "run_container",
        {"sandbox": "shop", "image": "postgres:16", "detach": True, "ports": ["5432:5432"]},
        status="error",
        error=f"Error executing tool run_container: no image postgres:16 (postgres@sha256:{hexid(2) * 2}) in shop",
    )
    build = {"image_id": "sha256:" + hexid(7), "tags": ["shop:dev"]}
    await agent.call(
        "build_image", {"sandbox": "shop", "context": "/workspace", "tag": "shop:dev"}, seconds=48.2, result=build
    )
    await agent.call(
        "exec",
        {"sandbox": "shop", "command": "npm run e2e", "timeout_s": 120},
        status="timeout",
        seconds=120.4,
        result={"exit_code": 137, "timed_out": True, "stdout_bytes": 3_100, "stderr_bytes": 0},
    )
    await agent.call("exec", {"sandbox": "shop", "command": "sleep 60"}, status="cancelled", seconds=4)
    launched = {
        "sandbox": "sbx-1a2b3c",
        "sandbox_id": hexid(9),
        "sandbox_created": True,
        "exit_code": 0,
        "output": "x" * 5_230,
    }
    await agent.call(
        "launch_agent",
        {"profile": "claude", "prompt": "fix the failing cart test, then run npm test and report what changed"},
        seconds=184,
        result=launched,
    )
    await agent.call("list_sandboxes", {}, seconds=0.03)
    await agent.call(
        "remove_sandbox",
        {"sandbox": "shop"},
        seconds=0.4,
        result={"id": hexid(1), "removed_volumes": ["manyoyo-shop-engine"]},
    )
    await agent.recorder.server_event("server_stop")


async def _codex(directory: Path, now: list[datetime]) -> None:
    agent = Agent(directory, CODEX, now)
    await agent.recorder.server_event("server_start", version="0.1.0", pid=5151)
    human = (Decision(True, r.SOCK_CONFIRMED.id, "a human confirmed sock mode"), "accepted by the user")
    await agent.call(
        "create_sandbox",
        {"name": "ops", "mode": "sock"},
        confirmation=human,
        seconds=2.2,
        result={"created": True, "id": hexid(3), "name": "ops"},
    )
    operator = (Decision(True, r.SOCK_PREAPPROVED.id, "the operator pre-approved sock mode"), "operator")
    await agent.call(
        "create_sandbox",
        {"name": "ops2", "mode": "sock"},
        confirmation=operator,
        seconds=2.0,
        result={"created": True, "id": hexid(4), "name": "ops2"},
    )
    await agent.call(
        "create_sandbox",
        {"name": "ops3", "mode": "sock"},
        denied=(r.SOCK_DECLINED.id, "the human did not approve sock mode (decline); use dind mode"),
    )
    await agent.call(
        "exec",
        {"sandbox": "ops", "command": ["docker", "ps", "--format", "{{.Names}}"]},
        result={"exit_code": 0, "stdout_bytes": 96, "stderr_bytes": 0},
    )
    warned = Decision(
        True, r.BUILD_SECRET_ARGS_WARNED.id, "build arg NPM_TOKEN looks like a secret; it stays in the image history"
    )
    agent.now[0] += timedelta(seconds=5)
    call = await agent.recorder.arrive(
        "build_image", {"sandbox": "ops", "context": "app", "build_args": {"NPM_TOKEN": SECRET}}, agent.client
    )
    await call.decision(warned)
    await call.outcome("ok", result={"image_id": "sha256:" + hexid(8)})
    by_id = {"sandbox": hexid(3), "command": "uptime"}  # a sandbox named by its full id: a long word too
    await agent.call("exec", by_id, result={"exit_code": 0, "stdout_bytes": 64, "stderr_bytes": 0})
    blob = "H4sIAAAAAAAAA" + "x9Kz" * 120  # one long word: it must wrap, never widen the page
    await agent.call(
        "exec", {"sandbox": "ops", "command": f"echo {blob} | base64 -d | tar xz"}, result={"exit_code": 0}
    )
    killed = {"sandbox": "ops", "command": "tail -f /var/log/app.log"}
    await agent.call("exec", killed, finish=False)  # the server was killed during this call


def write_day(directory: Path) -> Path:
    """The day's log in `directory` (returned)."""

    async def day() -> None:
        with clock(START) as now:
            for _ in range(2):  # server runs that served no call (a health probe, a restart)
                idle = Agent(directory, CLAUDE, now)
                await idle.recorder.server_event("server_start", version="0.1.0", pid=4000)
                await idle.recorder.server_event("server_stop")
                now[0] += timedelta(minutes=3)
            await _claude(directory, now)
            now[0] += timedelta(hours=2)
            await _codex(directory, now)

    anyio.run(day)
    return directory


def busy_day(directory: Path, calls: int) -> Path:
    """A long ordinary day: `calls` calls of the usual mix, for measuring the page's size."""
    commands = itertools.cycle(
        [
            "git status --short",
            "npm test -- --reporter dot",
            "ls -la /workspace/src",
            "python -m pytest -q tests/unit",
            "grep -rn 'TODO' src | head -20",
            "docker build -t app:dev . && docker run --rm app:dev npm run lint",
        ]
    )

    async def day() -> None:
        with clock(START) as now:
            agent = Agent(directory, CLAUDE, now)
            await agent.recorder.server_event("server_start", version="0.1.0", pid=4242)
            await agent.call(
                "create_sandbox",
                {"name": "work", "workspace": "/home/dev/app"},
                result={"created": True, "id": hexid(5), "name": "work"},
            )
            for i in range(calls - 2):
                if i % 25 == 24:
                    await agent.call(
                        "exec",
                        {"sandbox": "work", "command": "true", "timeout_s": 99999},
                        denied=(r.TIMEOUT_CEILING.id, "timeout_s is at most 3600"),
                    )
                else:
                    out = {"exit_code": int(i % 7 == 0), "stdout_bytes": 40 * (i % 50), "stderr_bytes": 0}
                    await agent.call(
                        "exec", {"sandbox": "work", "command": next(commands)}, seconds=0.1 + i % 9, result=out
                    )
            await agent.call("remove_sandbox", {"sandbox": "work"}, result={"id": hexid(5)})
            await agent.recorder.server_event("server_stop")

    anyio.run(day)
    return directory

"""Idle sandboxes: how long each has gone without a tool call, and the operator's cleanup (stop,
or remove with its storage, past MANYOYO_IDLE_TTL), run by the server and by `manyoyo-mcp gc`.

Idle is the time since the later of the last tool call naming the sandbox (the audit log, see
audit/activity.py) and its last start. Every cleanup is recorded in the audit log like a call of
a tool named `gc`: the sandbox, how long it was idle, the rule (sandbox.idle-ttl), what was done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from manyoyo_mcp import __version__
from manyoyo_mcp.audit.activity import last_calls
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.limits import format_duration, parse_duration
from manyoyo_mcp.policy import Decision, rule_ids
from manyoyo_mcp.sandbox.plan import STOP_TIMEOUT_S
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.sandbox.view import Sandbox, parse_time
from manyoyo_mcp.threads import in_thread

log = logging.getLogger(__name__)
WINDOW = timedelta(days=7)
"""How far back `status` looks for calls when no TTL is set; idle beyond it shows as 'more than'."""


@dataclass(frozen=True, slots=True)
class Idle:
    sandbox: Sandbox
    idle_s: float
    last_call: datetime | None
    """The last call naming it within the window read; None: none there."""


async def idle_times(service: SandboxService, window: timedelta, now: datetime | None = None) -> list[Idle]:
    """Every owned sandbox (inspected) with its idle time: since its last call or its last start."""
    now = now or datetime.now(UTC)
    calls = await in_thread(last_calls, service.settings.audit_path, window, now)
    found = []
    for listed in await service.owned():
        sandbox = await service.inspect(listed)
        details = sandbox.details
        assert details is not None
        moments = [parse_time(details.started_at), parse_time(details.created), calls.get(sandbox.name)]
        since = max(m for m in moments if m is not None) if any(moments) else now
        found.append(Idle(sandbox, max(0.0, (now - since).total_seconds()), calls.get(sandbox.name)))
    return found


@dataclass(frozen=True, slots=True)
class Collected:
    name: str
    action: str  # "stop", "remove", or "would stop" / "would remove" in a dry run
    idle_s: float


async def collect(
    service: SandboxService,
    recorder: Recorder,
    *,
    ttl: str,
    action: str,
    dry_run: bool = False,
    client: str = "manyoyo-mcp",
) -> list[Collected]:
    """Stop (or remove) every sandbox idle past `ttl`: running ones, and with "remove" stopped ones
    too. Each is recorded as a `gc` call before it is done. Returns what was (or would be) done."""
    ttl_s = parse_duration(ttl)
    done = []
    for idle in await idle_times(service, timedelta(seconds=ttl_s) + timedelta(days=1)):
        sandbox = idle.sandbox
        if idle.idle_s <= ttl_s or not (sandbox.running or action == "remove"):
            continue
        if dry_run:
            done.append(Collected(sandbox.name, f"would {action}", idle.idle_s))
            continue
        await _collect_one(service, recorder, sandbox, idle.idle_s, ttl, action, client)
        done.append(Collected(sandbox.name, action, idle.idle_s))
    return done


async def _collect_one(
    service: SandboxService, recorder: Recorder, sandbox: Sandbox, idle_s: float, ttl: str, action: str, client: str
) -> None:
    arguments = {"sandbox": sandbox.name, "action": action, "idle_s": round(idle_s), "ttl": ttl}
    call = await recorder.arrive("gc", arguments, {"name": client, "version": __version__})
    reason = (
        f"idle for {format_duration(idle_s)} (no tool call), past the operator's {ttl} (MANYOYO_IDLE_TTL): {action}"
    )
    await call.decision(Decision(True, rule_ids.IDLE_TTL.id, reason))
    try:
        if action == "remove":
            removed = await service.remove(sandbox.id)
            result = {"id": removed.id, "removed": True, "removed_volumes": removed.removed_volumes}
        else:
            await in_thread(service.engine.stop_container, sandbox.id, STOP_TIMEOUT_S)
            result = {"id": sandbox.id, "stopped": True}
    except Exception as exc:
        await call.outcome("error", error=f"{type(exc).__name__}: {exc}")
        raise
    log.info("gc: %s sandbox %s, %s", action, sandbox.name, reason)
    await call.outcome("ok", result=result)

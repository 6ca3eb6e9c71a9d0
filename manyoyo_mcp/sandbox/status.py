"""What `manyoyo-mcp status` shows an operator: each sandbox's disk, memory, age and idle time, the
scope's sandboxes against their totals, the host's figures, and the audit log against its cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from manyoyo_mcp.audit.files import log_files
from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.limits import format_duration, format_memory, format_size, parse_duration
from manyoyo_mcp.sandbox.cleanup import WINDOW, idle_times
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.sandbox.usage import disk_view, limits_of
from manyoyo_mcp.sandbox.view import parse_time
from manyoyo_mcp.threads import in_thread


async def status(service: SandboxService) -> dict[str, Any]:
    """The scope's sandboxes and what they hold, as data (`status --json`; text() prints it)."""
    settings = service.settings
    ttl = settings.idle_ttl
    window = max(WINDOW, timedelta(seconds=parse_duration(ttl)) + timedelta(days=1)) if ttl else WINDOW
    now = datetime.now(UTC)
    rows, running = [], []
    for idle in await idle_times(service, window, now):
        sandbox = idle.sandbox
        own = limits_of(sandbox)
        disk = await disk_view(service.engine, sandbox)
        memory = await in_thread(service.engine.memory_usage, sandbox.id) if sandbox.running else None
        created = parse_time(sandbox.details.created) if sandbox.details else None
        if sandbox.running:
            running.append(own)
        rows.append(
            {
                "name": sandbox.name,
                "state": sandbox.state,
                "engine": sandbox.engine,
                "mode": sandbox.mode,
                "age_s": round((now - created).total_seconds()) if created else None,
                "idle_s": round(idle.idle_s),
                "last_call": idle.last_call.isoformat() if idle.last_call else None,
                "memory_bytes": memory,
                "memory_limit_bytes": own.memory_bytes,
                "cpus": own.cpus,
                "pids": own.pids,
                "disk": disk.model_dump(),
            }
        )
    ceilings = await service.ceilings()
    held = {
        "cpus": round(sum(r.cpus for r in running), 2),
        "memory": format_size(sum(r.memory_bytes for r in running)),
        "pids": sum(r.pids for r in running),
        "disk": format_size(sum(row["disk"]["quota_bytes"] or 0 for row in rows)),
    }
    return {
        "scope": settings.scope,
        "sandboxes": rows,
        "held": held,
        "limits": ceilings.as_dict(),
        "idle": {"ttl": ttl, "action": settings.idle_action, "window_read": format_duration(window.total_seconds())},
        "audit": _audit(service),
    }


def _audit(service: SandboxService) -> dict[str, Any]:
    settings = service.settings
    files = log_files(settings.audit_path)
    free = AuditLog(settings.audit_path).free_bytes()
    return {
        "directory": str(settings.audit_path),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "cap_bytes": settings.audit_max_total_bytes,
        "retention": settings.audit_retention,
        "disk_free_bytes": free,
        "refuses_below_bytes": settings.audit_min_free_bytes,
    }


def text(report: dict[str, Any]) -> str:
    """The report for a terminal: a line per sandbox, then the totals, the host and the audit log."""
    lines = [f"{'sandbox':<24} {'state':<8} {'disk used/quota':<20} {'memory/limit':<18} {'age':>6} {'idle':>6}"]
    for row in report["sandboxes"]:
        disk = row["disk"]
        used = "?" if disk["used_bytes"] is None else format_size(disk["used_bytes"])
        quota = disk["quota"] or "none"
        memory = "-" if row["memory_bytes"] is None else format_size(row["memory_bytes"])
        age = "" if row["age_s"] is None else format_duration(row["age_s"])
        memory += "/" + format_memory(row["memory_limit_bytes"])
        idle_for = format_duration(row["idle_s"])
        lines.append(
            f"{row['name']:<24} {row['state']:<8} {used + '/' + quota:<20} {memory:<18} {age:>6} {idle_for:>6}"
        )
    limits, held = report["limits"], report["held"]
    kinds = ("cpus", "memory", "pids", "disk")
    totals = ", ".join(f"{k} {held[k]} of {limits['totals'][k] or 'unknown (no total)'}" for k in kinds)
    most = ", ".join(f"{k} {limits['ceilings'][k] or 'no quota'}" for k in kinds)
    host = limits["host"]
    idle = report["idle"]
    audit = report["audit"]
    lines += [
        "",
        f"held (running; disk: all): {totals}",
        f"each sandbox at most: {most}",
        f"host ({host['from']}): {host['cpus']} CPUs, {host['memory']}, pid_max {host['pid_max']}, "
        f"disk free {host['disk_free'] or 'unknown'}",
        f"idle: {'no TTL set' if not idle['ttl'] else idle['ttl'] + ', then ' + idle['action']} "
        f"(idle = since the last tool call naming it or its last start; calls read back {idle['window_read']})",
        f"audit log: {audit['files']} files, {format_size(audit['bytes'])} of "
        f"{format_memory(audit['cap_bytes'])} ({audit['retention']}), disk free "
        f"{'?' if audit['disk_free_bytes'] is None else format_size(audit['disk_free_bytes'])}",
    ]
    return "\n".join(lines)

"""`manyoyo-mcp status` and `manyoyo-mcp gc`: what the sandboxes hold, and idle ones cleaned up."""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.limits import format_duration
from manyoyo_mcp.sandbox.cleanup import collect
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.sandbox.status import status, text


def status_command(settings: ServerSettings, as_json: bool) -> int:
    report = anyio.run(_with_service, settings, status)
    print(json.dumps(report, indent=1) if as_json else text(report))
    return 0


def gc_command(settings: ServerSettings, args: argparse.Namespace) -> int:
    ttl = args.ttl or settings.idle_ttl
    if not ttl:
        raise InvalidArgument("no idle TTL: give --ttl (e.g. 8h) or set MANYOYO_IDLE_TTL")
    action = args.action or settings.idle_action
    recorder = Recorder(AuditLog(settings.audit_path, max_bytes=settings.audit_max_bytes), settings)

    async def run(service: SandboxService) -> list[Any]:
        return await collect(service, recorder, ttl=ttl, action=action, dry_run=args.dry_run, client="manyoyo-mcp gc")

    done = anyio.run(_with_service, settings, run)
    if args.json:
        print(json.dumps([{"sandbox": d.name, "action": d.action, "idle_s": round(d.idle_s)} for d in done]))
    else:
        for d in done:
            print(f"{d.action} {d.name} (idle {format_duration(d.idle_s)})")
        print(f"{len(done)} sandbox(es) idle past {ttl}" + (" (dry run: nothing done)" if args.dry_run else ""))
    return 0


async def _with_service(settings: ServerSettings, work: Any) -> Any:
    engine = Engine(settings.docker_host)
    try:
        return await work(SandboxService(engine, settings))
    finally:
        engine.close()

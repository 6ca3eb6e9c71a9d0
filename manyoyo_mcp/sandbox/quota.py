"""A sandbox's limits from its request and the ceilings, and what its disk quota asks of the outer
container: the outer init's settings and the loop devices (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import RuntimeProfile
from manyoyo_mcp.errors import InvalidArgument, PolicyDenied
from manyoyo_mcp.limits import AboveCeiling, Limits, resolve_limits
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.sandbox.ceilings import Ceilings
from manyoyo_mcp.sandbox.runtime import runtime_profile, with_disk_quota

if TYPE_CHECKING:
    from manyoyo_mcp.sandbox.plan import CreateRequest


def sandbox_limits(request: CreateRequest, ceilings: Ceilings, no_quota: bool) -> Limits:
    """The request's limits, defaulted; PolicyDenied naming limits.<kind>-ceiling above a ceiling.
    `no_quota`: none is made (sock mode: no storage of its own, it uses the host's engine; or an
    image that predates quotas)."""
    if no_quota and request.mode == "sock" and request.disk is not None:
        raise InvalidArgument("sock mode has no disk quota (the sandbox uses the host's engine): leave `disk` out")
    try:
        limits = resolve_limits(
            cpus=request.cpus,
            memory=request.memory,
            pids=request.pids,
            disk=request.disk,
            defaults=ceilings.defaults,
            ceilings=ceilings.sandbox,
        )
    except AboveCeiling as exc:
        raise PolicyDenied(rule_ids.LIMITS_CEILING[exc.kind].id, str(exc)) from exc
    return replace(limits, disk_bytes=None) if no_quota else limits


def disk_environment(limits: Limits, settings: ServerSettings) -> dict[str, str]:
    """What tells the outer init to make the disk quota (and whether a host without one may go on)."""
    if limits.disk_bytes is None:
        return {}
    return {"MANYOYO_DISK_BYTES": str(limits.disk_bytes), "MANYOYO_DISK_QUOTA": settings.disk_quota}


def sandbox_profile(settings: ServerSettings, limits: Limits) -> RuntimeProfile:
    """The operator's runtime profile, with the loop devices a disk quota needs."""
    profile = runtime_profile(settings.runtime_profile)
    return profile if limits.disk_bytes is None else with_disk_quota(profile)


def quota_notices(image_makes_quota: bool, ceilings: Ceilings) -> tuple[str, ...]:
    """What the agent is told when its sandbox's image cannot make the quota the operator wants."""
    if image_makes_quota or ceilings.sandbox.disk_bytes is None:
        return ()
    return ("no disk quota: this sandbox image predates disk quotas (the operator can rebuild it)",)

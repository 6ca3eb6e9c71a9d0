"""Ceilings from the host (pure): each sandbox's limits and what all of a scope's sandboxes may
hold together, from the operator's settings and what the host has.

A ceiling the operator writes is lowered to the host's share (MANYOYO_HOST_*_SHARE,
MANYOYO_TOTAL_*_SHARE), so a value copied from a bigger machine stays sane here; no sandbox may
ask for more than the total. CPUs, memory and pids count the running sandboxes (a stopped one
holds none); disk counts the quotas of all of them, stopped ones included (their images stay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import HostFacts
from manyoyo_mcp.limits import Limits, format_memory, format_size, parse_memory

UNBOUNDED = 2**62


@dataclass(frozen=True, slots=True)
class Ceilings:
    defaults: Limits
    sandbox: Limits
    """The most one sandbox may ask for (disk_bytes None: quotas are off)."""
    total: Limits
    """The most a scope's sandboxes may hold together (disk_bytes None: not known, not enforced)."""
    facts: HostFacts

    def as_dict(self) -> dict[str, object]:
        """For describe_policy and `manyoyo-mcp status`."""

        def shown(limits: Limits) -> dict[str, object]:
            disk = None if limits.disk_bytes is None else format_size(limits.disk_bytes)
            return {
                "cpus": limits.cpus,
                "memory": format_size(limits.memory_bytes),
                "pids": limits.pids,
                "disk": disk,
                "memory_bytes": limits.memory_bytes,
                "disk_bytes": limits.disk_bytes,
            }

        facts = self.facts
        return {
            "defaults": shown(self.defaults),
            "ceilings": shown(self.sandbox),
            "totals": shown(self.total),
            "host": {
                "cpus": facts.cpus,
                "memory": format_size(facts.memory_bytes),
                "pid_max": facts.pid_max,
                "disk_free": None if facts.disk_free_bytes is None else format_size(facts.disk_free_bytes),
                "from": facts.source,
            },
        }


def _lowest(*values: float | None) -> float:
    return min(v for v in (*values, UNBOUNDED) if v is not None)


def _size(value: str | None) -> int | None:
    return None if value is None else parse_memory(value)


def derive(settings: ServerSettings, facts: HostFacts) -> Ceilings:
    """Each sandbox's defaults and ceilings, and the scope's totals, on a host with `facts`."""
    s = settings
    free = facts.disk_free_bytes
    total = Limits(
        cpus=round(_lowest(s.max_total_cpus, s.total_cpu_share * facts.cpus), 2),
        memory_bytes=int(_lowest(_size(s.max_total_memory), s.total_memory_share * facts.memory_bytes)),
        pids=int(_lowest(s.max_total_pids, s.total_pid_share * facts.pid_max)),
        disk_bytes=None
        if s.max_total_disk is None and free is None
        else int(_lowest(_size(s.max_total_disk), None if free is None else s.total_disk_share * free)),
    )
    sandbox = Limits(
        cpus=round(_lowest(s.max_cpus, s.host_cpu_share * facts.cpus, total.cpus), 2),
        memory_bytes=int(_lowest(parse_memory(s.max_memory), total.memory_bytes)),
        pids=max(64, int(_lowest(s.max_pids, s.host_pid_share * facts.pid_max, total.pids))),
        disk_bytes=None if s.disk_quota == "off" else int(_lowest(parse_memory(s.max_disk), total.disk_bytes)),
    )
    defaults = Limits(
        s.default_cpus,
        parse_memory(s.default_memory),
        s.default_pids,
        None if s.disk_quota == "off" else parse_memory(s.default_disk),
    )
    return Ceilings(defaults, sandbox, total, facts)


def over_total(
    new: Limits, running: Sequence[Limits], disks: Sequence[int | None], total: Limits
) -> tuple[str, str] | None:
    """(what, why) when a sandbox with `new` limits would take the scope past its totals, given
    the limits of its `running` sandboxes and the disk quotas of all of them; None when it fits."""
    checks = (
        ("cpus", new.cpus, sum(r.cpus for r in running), total.cpus, lambda v: f"{v:g} CPUs"),
        ("memory", new.memory_bytes, sum(r.memory_bytes for r in running), total.memory_bytes, _of_memory),
        ("pids", new.pids, sum(r.pids for r in running), total.pids, lambda v: f"{v} pids"),
    )
    for what, asked, held, most, text in checks:
        if held + asked > most:
            return what, _why(what, text(asked), text(held), text(most), len(running), "running ")
    if new.disk_bytes is not None and total.disk_bytes is not None:
        held = sum(d or 0 for d in disks)
        if held + new.disk_bytes > total.disk_bytes:
            return "disk", _why(
                "disk",
                f"{format_memory(new.disk_bytes)} of disk",
                f"{format_memory(held)} of disk",
                f"{format_memory(total.disk_bytes)} of disk",
                len(disks),
                "",
            )
    return None


def _of_memory(size: int) -> str:
    return f"{format_memory(size)} of memory"


def _why(what: str, asked: str, held: str, most: str, count: int, kind: str) -> str:
    return (
        f"this sandbox asks for {asked}; the {count} {kind}sandboxes of this scope hold {held} and "
        f"together they may hold {most} (the operator's MANYOYO_MAX_TOTAL_{what.upper()} or a share of the host): "
        "ask for less, or stop or remove a sandbox first"
    )

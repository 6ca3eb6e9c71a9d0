"""Resource limits of a sandbox: parsing, defaults and ceilings (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from manyoyo_mcp.errors import InvalidArgument

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MIN_MEMORY = 128 * 1024**2
MEMORY_FORMS = "a byte count or a number with k, m, g or t (e.g. '512m', '2g')"


def parse_memory(value: str | int, what: str = "memory") -> int:
    """'512m' -> bytes. Units are binary (k = 1024), as Docker reads them. `what` names it in the error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _MEMORY.match(str(value))
    if not match:
        raise InvalidArgument(f"{what} {value!r} is not understood: use {MEMORY_FORMS}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def parse_duration(value: str) -> float:
    """'8h' -> seconds: a number with s, m, h or d."""
    match = _DURATION.match(value)
    if not match:
        raise InvalidArgument(
            f"duration {value!r} is not understood: use a number with s, m, h or d (e.g. '30m', '8h')"
        )
    return float(match.group(1)) * _SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    """Seconds for people: '45s', '12m', '3.5h', '2.0d'."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def format_size(n: int) -> str:
    """Bytes for people in the largest binary unit, one decimal unless exact: '16g', '17.2g', '512m'."""
    for unit in ("t", "g", "m", "k"):
        size = _UNITS[unit]
        if n >= size:
            return f"{n // size}{unit}" if n % size == 0 else f"{n / size:.1f}{unit}"
    return str(n)


def format_memory(n: int) -> str:
    for unit in ("t", "g", "m", "k"):
        size = _UNITS[unit]
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


@dataclass(frozen=True, slots=True)
class Limits:
    cpus: float
    memory_bytes: int
    pids: int
    disk_bytes: int | None = None
    """The disk quota; None: none (sock mode, quotas off, nested containers)."""


MIN_DISK = 256 * 1024**2


class AboveCeiling(InvalidArgument):
    """A limit above its ceiling; `kind` is cpus, memory, pids or disk (the policy names its rule)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def resolve_limits(
    *,
    cpus: float | None,
    memory: str | int | None,
    pids: int | None,
    defaults: Limits,
    ceilings: Limits,
    disk: str | int | None = None,
) -> Limits:
    """Apply defaults to what the agent left out; refuse what exceeds the operator's ceilings.

    A default above its ceiling (say 2 cpus on a 1-cpu host) is lowered to the ceiling. A value
    below the minimum is InvalidArgument; one above its ceiling is AboveCeiling.
    """
    chosen = Limits(
        cpus=min(defaults.cpus, ceilings.cpus) if cpus is None else cpus,
        memory_bytes=(min(defaults.memory_bytes, ceilings.memory_bytes) if memory is None else parse_memory(memory)),
        pids=min(defaults.pids, ceilings.pids) if pids is None else pids,
        disk_bytes=_disk(disk, defaults.disk_bytes, ceilings.disk_bytes),
    )
    _check(
        "cpus",
        chosen.cpus > 0,
        chosen.cpus <= ceilings.cpus,
        f"cpus must be more than 0 and at most {ceilings.cpus:g}; got {chosen.cpus:g}",
    )
    _check(
        "memory",
        chosen.memory_bytes >= MIN_MEMORY,
        chosen.memory_bytes <= ceilings.memory_bytes,
        f"memory must be between {format_memory(MIN_MEMORY)} and {format_memory(ceilings.memory_bytes)}; "
        f"got {format_memory(chosen.memory_bytes)}",
    )
    _check(
        "pids",
        chosen.pids >= 64,
        chosen.pids <= ceilings.pids,
        f"pids must be between 64 and {ceilings.pids}; got {chosen.pids}",
    )
    return chosen


def _check(kind: str, above_minimum: bool, within_ceiling: bool, message: str) -> None:
    if not above_minimum:
        raise InvalidArgument(message)
    if not within_ceiling:
        raise AboveCeiling(kind, message)


def _disk(given: str | int | None, default: int | None, ceiling: int | None) -> int | None:
    """The disk quota: the agent's, else the default (lowered to the ceiling); None when quotas are off."""
    if ceiling is None:
        if given is not None:
            raise InvalidArgument(
                "disk quotas are off on this server (the operator's MANYOYO_DISK_QUOTA): leave disk out"
            )
        return None
    if given is None:
        return None if default is None else min(default, ceiling)
    chosen = parse_memory(given, "disk")
    _check(
        "disk",
        chosen >= MIN_DISK,
        chosen <= ceiling,
        f"disk must be between {format_memory(MIN_DISK)} and {format_memory(ceiling)}; got {format_memory(chosen)}",
    )
    return chosen

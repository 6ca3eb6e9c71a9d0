"""Resource limits of a sandbox: parsing, defaults and ceilings (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from manyoyo_mcp.errors import InvalidArgument

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MIN_MEMORY = 128 * 1024**2
MEMORY_FORMS = "a byte count or a number with k, m, g or t (e.g. '512m', '2g')"


def parse_memory(value: str | int) -> int:
    """'512m' -> bytes. Units are binary (k = 1024), as Docker reads them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _MEMORY.match(str(value))
    if not match:
        raise InvalidArgument(f"memory {value!r} is not understood: use {MEMORY_FORMS}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


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


def resolve_limits(
    *,
    cpus: float | None,
    memory: str | int | None,
    pids: int | None,
    defaults: Limits,
    ceilings: Limits,
) -> Limits:
    """Apply defaults to what the agent left out; refuse what exceeds the operator's ceilings.

    A default above its ceiling (say 2 cpus on a 1-cpu host) is lowered to the ceiling.
    """
    chosen = Limits(
        cpus=min(defaults.cpus, ceilings.cpus) if cpus is None else cpus,
        memory_bytes=(min(defaults.memory_bytes, ceilings.memory_bytes) if memory is None else parse_memory(memory)),
        pids=min(defaults.pids, ceilings.pids) if pids is None else pids,
    )
    if not 0 < chosen.cpus <= ceilings.cpus:
        raise InvalidArgument(f"cpus must be more than 0 and at most {ceilings.cpus:g}; got {chosen.cpus:g}")
    if not MIN_MEMORY <= chosen.memory_bytes <= ceilings.memory_bytes:
        raise InvalidArgument(
            f"memory must be between {format_memory(MIN_MEMORY)} and "
            f"{format_memory(ceilings.memory_bytes)}; got {format_memory(chosen.memory_bytes)}"
        )
    if not 64 <= chosen.pids <= ceilings.pids:
        raise InvalidArgument(f"pids must be between 64 and {ceilings.pids}; got {chosen.pids}")
    return chosen

"""Retention: the log's files kept under a total size, the chain verifiable across what is left.

When a new file is due and the files would pass the cap, the oldest whole files go. Before they
go, a `dropped` record is appended to the chain saying which files, which records (first and last
seq), their period, their size, and the hash of the last record dropped: the first record left
links to that hash, so `verify` checks the chain from there and names what went. Nothing goes
without that record; a log whose first records are missing without one is broken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manyoyo_mcp.audit.files import first_line, last_line, log_files


@dataclass(frozen=True, slots=True)
class Drop:
    files: tuple[Path, ...]
    record: dict[str, Any]
    """The `dropped` record to chain before the files go."""


def plan_drop(directory: Path, room: int, cap: int) -> Drop | None:
    """The oldest files to drop so that the others and `room` more bytes fit in `cap`; None when
    they fit already."""
    files = log_files(directory)
    sizes = [path.stat().st_size for path in files]
    total, chosen = sum(sizes), 0
    while chosen < len(files) and total + room > cap:
        total -= sizes[chosen]
        chosen += 1
    if chosen == 0:
        return None
    dropped = files[:chosen]
    first = _record(first_line(dropped[0]))
    last = _record(last_line(dropped[-1]))
    record = {
        "event": "dropped",
        "files": [path.name for path in dropped],
        "bytes": sum(sizes[:chosen]),
        "first_seq": first.get("seq"),
        "last_seq": last.get("seq"),
        "last_hash": last.get("hash"),
        "from_ts": first.get("ts"),
        "to_ts": last.get("ts"),
        "reason": f"the log's files would pass MANYOYO_AUDIT_MAX_TOTAL_BYTES ({cap} bytes): the oldest went",
    }
    return Drop(tuple(dropped), record)


def _record(line: bytes | None) -> dict[str, Any]:
    try:
        found = json.loads(line or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def explained(first: dict[str, Any], drops: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The `dropped` record that accounts for the records before `first` (the first one left)."""
    for drop in reversed(drops):
        if drop.get("last_seq") == first.get("seq", 0) - 1 and drop.get("last_hash") == first.get("prev"):
            return drop
    return None

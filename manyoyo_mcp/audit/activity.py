"""When each sandbox was last used: the last tool call naming it, as the audit log records it.

A sandbox is idle while no tool call names it (exec, the nested tools, create_sandbox reusing it,
...); list_sandboxes and describe_policy name none, and the cleanup's own records are not use.
Only the files of the last `window` are read (their names carry their UTC day), so the cost
follows the window, not the log. Sandboxes are named per server scope and the log may be shared:
a name used in two scopes counts the calls of both (a sandbox is then kept longer, never less).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from manyoyo_mcp.audit.files import FILE_NAME, log_files

NOT_USE = frozenset({"gc"})


def last_calls(directory: Path, window: timedelta, now: datetime | None = None) -> dict[str, datetime]:
    """The time of the last call naming each sandbox, among the calls of the last `window`."""
    now = now or datetime.now(UTC)
    since = now - window
    first_day = since.strftime("%Y%m%d")
    found: dict[str, datetime] = {}
    for path in log_files(directory):
        match = FILE_NAME.fullmatch(path.name)
        if match is None or match.group(1) < first_day:
            continue
        with path.open("rb") as log:
            for raw in log:
                if b'"sandbox":"' not in raw:  # canonical JSON: a cheap test before parsing
                    continue
                _note(raw, since, found)
    return found


def _note(raw: bytes, since: datetime, found: dict[str, datetime]) -> None:
    try:
        record = json.loads(raw)
        name, when = record.get("sandbox"), datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return
    if record.get("event") not in ("call", "outcome") or record.get("tool") in NOT_USE or not isinstance(name, str):
        return
    if when >= since and when > found.get(name, since):
        found[name] = when

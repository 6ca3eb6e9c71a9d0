"""When each sandbox was last used, read from the audit log: calls naming it, within a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from manyoyo_mcp.audit.activity import last_calls
from manyoyo_mcp.audit.log import AuditLog, read_records


def stamped(directory: Path) -> dict[int, datetime]:
    return {
        r["seq"]: datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for _, _, r, _ in read_records(directory) if r
    }


def test_the_last_call_or_outcome_naming_a_sandbox_counts_and_the_cleanups_own_records_do_not(tmp_path):
    log = AuditLog(tmp_path, fsync=False)
    log.append({"event": "call", "tool": "exec", "sandbox": "a"})
    log.append({"event": "call", "tool": "create_sandbox", "sandbox": None})
    log.append({"event": "outcome", "tool": "create_sandbox", "sandbox": "b"})  # the name the server gave
    log.append({"event": "call", "tool": "list_sandboxes", "sandbox": None})
    log.append({"event": "call", "tool": "gc", "sandbox": "a"})  # the cleanup stopping it is not use
    log.append({"event": "decision", "tool": "exec", "sandbox": "a"})
    at = stamped(tmp_path)
    found = last_calls(tmp_path, timedelta(hours=1))
    assert found == {"a": at[1], "b": at[3]}


def test_calls_before_the_window_are_not_read(tmp_path):
    log = AuditLog(tmp_path, fsync=False)
    log.append({"event": "call", "tool": "exec", "sandbox": "a"})
    later = datetime.now(UTC) + timedelta(days=3)
    assert last_calls(tmp_path, timedelta(days=1), now=later) == {}
    assert last_calls(tmp_path, timedelta(days=4), now=later) == {"a": stamped(tmp_path)[1]}

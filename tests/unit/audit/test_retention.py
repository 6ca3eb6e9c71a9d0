"""The log under a total size: the oldest files go after a `dropped` record says what went, the
chain still verifies across what is left, and removing files without that record is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from manyoyo_mcp.audit.log import AuditLog, AuditUnavailable, check_chain, log_files, read_records, verify
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.audit.report import review
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy import Decision

FILE = 4096


def fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append({"event": "call", "call": f"c-{i}", "tool": "exec", "args": {"command": "x" * 300}})


def total(directory: Path) -> int:
    return sum(p.stat().st_size for p in log_files(directory))


def test_the_files_stay_under_the_cap_and_the_chain_verifies_past_what_went(tmp_path):
    log = AuditLog(tmp_path, max_bytes=FILE, max_total_bytes=3 * FILE, fsync=False)
    fill(log, 200)  # about 100 KB of records through a 12 KB cap
    assert total(tmp_path) <= 3 * FILE
    records = [r for _, _, r, _ in read_records(tmp_path)]
    drops = [r for r in records if r["event"] == "dropped"]
    assert drops and records[0]["seq"] > 1  # the oldest went
    checked = check_chain(tmp_path)
    assert checked.problem is None and checked.dropped_through == records[0]["seq"] - 1
    last = drops[-1]
    assert last["last_seq"] == records[0]["seq"] - 1 and last["last_hash"] == records[0]["prev"]
    assert set(last) >= {"files", "bytes", "first_seq", "from_ts", "to_ts", "reason"}


def test_every_record_dropped_is_accounted_for_by_a_dropped_record(tmp_path):
    log = AuditLog(tmp_path, max_bytes=FILE, max_total_bytes=3 * FILE, fsync=False)
    fill(log, 200)
    records = [r for _, _, r, _ in read_records(tmp_path)]
    gone = sorted(s for d in records if d["event"] == "dropped" for s in range(d["first_seq"], d["last_seq"] + 1))
    seen = [r["seq"] for r in records]
    # The drops still in the log account for a contiguous run ending where the log now starts
    # (a drop's own record may have gone with a later drop, which then names it).
    assert gone and gone[-1] == seen[0] - 1 and gone == list(range(gone[0], seen[0]))


def test_files_removed_without_a_dropped_record_break_the_chain(tmp_path):
    log = AuditLog(tmp_path, max_bytes=FILE, fsync=False)  # no cap: nothing is ever dropped by the log itself
    fill(log, 60)
    first = log_files(tmp_path)[0]
    first.unlink()
    _, problem = verify(tmp_path)
    assert problem is not None and "no 'dropped' record says they went" in problem.what


def test_a_forged_start_is_not_explained_by_an_old_dropped_record(tmp_path):
    log = AuditLog(tmp_path, max_bytes=FILE, max_total_bytes=3 * FILE, fsync=False)
    fill(log, 120)
    log_files(tmp_path)[0].unlink()  # one file more than the log dropped
    _, problem = verify(tmp_path)
    assert problem is not None and problem.line == 1


def test_keep_refuses_to_write_past_the_cap_and_drops_nothing(tmp_path):
    log = AuditLog(tmp_path, max_bytes=FILE, max_total_bytes=3 * FILE, retention="keep", fsync=False)
    with pytest.raises(AuditUnavailable, match="MANYOYO_AUDIT_RETENTION=keep"):
        fill(log, 200)
    assert verify(tmp_path)[1] is None and next(read_records(tmp_path))[2]["seq"] == 1
    assert total(tmp_path) <= 3 * FILE


def test_the_review_says_what_went_and_shows_the_drop_among_the_events(tmp_path):
    log = AuditLog(tmp_path, max_bytes=FILE, max_total_bytes=3 * FILE, fsync=False)
    fill(log, 200)
    seen = review(tmp_path)
    assert seen.summary.chain.intact and "went by retention" in seen.summary.chain.text()
    assert any(r.get("event") == "dropped" for r in seen.summary.events)


def test_a_copy_of_a_log_with_drops_verifies_as_it_is(tmp_path):
    log = AuditLog(tmp_path / "a", max_bytes=FILE, max_total_bytes=3 * FILE, fsync=False)
    fill(log, 100)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert check_chain(tmp_path / "b") == check_chain(tmp_path / "a")


class Disk(AuditLog):
    """A log whose disk has `free` bytes free."""

    free = 0

    def free_bytes(self) -> int | None:
        return self.free


def test_calls_are_refused_while_the_disk_is_below_the_reserve(tmp_path):
    settings = ServerSettings(scope="t", audit_dir=str(tmp_path), allowed_host_roots=("/srv",))
    log = Disk(tmp_path)
    recorder = Recorder(log, settings)
    log.free = settings.audit_min_free_bytes - 1
    refusal = recorder.disk_low()
    assert isinstance(refusal, Decision) and not refusal.allowed and refusal.rule == "audit.disk-low"
    assert "MANYOYO_AUDIT_MIN_FREE_BYTES" in refusal.reason
    log.free = settings.audit_min_free_bytes
    assert recorder.disk_low() is None


def test_a_real_directory_reports_its_free_space(tmp_path):
    free = AuditLog(tmp_path / "not-yet").free_bytes()
    assert free is not None and free > 0
    assert json.dumps(free)

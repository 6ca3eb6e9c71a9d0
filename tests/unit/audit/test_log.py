"""The audit log itself (no engine): the chain, tampering caught, rotation, concurrency, failing closed."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path

import pytest

from manyoyo_mcp.audit.log import GENESIS, AuditLog, AuditUnavailable, log_files, verify
from manyoyo_mcp.audit.recorder import Recorder
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy import Decision


def write(log: AuditLog, n: int, **extra: object) -> list[dict]:
    return [log.append({"event": "call", "call": f"c-{i}", "tool": "exec", **extra}) for i in range(n)]


def lines(directory: Path) -> list[str]:
    return [line for path in log_files(directory) for line in path.read_text().splitlines()]


def rewrite(directory: Path, new_lines: list[str]) -> None:
    (path,) = log_files(directory)
    path.write_text("".join(line + "\n" for line in new_lines))


def test_records_are_chained_in_order_and_verify(tmp_path):
    records = write(AuditLog(tmp_path), 5)
    assert records[0]["prev"] == GENESIS and [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    assert verify(tmp_path) == (5, None)


def test_an_edited_record_is_named(tmp_path):
    write(AuditLog(tmp_path), 5)
    edited = lines(tmp_path)
    record = json.loads(edited[2])
    record["tool"] = "list_sandboxes"  # a quiet, plausible edit
    edited[2] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    rewrite(tmp_path, edited)
    _, problem = verify(tmp_path)
    assert problem is not None and problem.line == 3 and problem.seq == 3 and "edited" in problem.what


def test_a_removed_record_is_named(tmp_path):
    write(AuditLog(tmp_path), 5)
    rewrite(tmp_path, [line for i, line in enumerate(lines(tmp_path)) if i != 1])
    _, problem = verify(tmp_path)
    assert problem is not None and problem.line == 2 and "seq 2 to 2 are missing" in problem.what


def test_reordered_records_are_named(tmp_path):
    write(AuditLog(tmp_path), 5)
    swapped = lines(tmp_path)
    swapped[1], swapped[3] = swapped[3], swapped[1]
    rewrite(tmp_path, swapped)
    _, problem = verify(tmp_path)
    assert problem is not None and problem.line == 2 and "seq 4 comes after seq 1" not in problem.what
    assert "missing" in problem.what  # seq 4 where 2 was due: 2 and 3 look removed
    swapped = lines(tmp_path)
    swapped[1], swapped[3] = swapped[3], swapped[1]  # back in order
    adjacent = swapped[:]
    adjacent[2], adjacent[3] = adjacent[3], adjacent[2]
    rewrite(tmp_path, adjacent)
    _, problem = verify(tmp_path)
    assert problem is not None and problem.line == 3


def test_a_torn_line_is_named(tmp_path):
    write(AuditLog(tmp_path), 3)
    torn = lines(tmp_path)
    torn[1] = torn[1][: len(torn[1]) // 2]
    rewrite(tmp_path, torn)
    _, problem = verify(tmp_path)
    assert problem is not None and problem.line == 2 and "not a whole audit record" in problem.what


def test_rotation_by_size_continues_the_chain_across_files(tmp_path):
    log = AuditLog(tmp_path, max_bytes=4096)
    records = write(log, 40, args={"command": "x" * 200})
    files = log_files(tmp_path)
    assert len(files) > 3 and all(f.stat().st_size <= 4096 for f in files)
    first_of_second = json.loads(files[1].read_text().splitlines()[0])
    last_of_first = json.loads(files[0].read_text().splitlines()[-1])
    assert first_of_second["prev"] == last_of_first["hash"]
    assert verify(tmp_path) == (40, None) and records[-1]["seq"] == 40


def test_a_new_day_starts_a_new_file_and_the_chain_continues(tmp_path):
    log = AuditLog(tmp_path)
    write(log, 3)
    (today,) = log_files(tmp_path)
    today.rename(tmp_path / "audit-20261128-001.jsonl")  # as if written yesterday
    write(log, 2)
    files = [f.name for f in log_files(tmp_path)]
    assert files == ["audit-20261128-001.jsonl", today.name] and verify(tmp_path) == (5, None)


def test_fifty_concurrent_writers_from_two_logs_leave_a_valid_chain(tmp_path):
    # Two AuditLog objects stand for two server processes sharing the directory (flock is per open file).
    logs = [AuditLog(tmp_path), AuditLog(tmp_path)]
    threads = [
        threading.Thread(target=write, args=(logs[i % 2], 1), kwargs={"args": {"n": i, "pad": "y" * 3000}})
        for i in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = lines(tmp_path)
    assert len(written) == 50 and all(json.loads(line)["hash"] for line in written)
    assert sorted(json.loads(line)["args"]["n"] for line in written) == list(range(50))
    assert verify(tmp_path) == (50, None)


def test_a_log_that_cannot_be_written_fails_closed_with_the_reason(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(AuditUnavailable, match=r"cannot be written.*nothing was done"):
        AuditLog(blocker / "audit").append({"event": "call"})


def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files os.fsync is called on, from now on (their names, in order)."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


@pytest.mark.anyio
async def test_a_call_is_synced_once_with_its_decision_before_it_acts(tmp_path, monkeypatch):
    recorder = Recorder(AuditLog(tmp_path), ServerSettings(scope="t", audit_dir=str(tmp_path)))
    synced = fsynced(monkeypatch)
    call = await recorder.arrive("exec", {"sandbox": "s", "command": "true"}, {"name": "c"})
    assert synced == []  # (in the page cache: kept if the server is killed, not yet if the machine goes)
    await call.decision(Decision(True, "tool.exec", "checks passed"))
    assert len(synced) == 1  # the arrival and the decision, on disk before the call acts
    await call.outcome("ok", result={"exit_code": 0})
    assert len(synced) == 1  # the outcome waits for the next sync
    await recorder.server_event("server-stop")
    assert len(synced) == 2
    assert [r["event"] for r in map(json.loads, lines(tmp_path))] == ["call", "decision", "outcome", "server-stop"]


def test_unsynced_records_go_to_disk_before_the_chain_moves_to_another_file(tmp_path, monkeypatch):
    log = AuditLog(tmp_path, max_bytes=400)
    synced = fsynced(monkeypatch)
    log.append({"event": "call", "call": "c-1", "pad": "x" * 250}, sync=False)
    assert synced == []
    first = log_files(tmp_path)[0].name
    log.append({"event": "outcome", "call": "c-1", "pad": "x" * 250}, sync=False)  # past max_bytes: a new file
    assert len(log_files(tmp_path)) == 2 and synced == [first]
    log.append({"event": "decision", "call": "c-2", "pad": "x" * 250}, sync=True)  # a third file, synced
    assert synced == [path.name for path in log_files(tmp_path)]  # and each file it left on the way
    assert verify(tmp_path) == (3, None)

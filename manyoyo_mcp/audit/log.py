"""The audit log: JSON Lines, append-only, hash-chained across rotated files, synced before acting.

Each record carries `prev` (the hash of the record before it, across files and server
processes) and `hash` (SHA-256 of its own canonical JSON without `hash`). Writers take an
exclusive lock on the directory's lock file, read the chain's head from the current file,
append one whole line with a single write: concurrent calls and several servers sharing a
directory never interleave or tear lines. A record written is in the kernel's page cache at once
(kept if the writer is killed); `sync=True` also fsyncs the file, and with it the records before
(kept if the machine goes down): the recorder syncs the decision, which follows a call's arrival
and precedes anything it does, so every call is on disk before it acts, with one fsync a call;
its outcome waits for the next sync (the next call, a server event, a rotation). If a record
cannot be written the caller gets `AuditUnavailable` and must not act.

Files are `audit-YYYYMMDD-NNN.jsonl` (UTC day, then a counter when `max_bytes` is reached), so
sorting the names gives the chain's order. Past `max_total_bytes` the oldest files go, after a
`dropped` record in the chain says what went (retention.py), or, when the operator keeps
everything, writing stops and every call is refused. Below `min_free_bytes` of free disk the
recorder refuses calls while the reserve still lets it record that.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from manyoyo_mcp.audit.files import FILE_NAME, last_line, log_files
from manyoyo_mcp.audit.retention import explained, plan_drop
from manyoyo_mcp.errors import AuditUnavailable

GENESIS = "0" * 64
LOCK_NAME = ".audit.lock"
KEY_NAME = ".fingerprint-key"
Retention = Literal["drop-oldest", "keep"]
log = logging.getLogger(__name__)


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends records to the chain in `directory`. Thread-safe and safe across processes."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        fsync: bool = True,
        max_total_bytes: int | None = None,
        retention: Retention = "drop-oldest",
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        # At least two files' worth: the file being written and the one before it.
        self.max_total_bytes = None if max_total_bytes is None else max(max_total_bytes, 2 * max_bytes)
        self.retention = retention
        self._lock = threading.Lock()

    def free_bytes(self) -> int | None:
        """Free space on the log's filesystem (for unprivileged writers); None if it cannot be read."""
        try:
            stat = os.statvfs(self.directory if self.directory.is_dir() else self.directory.parent)
        except OSError:
            return None
        return stat.f_bavail * stat.f_frsize

    def fingerprint_key(self) -> bytes:
        """The key of redaction fingerprints, made once per log directory (readable by its owner only)."""
        path = self.directory / KEY_NAME
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(secrets.token_bytes(32))
            return path.read_bytes()
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def append(self, record: dict[str, Any], *, sync: bool = True) -> dict[str, Any]:
        """Chain and write one record, and fsync its file if `sync` (and the log syncs at all);
        returns it as written (with seq, prev and hash). Raises AuditUnavailable."""
        try:
            with self._lock, self._directory_lock():
                current, prev, seq = self._head()
                written, line = _chained(record, prev, seq)
                target = self._target(current, len(line))
                if target != current and current is not None and self.fsync:
                    _sync(current)  # its last records go to disk before the chain goes on elsewhere
                if target != current and self.max_total_bytes is not None:
                    dropped = self._make_room(prev, seq, target)
                    if dropped is not None:
                        written, line = _chained(record, dropped["hash"], dropped["seq"])
                self._write(target, line, sync)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return written

    def _write(self, target: Path, line: bytes, sync: bool) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write ({written} of {len(line)} bytes)")
            if self.fsync and sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _make_room(self, prev: str, seq: int, target: Path) -> dict[str, Any] | None:
        """Before a new file: drop the oldest files past the total cap, after chaining a `dropped`
        record into `target` (or, when the operator keeps everything, refuse to write)."""
        assert self.max_total_bytes is not None
        drop = plan_drop(self.directory, self.max_bytes, self.max_total_bytes)
        if drop is None:
            return None
        if self.retention == "keep":
            raise AuditUnavailable(
                f"the audit log in {self.directory} reached MANYOYO_AUDIT_MAX_TOTAL_BYTES ({self.max_total_bytes} "
                "bytes) and the operator keeps every file (MANYOYO_AUDIT_RETENTION=keep); nothing was done. The "
                "operator must archive old files, raise the cap, or let the oldest files go (drop-oldest)."
            )
        written, line = _chained(drop.record, prev, seq)
        self._write(target, line, True)  # (on disk before the files it names go)
        for path in drop.files:
            path.unlink(missing_ok=True)
        log.warning(
            "audit log: dropped %s (%s bytes) to stay under its cap",
            ", ".join(drop.record["files"]),
            drop.record["bytes"],
        )
        return written

    def _unavailable(self, exc: OSError) -> AuditUnavailable:
        log.error("audit log in %s cannot be written: %s", self.directory, exc)
        return AuditUnavailable(
            f"the audit log in {self.directory} cannot be written ({exc.strerror or exc}); nothing was done. "
            "The operator must make it writable (space, permissions) or point MANYOYO_AUDIT_DIR elsewhere."
        )

    @contextlib.contextmanager
    def _directory_lock(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _head(self) -> tuple[Path | None, str, int]:
        """(current file, hash of the last record, its seq); an empty log starts at GENESIS, 0."""
        for path in reversed(log_files(self.directory)):
            last = last_line(path)
            if last is not None:
                record = json.loads(last)
                return path, record["hash"], int(record["seq"])
        return None, GENESIS, 0

    def _target(self, current: Path | None, size: int) -> Path:
        today = datetime.now(UTC).strftime("%Y%m%d")
        if current is not None:
            match = FILE_NAME.fullmatch(current.name)
            assert match is not None
            if match.group(1) == today and current.stat().st_size + size <= self.max_bytes:
                return current
            if match.group(1) == today:
                return self.directory / f"audit-{today}-{int(match.group(2)) + 1:03d}.jsonl"
        return self.directory / f"audit-{today}-001.jsonl"


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chained(record: dict[str, Any], prev: str, seq: int) -> tuple[dict[str, Any], bytes]:
    """`record` as the chain's next (after `seq`, linked to `prev`), and its line."""
    chained = {"seq": seq + 1, "ts": now_iso(), **record, "prev": prev}
    chained["hash"] = record_hash(chained)
    return chained, canonical(chained) + b"\n"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"{where}: {self.what}"


def read_records(directory: Path) -> Iterator[tuple[str, int, dict[str, Any] | None, str]]:
    """(file name, line number, record or None if unreadable, raw line) for every line in order."""
    for path in log_files(directory):
        with path.open("rb") as log:
            for number, raw in enumerate(log, 1):
                text = raw.decode("utf-8", errors="replace").rstrip("\n")
                try:
                    record = json.loads(text)
                except ValueError:
                    record = None
                yield path.name, number, record if isinstance(record, dict) else None, text


@dataclass(frozen=True, slots=True)
class ChainCheck:
    records: int
    problem: Problem | None
    dropped_through: int | None = None
    """Records up to this seq went by retention, as a `dropped` record in the chain says."""


def verify(directory: Path) -> tuple[int, Problem | None]:
    """(records checked, the first problem): an edited, removed, inserted or reordered record breaks the chain."""
    check = check_chain(directory)
    return check.records, check.problem


def check_chain(directory: Path) -> ChainCheck:
    """The chain checked from its first record; a log that starts after records dropped by retention
    is whole when a `dropped` record in it names them and the hash its first record links to."""
    prev, seq, count = GENESIS, 0, 0
    start: tuple[str, int, dict[str, Any]] | None = None
    drops: list[dict[str, Any]] = []
    for name, number, record, _ in read_records(directory):
        if record is None or not {"seq", "prev", "hash"} <= set(record):
            return ChainCheck(count, Problem(name, number, None, "not a whole audit record (torn or edited line)"))
        count += 1
        rseq = record["seq"]
        if record_hash(record) != record["hash"]:
            return ChainCheck(count, Problem(name, number, rseq, "edited: its content does not match its hash"))
        if count == 1 and record["prev"] != GENESIS and isinstance(rseq, int) and rseq > 1:
            start, prev, seq = (name, number, record), record["prev"], rseq - 1  # judged at the end
        problem = _link(record, prev, seq)
        if problem is not None:
            return ChainCheck(count, Problem(name, number, rseq, problem))
        if record.get("event") == "dropped":
            drops.append(record)
        prev, seq = record["hash"], rseq
    if start is None:
        return ChainCheck(count, None)
    drop = explained(start[2], drops)
    if drop is None:
        first = start[2]["seq"]
        what = f"records removed before it: seq 1 to {first - 1} are missing and no 'dropped' record says they went"
        return ChainCheck(count, Problem(start[0], start[1], first, what))
    return ChainCheck(count, None, drop["last_seq"])


def _link(record: dict[str, Any], prev: str, seq: int) -> str | None:
    rseq = record["seq"]
    if record["prev"] != prev:
        if isinstance(rseq, int) and rseq <= seq:
            return f"reordered or duplicated: seq {rseq} comes after seq {seq}"
        if isinstance(rseq, int) and rseq > seq + 1:
            return f"records removed before it: seq {seq + 1} to {rseq - 1} are missing"
        return "the chain is broken here: its prev does not match the record before it"
    if rseq != seq + 1:
        return f"seq {rseq} where {seq + 1} was expected"
    return None

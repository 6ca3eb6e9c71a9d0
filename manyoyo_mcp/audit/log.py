"""The audit log: JSON Lines, append-only, hash-chained across rotated files, synced per record.

Each record carries `prev` (the hash of the record before it, across files and server
processes) and `hash` (SHA-256 of its own canonical JSON without `hash`). Writers take an
exclusive lock on the directory's lock file, read the chain's head from the current file,
append one whole line with a single write, and fsync before returning: concurrent calls and
several servers sharing a directory never interleave or tear lines, and a record written is a
record kept. If a record cannot be written the caller gets `AuditUnavailable` and must not act.

Files are `audit-YYYYMMDD-NNN.jsonl` (UTC day, then a counter when `max_bytes` is reached), so
sorting the names gives the chain's order.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from manyoyo_mcp.errors import AuditUnavailable

GENESIS = "0" * 64
FILE_NAME = re.compile(r"audit-(\d{8})-(\d{3,})\.jsonl")
LOCK_NAME = ".audit.lock"
KEY_NAME = ".fingerprint-key"
TAIL_READ = 64 * 1024


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def log_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if FILE_NAME.fullmatch(p.name))


class AuditLog:
    """Appends records to the chain in `directory`. Thread-safe and safe across processes."""

    def __init__(self, directory: Path, *, max_bytes: int = 10 * 1024 * 1024, fsync: bool = True) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._lock = threading.Lock()

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

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and sync one record; returns it as written (with seq, prev and hash)."""
        try:
            with self._lock, self._directory_lock():
                current, prev, seq = self._head()
                record = {"seq": seq + 1, "ts": now_iso(), **record, "prev": prev}
                record["hash"] = record_hash(record)
                line = canonical(record) + b"\n"
                target = self._target(current, len(line))
                fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(f"short write ({written} of {len(line)} bytes)")
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return record

    def _unavailable(self, exc: OSError) -> AuditUnavailable:
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
            last = _last_line(path)
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


def _last_line(path: Path) -> bytes | None:
    with path.open("rb") as log:
        log.seek(0, os.SEEK_END)
        end = log.tell()
        start = max(0, end - TAIL_READ)
        while True:
            log.seek(start)
            lines = log.read(end - start).rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or start == 0:
                return lines[-1] or None
            start = max(0, start - TAIL_READ)


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


def verify(directory: Path) -> tuple[int, Problem | None]:
    """(records checked, the first problem): an edited, removed, inserted or reordered record breaks the chain."""
    prev, seq, count = GENESIS, 0, 0
    for name, number, record, _ in read_records(directory):
        if record is None or not {"seq", "prev", "hash"} <= set(record):
            return count, Problem(name, number, None, "not a whole audit record (torn or edited line)")
        count += 1
        rseq = record["seq"]
        if record_hash(record) != record["hash"]:
            return count, Problem(name, number, rseq, "edited: its content does not match its hash")
        if record["prev"] != prev:
            if isinstance(rseq, int) and rseq <= seq:
                what = f"reordered or duplicated: seq {rseq} comes after seq {seq}"
            elif isinstance(rseq, int) and rseq > seq + 1:
                what = f"records removed before it: seq {seq + 1} to {rseq - 1} are missing"
            else:
                what = "the chain is broken here: its prev does not match the record before it"
            return count, Problem(name, number, rseq, what)
        if rseq != seq + 1:
            return count, Problem(name, number, rseq, f"seq {rseq} where {seq + 1} was expected")
        prev, seq = record["hash"], rseq
    return count, None

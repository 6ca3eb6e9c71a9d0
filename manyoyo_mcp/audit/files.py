"""The log's files: `audit-YYYYMMDD-NNN.jsonl` (UTC day, then a counter), sorted in chain order."""

from __future__ import annotations

import os
import re
from pathlib import Path

FILE_NAME = re.compile(r"audit-(\d{8})-(\d{3,})\.jsonl")
TAIL_READ = 64 * 1024


def log_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if FILE_NAME.fullmatch(p.name))


def first_line(path: Path) -> bytes | None:
    with path.open("rb") as log:
        return log.readline().rstrip(b"\n") or None


def last_line(path: Path) -> bytes | None:
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

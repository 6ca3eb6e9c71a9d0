"""Reading a job's output files: a range, the head and the tail, a search.

Offsets count bytes of the file. Text is UTF-8 (invalid bytes replaced); a range is cut so that no
character is split at its ends, and `next` says where the following range starts. A file past the
per-job cap keeps its head and its tail: the middle is punched out (a hole: its blocks are freed,
offsets stay valid) and a read there skips to what is kept (`skipped` counts what it passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
from dataclasses import dataclass

FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
BLOCK = 4096
LINE_CHARS = 300
LINE_BYTES = 4 * LINE_CHARS + 48  # grep's "line:offset:" prefix, then the text
_libc = ctypes.CDLL(None, use_errno=True)


def utf8_end(data: bytes) -> int:
    """The length of `data` without an incomplete character at its end."""
    size = len(data)
    for back in range(1, min(4, size) + 1):
        byte = data[size - back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the character's start
            continue
        need = 1 if byte < 0x80 else 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return size if back >= need else size - back
    return size


def utf8_start(data: bytes) -> int:
    """How many bytes at the start of `data` belong to a character that began before it."""
    skip = 0
    while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
        skip += 1
    return skip


@dataclass(frozen=True, slots=True)
class Stream:
    """One output file of a job, as read now: its path, size and the punched range (if any)."""

    path: str
    size: int
    cut: tuple[int, int] | None = None

    def read(self, offset: int, limit: int, final: bool = False) -> dict[str, object]:
        """At most `limit` bytes from `offset` (clamped to the file): {offset, next, text, skipped}.
        `final`: the file will not grow, so a character cut at its very end is not waited for."""
        offset = max(0, min(offset, self.size))
        skipped = 0
        if self.cut and self.cut[0] <= offset < self.cut[1]:
            skipped, offset = self.cut[1] - offset, self.cut[1]
        end = min(self.size, offset + max(0, limit))
        if self.cut and offset < self.cut[0] < end:
            end = self.cut[0]
        data = self._bytes(offset, end)
        start = utf8_start(data) if offset > 0 else 0
        stop = len(data) if (final and end == self.size) else utf8_end(data)
        stop = max(stop, start)
        return {
            "offset": offset + start,
            "next": offset + stop,
            "text": data[start:stop].decode("utf-8", "replace"),
            "skipped": skipped,
        }

    def ends(self, head: int, tail: int) -> dict[str, object]:
        """The first `head` and the last `tail` bytes (the whole file when it fits in both)."""
        if self.size <= head + tail:
            whole = self.read(0, self.size, final=True)
            return {
                "size": self.size,
                "head": whole["text"],
                "head_end": whole["next"],
                "tail": "",
                "tail_start": self.size,
            }
        first = self.read(0, head)
        tail_from = self.size - tail
        if self.cut and self.cut[0] < tail_from < self.cut[1]:
            tail_from = self.cut[1]
        last = self.read(tail_from, tail, final=True)
        return {
            "size": self.size,
            "head": first["text"],
            "head_end": first["next"],
            "tail": last["text"],
            "tail_start": last["offset"],
        }

    def _bytes(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(start)
                return handle.read(end - start)
        except OSError:
            return b""


def punch(path: str, keep_head: int, keep_tail: int, cut: tuple[int, int] | None) -> tuple[int, int] | None:
    """Keep a growing file within keep_head + keep_tail bytes of disk: punch out its middle (block
    aligned). Returns the punched range (grown), or `cut` unchanged when nothing needs punching."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return cut
    start = (keep_head // BLOCK) * BLOCK
    end = ((size - keep_tail) // BLOCK) * BLOCK
    if end - start < BLOCK or (cut is not None and end <= cut[1]):
        return cut
    begin = cut[1] if cut else start
    fd = os.open(path, os.O_WRONLY)
    try:
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        if _libc.fallocate(fd, mode, ctypes.c_long(begin), ctypes.c_long(end - begin)) != 0:
            return cut  # the filesystem cannot punch holes: the disk quota is the bound then
    finally:
        os.close(fd)
    return (start, end)


async def search(
    path: str, pattern: str, *, fixed: bool, ignore_case: bool, limit: int, timeout_s: float
) -> dict[str, object]:
    """Lines of the file matching `pattern` (grep's extended regular expressions, or a fixed
    string): at most `limit`, each {line, offset, text} (text cut at LINE_CHARS characters)."""
    argv = [
        "grep",
        "-a",
        "-n",
        "-b",
        "-F" if fixed else "-E",
        *(["-i"] if ignore_case else []),
        "-e",
        pattern,
        "--",
        path,
    ]
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    matches: list[dict[str, object]] = []
    more = False
    try:
        async with asyncio.timeout(timeout_s):
            more = await _collect(process, matches, limit)
    except TimeoutError:
        more = True
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        stderr = (await process.stderr.read(2000)).decode("utf-8", "replace") if process.stderr else ""
        await process.wait()
    if not matches and stderr.strip() and process.returncode != 1:  # 1: no match; 2: a bad pattern
        raise ValueError(f"grep refused the pattern: {stderr.strip() or 'no reason given'}")
    return {"matches": matches, "more": more}


async def _collect(process: asyncio.subprocess.Process, matches: list[dict[str, object]], limit: int) -> bool:
    """grep's lines into `matches`, each kept to its first bytes; True if there were more than `limit`."""
    assert process.stdout is not None
    current = bytearray()
    while chunk := await process.stdout.read(65536):
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            piece = chunk[start : newline if newline >= 0 else len(chunk)]
            current += piece[: max(0, LINE_BYTES - len(current))]
            if newline < 0:
                break
            if len(matches) == limit:
                return True
            matches.append(_match(bytes(current)))
            current.clear()
            start = newline + 1
    if current and len(matches) < limit:
        matches.append(_match(bytes(current)))
    return False


def _match(line: bytes) -> dict[str, object]:
    number, _, rest = line.partition(b":")
    offset, _, text = rest.partition(b":")
    try:
        return {"line": int(number), "offset": int(offset), "text": text.decode("utf-8", "replace")[:LINE_CHARS]}
    except ValueError:
        return {"line": 0, "offset": 0, "text": line.decode("utf-8", "replace")[:LINE_CHARS]}

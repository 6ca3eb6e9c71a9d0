"""Bounded capture of a command's output: keeps the head and the tail, counts the rest."""

from __future__ import annotations

import threading
from dataclasses import dataclass


class HeadTailBuffer:
    """Holds at most `cap` bytes of a stream, whatever its length: the first cap/2 and the last cap/2."""

    def __init__(self, cap: int) -> None:
        self._head_cap = cap // 2
        self._tail_cap = cap - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            # Trim lazily (at twice the cap) so that small writes do not copy the tail each time.
            if len(self._tail) > 2 * self._tail_cap:
                del self._tail[: len(self._tail) - self._tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > self._head_cap + self._tail_cap

    def text(self) -> str:
        tail = bytes(self._tail[-self._tail_cap :]) if self._tail_cap else b""
        if not self.truncated:
            return (bytes(self._head) + tail).decode("utf-8", errors="replace")
        dropped = self.total - len(self._head) - len(tail)
        marker = f"\n[... {dropped} bytes truncated by manyoyo-mcp; head and tail kept ...]\n"
        return self._head.decode("utf-8", errors="replace") + marker + tail.decode("utf-8", errors="replace")

    def ends(self) -> StreamEnds:
        """What the buffer holds, as the first and last bytes of the stream (for `fit`)."""
        head = bytes(self._head)
        tail = bytes(self._tail[-self._tail_cap :]) if self._tail_cap else b""
        if not self.truncated:
            whole = (head + tail).decode("utf-8", errors="replace")
            return StreamEnds(self.total, whole, self.total)
        return StreamEnds(
            self.total,
            head.decode("utf-8", errors="ignore"),
            len(head),
            tail.decode("utf-8", errors="ignore"),
            self.total - len(tail),
        )


class OutputCapture:
    """stdout and stderr of one command, written by a reader thread and read by the event loop.

    Besides the bounded buffers it keeps the most recent unreported bytes (bounded too), which the
    server sends to the client as progress while the command runs.
    """

    RECENT_CAP = 8 * 1024

    def __init__(self, cap: int) -> None:
        self.stdout = HeadTailBuffer(cap)
        self.stderr = HeadTailBuffer(cap)
        self._recent = bytearray()
        self._lock = threading.Lock()

    def write(self, stream: int, data: bytes) -> None:
        with self._lock:
            (self.stderr if stream == 2 else self.stdout).write(data)
            self._recent += data
            if len(self._recent) > 2 * self.RECENT_CAP:
                del self._recent[: len(self._recent) - self.RECENT_CAP]

    def take_recent(self) -> str:
        """The output written since the last call (its last RECENT_CAP bytes), as text."""
        with self._lock:
            recent = bytes(self._recent[-self.RECENT_CAP :])
            self._recent.clear()
        return recent.decode("utf-8", errors="replace")

    @property
    def total(self) -> int:
        return self.stdout.total + self.stderr.total

    @property
    def truncated(self) -> bool:
        return self.stdout.truncated or self.stderr.truncated


# -- results sized for the client -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamEnds:
    """What is known of one output stream: its size and its first and last bytes (as text); `head`
    covers bytes [0, head_end), `tail` bytes [tail_start, size). `path`: where it is kept whole."""

    size: int
    head: str
    head_end: int
    tail: str = ""
    tail_start: int = -1
    path: str | None = None

    @property
    def complete(self) -> bool:
        return self.head_end >= self.size or self.tail_start <= self.head_end


def allot(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Bytes each stream may show within `budget` together: all of it if they fit, else an even
    share, a stream needing less than its share giving the rest to the others."""
    if sum(sizes.values()) <= budget:
        return dict(sizes)
    shares: dict[str, int] = {}
    left, waiting = budget, sorted(sizes, key=sizes.__getitem__)
    while waiting:
        share = left // len(waiting)
        name = waiting.pop(0)
        shares[name] = min(sizes[name], share)
        left -= shares[name]
    return shares


def fit(streams: dict[str, StreamEnds], budget: int) -> tuple[dict[str, str], bool]:
    """Each stream's text within `budget` bytes together: whole when it fits, else its head and tail
    with a marker saying what was cut and where the whole output is. (texts, truncated)."""
    shares = allot({name: ends.size for name, ends in streams.items()}, budget)
    texts: dict[str, str] = {}
    truncated = False
    for name, ends in streams.items():
        share = shares[name]
        if ends.size <= share and ends.complete:
            texts[name] = ends.head + ends.tail if ends.tail_start > ends.head_end else ends.head
            continue
        truncated = True
        head = ends.head.encode()[: share // 2].decode("utf-8", "ignore")
        tail_bytes = ends.tail.encode() if ends.tail else ends.head.encode()[len(head.encode()) :]
        tail = tail_bytes[len(tail_bytes) - (share - share // 2) :].decode("utf-8", "ignore") if share else ""
        cut = ends.size - len(head.encode()) - len(tail.encode())
        texts[name] = head + cut_marker(cut, ends) + tail
    return texts, truncated


def cut_marker(cut: int, ends: StreamEnds) -> str:
    where = (
        f"the whole output ({ends.size} bytes) is {ends.path} in the sandbox: read_output pages and searches it"
        if ends.path
        else "the whole output was not kept"
    )
    return f"\n[... {cut} bytes truncated by manyoyo-mcp; head and tail kept; {where} ...]\n"

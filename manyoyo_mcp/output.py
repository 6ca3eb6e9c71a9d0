"""Bounded capture of a command's output: keeps the head and the tail, counts the rest."""

from __future__ import annotations

import threading


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

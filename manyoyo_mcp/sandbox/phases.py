"""Where an operation spends its time, phase by phase: a sandbox's creation (one line on stderr
per sandbox, so that a slow create says which part was slow; scripts/bench prints them), and the
server's start (server/startup.py builds on it).
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class Phases:
    """The phases of one operation, in order: each `done(name)` closes the phase since the last
    one. `since`: a time.monotonic() reading the first phase starts at."""

    def __init__(self, since: float) -> None:
        self.phases: list[tuple[str, float]] = []
        self._last = since

    def done(self, phase: str) -> None:
        now = time.monotonic()
        self.phases.append((phase, now - self._last))
        self._last = now

    def seconds(self) -> dict[str, float]:
        """Each phase's seconds by name (a phase done twice: the sum)."""
        found: dict[str, float] = {}
        for name, seconds in self.phases:
            found[name] = found.get(name, 0.0) + seconds
        return found

    def total_ms(self) -> float:
        return sum(seconds for _, seconds in self.phases) * 1000

    def listed(self) -> str:
        """Each phase and its milliseconds, e.g. 'volume and network 76 ms, container created 11 ms'."""
        return ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in self.phases)

    def log_done(self, what: str) -> None:
        """Log `what` took the phases' total, and each phase, in milliseconds."""
        log.info("%s in %.0f ms: %s", what, self.total_ms(), self.listed())

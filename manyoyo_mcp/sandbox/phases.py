"""Where a sandbox's creation spends its time: each phase of `create_sandbox`, logged on stderr
(one line per sandbox), so that a slow create says which part was slow (scripts/bench prints them).
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

    def report(self, what: str) -> None:
        """Log `what` took the phases' total, and each phase, in milliseconds."""
        total = sum(seconds for _, seconds in self.phases)
        parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in self.phases)
        log.info("%s in %.0f ms: %s", what, total * 1000, parts)

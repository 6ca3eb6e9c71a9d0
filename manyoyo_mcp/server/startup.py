"""Where the time before the server answers goes: each phase of `serve`, logged (one line on
stderr) once it is ready to read its first message.

Clients wait for this before they can list the tools (and some, like Claude Code in headless
mode, may go on without them), so scripts/bench measures it against a bare SDK server.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from manyoyo_mcp.sandbox.phases import Phases

log = logging.getLogger("manyoyo_mcp.startup")


def process_age() -> float | None:
    """Seconds since this process started (from /proc, 10 ms resolution); None where unknown."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks after boot
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Startup(Phases):
    """The phases of one start, in order: each `done(name)` closes the phase since the last one.
    `logged=False` (a server built in a test): no phase since the process started, no log line."""

    def __init__(self, *, logged: bool = True) -> None:
        super().__init__(since=time.monotonic())
        self.logged = logged
        self.serving = "manyoyo-mcp serving"
        """What the report says is ready (serve names the transport, scope and image)."""
        age = process_age() if logged else None
        if age is not None:
            self.phases.append(("interpreter and command line", age))

    def report(self) -> None:
        """Log what is serving, with the phases so far (called once ready to read messages)."""
        if self.logged:
            log.info("%s; ready to read messages after %.0f ms: %s", self.serving, self.total_ms(), self.listed())

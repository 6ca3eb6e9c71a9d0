"""A build's events (docker's and podman's) as a readable log: its lines, steps, the output of the
step running, the image id, the error (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?:Step|STEP) (\d+)/(\d+) ?: ?(.*)$")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})$")


@dataclass(slots=True)
class BuildLog:
    """The build's events as a readable log: steps, the output of the current step, the image id."""

    lines: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    step_output: list[str] = field(default_factory=list)
    image_id: str | None = None
    error: str | None = None
    _partial: str = ""
    _reported: int = 0

    def add(self, event: dict[str, Any]) -> None:
        if "error" in event:
            self.error = _ANSI.sub("", str(event["error"])).strip()
            self._line(f"ERROR: {self.error}")
            return
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = str(aux["ID"])
        text = event.get("stream") or event.get("status")
        if not text:
            return
        # docker sends a step's title and its newline as separate events: join them into lines.
        text = self._partial + _ANSI.sub("", str(text))
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._line(line)

    def finish(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""

    def _line(self, line: str) -> None:
        self.lines.append(line)
        step = _STEP.match(line)
        if step:
            self.steps.append(line)
            self.step_output = []
            return
        built = _BUILT.match(line)
        if built and self.image_id is None:
            self.image_id = built.group(1)
        self.step_output.append(line)

    def new_lines(self) -> list[str]:
        fresh = self.lines[self._reported :]
        self._reported = len(self.lines)
        return fresh

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

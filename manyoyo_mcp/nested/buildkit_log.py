"""A BuildKit build's progress (`docker buildx build --progress=rawjson`) as a readable log (pure).

buildx writes one JSON object per status update on stderr (indented, so an object spans lines):
`vertexes` (the build graph's operations: name, started, completed, cached, error), `logs` (their
output, base64), `statuses` and `warnings`. After them, on failure, plain text: the Dockerfile's
lines around the failing instruction and `ERROR: failed to solve: ...`. This renders them the way
`--progress=plain` reads (`#3 [2/4] RUN make`, `#3 0.52 output`, `#3 DONE`), and keeps what a result
needs: the Dockerfile's steps in order, the step that failed with its output, and the error.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from manyoyo_mcp.nested.build_log import LogLines

# A step of the Dockerfile, as BuildKit names its vertex: "[2/4] RUN ...", "[build 1/3] FROM ...".
_STEP = re.compile(r"^\[(?:[^\]\s]+ )?\d+/\d+\] ")
# Pretty-printed objects end with a closing brace at the start of a line.
_OBJECT_END = "\n}"
MAX_PENDING = 8 * 1024 * 1024
OUTPUT_LINES = 200


@dataclass(slots=True)
class _Vertex:
    name: str
    number: int = 0
    """Its number in the log, given when it starts (as --progress=plain numbers them)."""
    started: bool = False
    done: bool = False
    output: list[str] = field(default_factory=list)
    partial: str = ""


@dataclass(slots=True)
class BuildKitLog(LogLines):
    """BuildKit's progress as log lines, with its steps, the failed step and the error."""

    failed_step: str | None = None
    failure_output: list[str] = field(default_factory=list)
    _vertexes: dict[str, _Vertex] = field(default_factory=dict)
    _pending: str = ""
    _cancelled: bool = False
    _started: int = 0

    def feed(self, text: str) -> None:
        """More of buildx's stderr: every complete object, and every complete line of plain text."""
        self._pending += text
        while self._pending.strip():
            if self._pending.lstrip().startswith("{"):
                if not self._object():
                    return  # the rest of the object is still on its way
                continue
            line, newline, rest = self._pending.lstrip("\r\n").partition("\n")
            if not newline:
                return
            self._text(line)  # plain text keeps its indentation
            self._pending = rest

    def _object(self) -> bool:
        """Take the status object the pending text starts with; False while it is incomplete. buildx
        indents its objects, so a brace at the start of a line closes one: text that does not decode
        by then (or past MAX_PENDING) only looked like an object, and its first line is plain text."""
        self._pending = pending = self._pending.lstrip()
        if _OBJECT_END not in pending and len(pending) < MAX_PENDING:
            return False
        try:
            status, end = json.JSONDecoder().raw_decode(pending)
        except ValueError:
            status, end = None, 0
        if isinstance(status, dict):
            self._pending = pending[end:]
            self.add(status)
        else:
            line, _, self._pending = pending.partition("\n")
            self._text(line)
        return True

    def finish(self) -> None:
        """The end of the stream: what is left is plain text; a step that failed is settled."""
        if self._pending.strip():
            for line in self._pending.strip().splitlines():
                self._text(line)
        self._pending = ""
        for vertex in self._vertexes.values():
            if vertex.partial:
                self._output(vertex, vertex.partial)
                vertex.partial = ""

    def add(self, status: dict[str, Any]) -> None:
        """One status update: vertexes, their output and warnings, in the order buildx renders them."""
        for item in status.get("vertexes") or ():
            self._vertex(item)
        for item in status.get("logs") or ():
            vertex = self._vertexes.get(str(item.get("vertex")))
            if vertex is None:
                continue
            text = vertex.partial + _decoded(item.get("data")).replace("\r\n", "\n")
            *complete, vertex.partial = text.split("\n")
            for line in complete:
                self._output(vertex, line)
        for item in status.get("warnings") or ():
            self._line(self.mask(f"WARNING: {_decoded(item.get('short')).strip()}"))

    def _vertex(self, item: dict[str, Any]) -> None:
        digest = str(item.get("digest"))
        vertex = self._vertexes.get(digest)
        if vertex is None:
            vertex = self._vertexes[digest] = _Vertex(self.mask(str(item.get("name", ""))))
        if item.get("started") and not vertex.started:
            vertex.started = True
            self._started += 1
            vertex.number = self._started
            self._line(f"#{vertex.number} {vertex.name}")
            if _STEP.match(vertex.name):
                self.steps.append(vertex.name)
        if vertex.done or not (item.get("completed") or item.get("error")):
            return
        vertex.done = True
        if item.get("error"):
            error = self.mask(str(item["error"]))
            self._line(f"#{vertex.number} ERROR: {error}")
            # The first failure is the cause; the steps running beside it are then cancelled.
            if self.failed_step is None or (self._cancelled and "cancel" not in error):
                self.failed_step, self.failure_output = vertex.name, vertex.output
                self._cancelled = "cancel" in error
                self.error = error
        else:
            self._line(f"#{vertex.number} {'CACHED' if item.get('cached') else 'DONE'}")

    def _output(self, vertex: _Vertex, line: str) -> None:
        line = self.mask(line)
        vertex.output.append(line)
        del vertex.output[:-OUTPUT_LINES]
        self.lines.append(f"#{vertex.number} {line}")

    def _text(self, line: str) -> None:
        line = self.mask(line.rstrip())
        self._line(line)
        if line.startswith("ERROR: "):  # buildx's own summary, after the progress
            self.error = line.removeprefix("ERROR: ")

    def _line(self, line: str) -> None:
        """A line already masked."""
        self.lines.append(line)


def _decoded(data: Any) -> str:
    try:
        return base64.b64decode(str(data or "")).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""

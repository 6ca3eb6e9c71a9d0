"""A build's events (docker's classic builder and podman's, through the engine API) as a readable
log: its lines, steps, the output of the step running, the image id, the error; and what to do
about a failure that names a missing feature (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?:Step|STEP) (\d+)/(\d+) ?: ?(.*)$")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})$")


def _no_mask(text: str) -> str:
    return text


@dataclass(slots=True)
class LogLines:
    """What every build's log keeps: its lines (masked), its steps, the image id and the error."""

    mask: Callable[[str], str] = _no_mask
    """Applied to every line before it is kept (secret values a build printed)."""
    lines: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    image_id: str | None = None
    error: str | None = None
    _reported: int = 0

    def new_lines(self) -> list[str]:
        """The lines added since the last call (streamed as progress)."""
        fresh = self.lines[self._reported :]
        self._reported = len(self.lines)
        return fresh

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass(slots=True)
class BuildLog(LogLines):
    """The build's events as a readable log: steps, the output of the current step, the image id."""

    step_output: list[str] = field(default_factory=list)
    _partial: str = ""

    def add(self, event: dict[str, Any]) -> None:
        if "error" in event:
            self.error = self.mask(_ANSI.sub("", str(event["error"])).strip())
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
        line = self.mask(line)
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

    @property
    def failed_step(self) -> str | None:
        """The step a failed build stopped at: the last one it started."""
        return self.steps[-1] if self.steps else None

    @property
    def failure_output(self) -> list[str]:
        return self.step_output


# What a failure that names a missing feature means here, and how to get the feature.
_BASE_IMAGE = re.compile(
    r"failed to resolve source metadata for (\S+?): |pull access denied for (\S+?),|"
    r"initializing source docker://(\S+?): |repository (\S+) not found"
)


def failure_hint(error: str, sock: bool = False) -> str | None:
    """What to do about a build error that names a feature the builder lacks or an image the sandbox
    lacks (`sock`: the builder is the host engine's); None for other failures (the Dockerfile's own)."""
    if "requires BuildKit" in error:
        if sock:
            return (
                "sock mode builds with the host engine's classic builder, which has no RUN --mount: use BuildKit in "
                "a dind sandbox (create_sandbox without mode), or run `docker buildx build` with exec"
            )
        return (
            "use BuildKit: leave `builder` out (BuildKit is the default in docker sandboxes) or pass builder='buildkit'"
        )
    if "docker.io/docker/dockerfile" in error:
        return (
            "the Dockerfile's `# syntax=` line makes BuildKit fetch a Dockerfile frontend from a registry, which this "
            "sandbox cannot reach: remove the line; the built-in frontend already reads RUN --mount (cache, secret), "
            "heredocs and COPY --link"
        )
    if match := _BASE_IMAGE.search(error):
        image = next(group for group in match.groups() if group)
        return (
            f"the base image {image} is not in the sandbox: copy it from the host with load_image, build it first with "
            "build_image, or pull it with exec if the sandbox reaches a registry"
        )
    return None

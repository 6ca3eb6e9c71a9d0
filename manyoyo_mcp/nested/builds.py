"""build_image: a Dockerfile built by a sandbox's own engine from a context inside the sandbox.

The context directory is resolved inside the sandbox, read through the host engine's archive
API, re-packed (see engine.build_context) and sent to the nested engine's build API. Steps
stream as progress; the whole log is written into the sandbox afterwards, so it stays readable
with `exec`. A timeout or a cancelled call stops the build (docker cancels a build whose client
goes away; podman does not, so the build's RUN processes are killed).
"""

from __future__ import annotations

import io
import posixpath
import re
import secrets
import tarfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from manyoyo_mcp import policy
from manyoyo_mcp.engine import Engine, NestedEngine
from manyoyo_mcp.engine.build_context import dockerignore_patterns, repack_context
from manyoyo_mcp.errors import BuildFailed, BuildTimedOut, InvalidArgument, ManyoyoError, PolicyDenied
from manyoyo_mcp.models import BuildImageResult
from manyoyo_mcp.nested import specs as nested_specs
from manyoyo_mcp.nested.connect import open_engine
from manyoyo_mcp.policy import allowlists
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread, supervise

BUILD_LOG_DIR = "/var/log/manyoyo-builds"
INLINE_DOCKERFILE = ".manyoyo-inline.Dockerfile"
TAIL_LINES = 30
STEP_OUTPUT_LINES = 60
_INSTRUCTIONS = re.compile(r"^\s*(#|FROM\s|ARG\s)", re.IGNORECASE)
_STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?:Step|STEP) (\d+)/(\d+) ?: ?(.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]{12,64})$")

# Resolve the context inside the sandbox; print it, then the .dockerignore it holds (if any).
_RESOLVE_CONTEXT = r"""
p=$(realpath -e -- "$1" 2>/dev/null) || { echo "missing"; exit 3; }
[ -d "$p" ] || { echo "notdir"; exit 4; }
printf '%s\n' "$p"
cat -- "$p/.dockerignore" 2>/dev/null || true
"""

# podman does not stop a build whose client went away: kill every process under a build step's
# runtime (buildah-oci-runtime) in the sandbox.
_KILL_PODMAN_BUILD_STEPS = r"""
ps -eo pid=,ppid=,args= | awk '
  { pid[NR] = $1; ppid[NR] = $2; if ($3 == "buildah-oci-runtime") mark[$1] = 1 }
  END {
    do { changed = 0
         for (i = 1; i <= NR; i++) if (!(pid[i] in mark) && (ppid[i] in mark)) { mark[pid[i]] = 1; changed = 1 }
    } while (changed)
    for (p in mark) print p
  }' | xargs -r kill -KILL
"""

ProgressCallback = Callable[[int, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BuildRequest:
    context: str = "/workspace"
    dockerfile: str | None = None
    tag: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    timeout_s: float = 600


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


def dockerfile_source(dockerfile: str | None, context: str) -> tuple[str, bytes | None]:
    """(path of the Dockerfile inside the context, inline text or None)."""
    if dockerfile is None:
        return "Dockerfile", None
    nested_specs.check_no_nul("dockerfile", dockerfile)
    if "\n" in dockerfile.strip() or _INSTRUCTIONS.match(dockerfile):
        return INLINE_DOCKERFILE, dockerfile.encode()
    path = nested_specs.sandbox_path("dockerfile", dockerfile, context)
    relative = posixpath.relpath(path, context)
    if relative == "." or relative.startswith("../"):
        raise InvalidArgument(
            f"dockerfile {dockerfile!r} is not inside the context {context}: give a path inside the context "
            "directory, or the Dockerfile's text itself"
        )
    return relative, None


async def build_image(
    engine: Engine,
    sandbox: Sandbox,
    request: BuildRequest,
    max_context_bytes: int,
    on_progress: ProgressCallback | None = None,
) -> BuildImageResult:
    tag = nested_specs.image_tag(request.tag) if request.tag else None
    build_args = nested_specs.build_args(dict(request.build_args))
    target = nested_specs.build_target(request.target) if request.target else None
    context = nested_specs.sandbox_path("context", request.context)
    name = sandbox.name
    kind = sandbox.engine

    code, out, _ = await in_thread(engine.exec_run, sandbox.id, ["sh", "-c", _RESOLVE_CONTEXT, "resolve", context])
    if code != 0:
        problem = "does not exist" if out.strip() == "missing" else "is not a directory"
        raise InvalidArgument(
            f"context {request.context!r} {problem} inside sandbox {name!r}: give a directory inside the sandbox "
            "(relative paths start at /workspace, where the host workspace is mounted)"
        )
    resolved, _, ignore_text = out.partition("\n")
    _refuse_protected(request.context, resolved)
    dockerfile, inline = dockerfile_source(request.dockerfile, resolved)
    if inline is None and not await _context_has(engine, sandbox.id, resolved, dockerfile):
        raise InvalidArgument(
            f"no Dockerfile at {posixpath.join(resolved, dockerfile)} inside sandbox {name!r}: write one there, "
            "pass `dockerfile` (a path inside the context), or pass the Dockerfile's text as `dockerfile`"
        )

    started = time.monotonic()
    archive = await in_thread(engine.read_archive, sandbox.id, resolved)
    context_tar, _ = await in_thread(
        repack_context,
        archive,
        ignore_patterns=dockerignore_patterns(ignore_text),
        keep={dockerfile, ".dockerignore"},
        extra_files={INLINE_DOCKERFILE: inline} if inline is not None else {},
        max_bytes=max_context_bytes,
    )

    nested: NestedEngine = await in_thread(open_engine, engine, sandbox)
    log = BuildLog()
    stopping = False

    async def stop_build() -> None:
        nonlocal stopping
        stopping = True
        await in_thread(nested.abort)
        if kind == "podman":
            await in_thread(engine.exec_run, sandbox.id, ["sh", "-c", _KILL_PODMAN_BUILD_STEPS])

    async def report() -> None:
        if on_progress is not None and (fresh := log.new_lines()):
            await on_progress(len(log.steps), "\n".join(fresh))

    try:
        stream = await in_thread(
            nested.build,
            context_tar,
            dockerfile=dockerfile,
            tag=tag,
            build_args=build_args,
            target=target,
            no_cache=request.no_cache,
        )

        def read_events() -> None:
            try:
                for event in stream.events():
                    log.add(event)
            except ManyoyoError:
                if not stopping:  # a stream cut by a stop ends in an error; the stop explains it
                    raise

        timed_out = await supervise(
            read_events,
            timeout_s=request.timeout_s,
            stop=stop_build,
            report=report if on_progress is not None else None,
        )
        log.finish()
        await report()
        duration = round(time.monotonic() - started, 3)
        log_path = await _save_log(engine, sandbox.id, log, timed_out, duration)

        if timed_out:
            raise BuildTimedOut(
                f"the build ran past timeout_s={request.timeout_s:g} and was stopped at "
                f"{_current_step(log)}. Full log: {log_path} inside the sandbox (read it with exec)."
            )
        if log.error is not None or log.image_id is None:
            output = "\n".join(log.step_output[-STEP_OUTPUT_LINES:])
            raise BuildFailed(
                f"the build failed at {_current_step(log)}: {log.error or 'no image was produced'}\n"
                f"Output of that step:\n{output}\nFull log: {log_path} inside the sandbox (read it with exec)."
            )
        image = await in_thread(nested.image, log.image_id)
    finally:
        context_tar.close()
        await in_thread(nested.close)

    return BuildImageResult(
        sandbox=name,
        engine=kind,  # type: ignore[arg-type]
        image_id=image.id if image else log.image_id,
        tags=list(image.tags) if image else ([tag] if tag else []),
        size_bytes=image.size if image else 0,
        duration_s=duration,
        steps=len(log.steps),
        log_tail="\n".join(log.lines[-TAIL_LINES:]),
        log_path=log_path,
    )


def _refuse_protected(given: str, path: str) -> None:
    """Before and after resolving symlinks: the sandbox's root and kernel/engine folders are no context."""
    protected = allowlists.forbidden_sandbox_path(path)
    if protected:
        decision = policy.context_denial(given, path, protected)
        raise PolicyDenied(decision.rule, decision.reason)


def _current_step(log: BuildLog) -> str:
    return f"step {log.steps[-1]!r}" if log.steps else "the start (before any step)"


async def _context_has(engine: Engine, container_id: str, context: str, relative: str) -> bool:
    code, _, _ = await in_thread(engine.exec_run, container_id, ["test", "-f", posixpath.join(context, relative)])
    return code == 0


async def _save_log(engine: Engine, container_id: str, log: BuildLog, timed_out: bool, duration: float) -> str:
    """Write the full log into the sandbox; its path there."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"build-{stamp}-{secrets.token_hex(3)}.log"
    outcome = "timed out" if timed_out else ("failed" if log.error else "succeeded")
    data = (log.text() + f"# manyoyo-mcp: build {outcome} in {duration:g}s\n").encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo(posixpath.basename(BUILD_LOG_DIR))
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        info = tarfile.TarInfo(f"{posixpath.basename(BUILD_LOG_DIR)}/{name}")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    await in_thread(engine.write_archive, container_id, posixpath.dirname(BUILD_LOG_DIR), buffer.getvalue())
    return f"{BUILD_LOG_DIR}/{name}"

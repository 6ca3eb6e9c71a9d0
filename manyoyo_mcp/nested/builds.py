"""build_image: a Dockerfile built by a sandbox's own engine from a context inside the sandbox.

Read top-down, the way a build goes: the request's fields parsed; the context resolved inside the
sandbox (symlinks followed) and judged again once resolved; the Dockerfile found (a path in the
context, or inline text); the context read through the host engine's archive API and re-packed
(engine/build_context.py); the build sent to the nested engine's build API, its steps streamed
as progress (build_log.py) under a deadline; the whole log written into the sandbox, so it stays
readable with `exec`. A timeout or a cancelled call stops the build (docker cancels a build whose
client goes away; podman does not, so the build's RUN processes are killed).
"""

from __future__ import annotations

import logging
import posixpath
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import IO

import anyio

from manyoyo_mcp import policy
from manyoyo_mcp.engine import BuildStream, Engine, NestedEngine
from manyoyo_mcp.engine.build_context import dockerignore_patterns, repack_context
from manyoyo_mcp.errors import BuildFailed, BuildTimedOut, InvalidArgument, ManyoyoError, PolicyDenied
from manyoyo_mcp.models import BuildImageResult
from manyoyo_mcp.nested import specs
from manyoyo_mcp.nested.build_log import BuildLog
from manyoyo_mcp.nested.connect import open_engine
from manyoyo_mcp.policy import allowlists
from manyoyo_mcp.sandbox.execution import EXEC_MARKER, kill_exec, run_inside
from manyoyo_mcp.sandbox.inside import ROOT, Entry
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import ProgressCallback, in_abortable_thread, in_thread, supervise

logger = logging.getLogger(__name__)

BUILD_LOG_DIR = "/var/log/manyoyo-builds"
INLINE_DOCKERFILE = ".manyoyo-inline.Dockerfile"
TAIL_LINES = 30
STEP_OUTPUT_LINES = 60
_INSTRUCTIONS = re.compile(r"^\s*(#|FROM\s|ARG\s)", re.IGNORECASE)

# Resolve the context inside the sandbox; print it, then the .dockerignore it holds (if any).
_RESOLVE_CONTEXT = r"""
p=$(realpath -e -- "$1" 2>/dev/null) || { echo "missing"; exit 3; }
[ -d "$p" ] || { echo "notdir"; exit 4; }
printf '%s\n' "$p"
cat -- "$p/.dockerignore" 2>/dev/null || true
"""

# podman does not stop a build whose client went away: kill every process under a build step's
# runtime in the sandbox (buildah-oci-runtime, or buildah-chroot-runtime with chroot isolation).
_KILL_PODMAN_BUILD_STEPS = r"""
ps -eo pid=,ppid=,args= | awk '
  { pid[NR] = $1; ppid[NR] = $2; if ($3 ~ /^buildah-(oci|chroot)-runtime$/) mark[$1] = 1 }
  END {
    do { changed = 0
         for (i = 1; i <= NR; i++) if (!(pid[i] in mark) && (ppid[i] in mark)) { mark[pid[i]] = 1; changed = 1 }
    } while (changed)
    for (p in mark) print p
  }' | xargs -r kill -KILL
"""


@dataclass(frozen=True, slots=True)
class BuildRequest:
    context: str = "/workspace"
    dockerfile: str | None = None
    tag: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    timeout_s: float = 600


@dataclass(frozen=True, slots=True)
class _Context:
    path: str
    """The context directory inside the sandbox, resolved."""
    dockerfile: str
    """The Dockerfile's path inside the context."""
    inline: bytes | None
    """The Dockerfile's text when it was given inline."""
    ignore: list[str]
    """The .dockerignore's patterns."""


async def build_image(
    engine: Engine,
    sandbox: Sandbox,
    entry: Entry,
    request: BuildRequest,
    max_context_bytes: int,
    on_progress: ProgressCallback | None = None,
) -> BuildImageResult:
    """Build `request` with the running `sandbox`'s own engine.

    `max_context_bytes` caps the context sent (after .dockerignore); `on_progress` receives
    (steps so far, new log lines) while the build runs; `request.timeout_s` is in seconds.
    Returns the image's id, tags and size in bytes, the duration in seconds, the step count, the
    log's last lines and the full log's path inside the sandbox. Raises InvalidArgument (a
    malformed tag, build arg or target; a missing context or Dockerfile; a context over the cap),
    PolicyDenied (build.context-protected-path, once resolved), BuildFailed (naming the failing
    step, with its output) and BuildTimedOut.
    """
    tag = specs.image_tag(request.tag) if request.tag else None
    build_args = specs.build_args(dict(request.build_args))
    target = specs.build_target(request.target) if request.target else None
    started = time.monotonic()
    nested: NestedEngine = await in_thread(open_engine, engine, sandbox)
    context_tar: IO[bytes] | None = None
    phase = "resolving its context"
    try:
        # Every phase counts against timeout_s: resolving and reading the context, sending it.
        with anyio.move_on_after(request.timeout_s) as preparing:
            context = await _resolve_context(engine, sandbox, entry, request)
            phase = "reading its context"
            context_tar = await _pack_context(engine, sandbox, entry, context, max_context_bytes)
            phase = "sending its context to the sandbox's engine"
            send = partial(nested.build, context_tar, dockerfile=context.dockerfile, tag=tag, build_args=build_args,
                           target=target, no_cache=request.no_cache)  # fmt: skip
            stream = await in_abortable_thread(send, abort=nested.abort)
        if preparing.cancelled_caught:
            await _stop_podman_steps(engine, sandbox, entry)
            raise BuildTimedOut(
                f"the build ran past timeout_s={request.timeout_s:g} before its first step, while {phase}, and "
                "was stopped; nothing was built. Make the context smaller (a .dockerignore), or call again with "
                "a larger timeout_s"
            )
        remaining = max(request.timeout_s - (time.monotonic() - started), 0.001)
        log, timed_out = await _follow_build(engine, nested, sandbox, entry, stream, remaining, on_progress)
        duration = round(time.monotonic() - started, 3)
        log_path = await _save_log(engine, sandbox.id, entry, log, timed_out, duration)
        _raise_if_failed(log, timed_out, request.timeout_s, log_path)
        image = await in_thread(nested.image, log.image_id)
    finally:
        if context_tar is not None:
            context_tar.close()
        with anyio.CancelScope(shield=True):
            await in_thread(nested.close)
    return BuildImageResult(
        sandbox=sandbox.name,
        engine=sandbox.engine,  # type: ignore[arg-type]
        image_id=image.id if image else str(log.image_id),
        tags=list(image.tags) if image else ([tag] if tag else []),
        size_bytes=image.size if image else 0,
        duration_s=duration,
        steps=len(log.steps),
        log_tail="\n".join(log.lines[-TAIL_LINES:]),
        log_path=log_path,
    )


async def _resolve_context(engine: Engine, sandbox: Sandbox, entry: Entry, request: BuildRequest) -> _Context:
    """The context as the sandbox resolves it (the policy judged it as given; here once resolved),
    its .dockerignore, and where its Dockerfile is."""
    given = specs.sandbox_path("context", request.context)
    code, out, _ = await run_inside(engine, sandbox.id, entry, ["sh", "-c", _RESOLVE_CONTEXT, "resolve", given])
    if code != 0:
        problem = "does not exist" if out.strip() == "missing" else "is not a directory"
        raise InvalidArgument(
            f"context {request.context!r} {problem} inside sandbox {sandbox.name!r}: give a directory inside the "
            "sandbox (relative paths start at /workspace, where the host workspace is mounted)"
        )
    resolved, _, ignore_text = out.partition("\n")
    protected = allowlists.forbidden_sandbox_path(resolved)
    if protected:  # a symlink led there
        decision = policy.context_denial(request.context, resolved, protected)
        raise PolicyDenied(decision.rule, decision.reason)
    dockerfile, inline = dockerfile_source(request.dockerfile, resolved)
    if inline is None:
        found, _, _ = await run_inside(engine, sandbox.id, entry, ["test", "-f", posixpath.join(resolved, dockerfile)])
        if found != 0:
            raise InvalidArgument(
                f"no Dockerfile at {posixpath.join(resolved, dockerfile)} inside sandbox {sandbox.name!r}: write one "
                "there, pass `dockerfile` (a path inside the context), or pass the Dockerfile's text as `dockerfile`"
            )
    return _Context(resolved, dockerfile, inline, dockerignore_patterns(ignore_text))


def dockerfile_source(dockerfile: str | None, context: str) -> tuple[str, bytes | None]:
    """(path of the Dockerfile inside the context, inline text or None)."""
    if dockerfile is None:
        return "Dockerfile", None
    specs.check_no_nul("dockerfile", dockerfile)
    if "\n" in dockerfile.strip() or _INSTRUCTIONS.match(dockerfile):
        return INLINE_DOCKERFILE, dockerfile.encode()
    path = specs.sandbox_path("dockerfile", dockerfile, context)
    relative = posixpath.relpath(path, context)
    if relative == "." or relative.startswith("../"):
        raise InvalidArgument(
            f"dockerfile {dockerfile!r} is not inside the context {context}: give a path inside the context "
            "directory, or the Dockerfile's text itself"
        )
    return relative, None


async def _pack_context(engine: Engine, sandbox: Sandbox, entry: Entry, context: _Context, max_bytes: int) -> IO[bytes]:
    """The context as `tar` inside the sandbox reads it, re-packed for the builder (never unpacked
    on the server's disk), .dockerignore applied, an inline Dockerfile added. However the packing
    ends (done, over the cap, timed out, cancelled), the tar's exec is closed: nothing is left
    holding it; ended early, its processes are killed (a tar stuck reading would linger)."""
    parent, name = posixpath.split(context.path.rstrip("/") or "/")
    argv = ["tar", "-C", parent or "/", "-cf", "-", "--", name or "."]
    marker = secrets.token_hex(8)
    command = entry.command(argv, user=ROOT, env={EXEC_MARKER: marker})
    stream = await in_thread(engine.exec_start, sandbox.id, command.argv, command.workdir, command.env)
    done = False
    errors = bytearray()

    def stdout() -> Iterator[bytes]:
        for kind, data in stream.chunks():
            if kind == 1:
                yield data
            elif len(errors) < 4096:
                errors.extend(data)

    try:
        packed, _ = await in_thread(
            repack_context,
            stdout(),
            ignore_patterns=context.ignore,
            keep={context.dockerfile, ".dockerignore"},
            extra_files={INLINE_DOCKERFILE: context.inline} if context.inline is not None else {},
            max_bytes=max_bytes,
        )
        done = True
    finally:
        with anyio.CancelScope(shield=True):
            await in_thread(stream.close)
            if not done:
                await kill_exec(engine, sandbox.id, marker)
    if errors:
        logger.warning("reading the build context in %s: %s", sandbox.name, errors.decode(errors="replace").strip())
    return packed


async def _follow_build(
    engine: Engine,
    nested: NestedEngine,
    sandbox: Sandbox,
    entry: Entry,
    stream: BuildStream,
    timeout_s: float,
    on_progress: ProgressCallback | None,
) -> tuple[BuildLog, bool]:
    """Read the build's events into a log, reporting new lines; stop it at the deadline (or when
    the call is cancelled). (the log, whether it timed out)."""
    log = BuildLog()
    stopping = False

    async def stop_build() -> None:
        nonlocal stopping
        stopping = True
        await in_thread(nested.abort)
        await _stop_podman_steps(engine, sandbox, entry)

    async def report() -> None:
        if on_progress is not None and (fresh := log.new_lines()):
            await on_progress(len(log.steps), "\n".join(fresh))

    def read_events() -> None:
        try:
            for event in stream.events():
                log.add(event)
        except ManyoyoError:
            if not stopping:  # a stream cut by a stop ends in an error; the stop explains it
                raise

    timed_out = await supervise(
        read_events, timeout_s=timeout_s, stop=stop_build, report=report if on_progress is not None else None
    )
    log.finish()
    await report()
    return log, timed_out


async def _stop_podman_steps(engine: Engine, sandbox: Sandbox, entry: Entry) -> None:
    """podman goes on with a build whose client went away: kill its steps' processes."""
    if sandbox.engine == "podman":
        with anyio.CancelScope(shield=True):
            await run_inside(engine, sandbox.id, entry, ["sh", "-c", _KILL_PODMAN_BUILD_STEPS])


def _raise_if_failed(log: BuildLog, timed_out: bool, timeout_s: float, log_path: str) -> None:
    step = f"step {log.steps[-1]!r}" if log.steps else "the start (before any step)"
    if timed_out:
        raise BuildTimedOut(
            f"the build ran past timeout_s={timeout_s:g} and was stopped at {step}. "
            f"Full log: {log_path} inside the sandbox (read it with exec)."
        )
    if log.error is not None or log.image_id is None:
        output = "\n".join(log.step_output[-STEP_OUTPUT_LINES:])
        raise BuildFailed(
            f"the build failed at {step}: {log.error or 'no image was produced'}\n"
            f"Output of that step:\n{output}\nFull log: {log_path} inside the sandbox (read it with exec)."
        )


async def _save_log(
    engine: Engine, container_id: str, entry: Entry, log: BuildLog, timed_out: bool, duration: float
) -> str:
    """Write the full log into the sandbox (through its own shell, fed on stdin); its path there."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = f"{BUILD_LOG_DIR}/build-{stamp}-{secrets.token_hex(3)}.log"
    outcome = "timed out" if timed_out else ("failed" if log.error else "succeeded")
    data = (log.text() + f"# manyoyo-mcp: build {outcome} in {duration:g}s\n").encode()
    write = ["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "save-log", path]
    code, _, err = await run_inside(engine, container_id, entry, write, stdin=data)
    if code != 0:
        logger.warning("could not save the build log in the sandbox: %s", err.strip())
    return path

"""build_image: a Dockerfile built by a sandbox's own engine from a context inside the sandbox.

Read top-down, the way a build goes: the request's fields parsed and its builder chosen (BuildKit
on docker, the default as with the Docker CLI; docker's classic builder when asked, and in sock
mode; buildah on podman); the context resolved inside the sandbox (symlinks followed) and judged
again once resolved; the Dockerfile found (a path in the context, or inline text); secret files
resolved, judged and read (build_secrets.py); the context read through the host engine's archive
API and re-packed (engine/build_context.py); the build run by BuildKit's CLI in the sandbox
(buildkit.py) or the engine API's builder (build_api.py), its steps streamed as progress under a
deadline; the whole log written into the sandbox, so it stays readable with `exec`.
"""

from __future__ import annotations

import logging
import posixpath
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

import anyio

from manyoyo_mcp import policy
from manyoyo_mcp.engine.types import NestedBuildSpec
from manyoyo_mcp.errors import BuildFailed, BuildTimedOut, InvalidArgument, PolicyDenied
from manyoyo_mcp.models import BuildImageResult
from manyoyo_mcp.nested import build_secrets, specs
from manyoyo_mcp.nested.build_api import build_through_api
from manyoyo_mcp.nested.build_log import BuildLog, failure_hint
from manyoyo_mcp.nested.build_secrets import Masking
from manyoyo_mcp.nested.buildkit import run_buildkit
from manyoyo_mcp.nested.buildkit_log import BuildKitLog
from manyoyo_mcp.nested.connect import opened_engine
from manyoyo_mcp.policy import allowlists
from manyoyo_mcp.sandbox.execution import run_inside
from manyoyo_mcp.sandbox.inside import ROOT, Entry
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import ProgressCallback, in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

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


@dataclass(frozen=True, slots=True)
class BuildRequest:
    context: str = "/workspace"
    dockerfile: str | None = None
    tag: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    timeout_s: float = 600
    secrets: dict[str, str] = field(default_factory=dict)
    """id -> a file inside the sandbox (RUN --mount=type=secret,id=...)."""
    builder: str | None = None
    """buildkit or classic (docker sandboxes); None: the engine's default."""


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
    masking: Masking,
    on_progress: ProgressCallback | None = None,
) -> BuildImageResult:
    """Build `request` with the running `sandbox`'s own engine.

    `max_context_bytes` caps the context sent (after .dockerignore); `on_progress` receives
    (steps so far, new log lines) while the build runs; `request.timeout_s` is in seconds;
    `masking` learns the secrets' values, and masks them in the log. Returns the builder, the
    image's id, tags and size in bytes, the duration in seconds, the step count, the log's last
    lines and the full log's path inside the sandbox. Raises InvalidArgument (a malformed tag,
    build arg, target or secret; a builder the engine lacks; a missing context, Dockerfile or
    secret file; a context over the cap), PolicyDenied (build.context-protected-path and
    build.secret-protected-path, once resolved), BuildFailed (naming the failing step, with its
    output, and how to get a missing feature) and BuildTimedOut.
    """
    tag = specs.image_tag(request.tag) if request.tag else None
    build_args = specs.build_args(dict(request.build_args))
    target = specs.build_target(request.target) if request.target else None
    builder = choose_builder(sandbox, request.builder, bool(request.secrets))
    paths = build_secrets.secret_paths(dict(request.secrets))
    context = await _resolve_context(engine, sandbox, entry, request)
    found = await build_secrets.read_secrets(engine, sandbox.id, entry, paths, sandbox.name)
    mask = _masker(masking, found)
    started = time.monotonic()
    in_context = {posixpath.relpath(s.path, context.path) for s in found if s.path.startswith(context.path + "/")}
    carried = {f".manyoyo-secret-{secrets.token_hex(8)}": s for s in found} if builder == "buildah" else {}
    context_tar = await _pack_context(
        engine, sandbox, entry, context, max_context_bytes, {n: s.value for n, s in carried.items()}, in_context
    )
    log: BuildLog | BuildKitLog
    try:
        if builder == "buildkit":
            options = NestedBuildSpec(
                context.dockerfile, tag, build_args, target, request.no_cache, {s.id: s.path for s in found}
            )
            log = BuildKitLog(mask=mask)
            ran = await run_buildkit(
                engine, sandbox.id, entry, context_tar, options, request.timeout_s, log, on_progress
            )
            timed_out = ran.timed_out
        else:
            api = NestedBuildSpec(
                context.dockerfile, tag, build_args, target, request.no_cache, {s.id: n for n, s in carried.items()}
            )
            log = BuildLog(mask=mask)
            timed_out = await build_through_api(
                engine, sandbox, entry, context_tar, api, request.timeout_s, log, on_progress
            )
    finally:
        context_tar.close()
    duration = round(time.monotonic() - started, 3)
    log_path = await _save_log(engine, sandbox.id, entry, log, timed_out, duration)
    _raise_if_failed(log, timed_out, request.timeout_s, log_path, sandbox.is_sock)
    async with opened_engine(engine, sandbox) as nested:
        image = await in_thread(nested.image, log.image_id)
    return BuildImageResult(
        sandbox=sandbox.name,
        engine=sandbox.engine,  # type: ignore[arg-type]
        builder=builder,  # type: ignore[arg-type]
        image_id=image.id if image else str(log.image_id),
        tags=list(image.tags) if image else ([tag] if tag else []),
        size_bytes=image.size if image else 0,
        duration_s=duration,
        steps=len(log.steps),
        log_tail="\n".join(log.lines[-TAIL_LINES:]),
        log_path=log_path,
    )


def choose_builder(sandbox: Sandbox, wanted: str | None, has_secrets: bool) -> str:
    """The builder a build runs with: buildah on podman, BuildKit on docker unless `wanted` is the
    classic builder (sock mode: the host engine's classic builder only). InvalidArgument for a builder
    the sandbox's engine lacks, and for secrets on the classic builder."""
    if sandbox.engine == "podman":
        if wanted is not None:
            raise InvalidArgument(
                f"builder={wanted!r} is docker's: podman sandboxes build with buildah, which runs RUN --mount "
                "(cache, secret), build args, targets and secrets too; leave `builder` out"
            )
        return "buildah"
    if sandbox.is_sock and (wanted == "buildkit" or has_secrets):
        raise InvalidArgument(
            "sock mode builds through the host engine's API with its classic builder (no RUN --mount, no secrets): "
            "use a dind sandbox (create_sandbox without mode) for BuildKit, or run `docker buildx build` with exec"
        )
    chosen = wanted or ("classic" if sandbox.is_sock else "buildkit")
    if chosen == "classic" and has_secrets:
        raise InvalidArgument(
            "secrets need BuildKit (RUN --mount=type=secret): leave `builder` out (BuildKit is the default in docker "
            "sandboxes) or pass builder='buildkit'"
        )
    return chosen


def _masker(masking: Masking, found: list[build_secrets.BuildSecret]) -> Callable[[str], str]:
    """What masks the secrets' values in the log (nothing to mask: the text as it is)."""
    values = build_secrets.secret_values(found)
    if not values:
        return lambda text: text
    masking.remember(values)
    return lambda text: str(masking.mask(text))


async def _resolve_context(engine: Engine, sandbox: Sandbox, entry: Entry, request: BuildRequest) -> _Context:
    """The context as the sandbox resolves it (the policy judged it as given; here once resolved),
    its .dockerignore, and where its Dockerfile is."""
    from manyoyo_mcp.engine.build_context import dockerignore_patterns  # imports docker: loaded by the first build

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


async def _pack_context(
    engine: Engine,
    sandbox: Sandbox,
    entry: Entry,
    context: _Context,
    max_bytes: int,
    extra: dict[str, bytes],
    exclude: set[str],
) -> IO[bytes]:
    """The context as `tar` inside the sandbox reads it, re-packed for the builder (never unpacked
    on the server's disk), .dockerignore applied, `exclude`d paths (secret files in the context)
    left out, an inline Dockerfile and the `extra` files added. However the packing ends (done,
    over the cap, cancelled), the tar's exec is closed: nothing is left holding it."""
    from manyoyo_mcp.engine.build_context import repack_context  # imports docker: loaded by the first build

    parent, name = posixpath.split(context.path.rstrip("/") or "/")
    argv = ["tar", "-C", parent or "/", "-cf", "-", "--", name or "."]
    command = entry.command(argv, user=ROOT, env={})
    stream = await in_thread(engine.exec_start, sandbox.id, command.argv, command.workdir, command.env)
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
            extra_files={**extra, **({INLINE_DOCKERFILE: context.inline} if context.inline is not None else {})},
            max_bytes=max_bytes,
            exclude=frozenset(exclude),
        )
    finally:
        with anyio.CancelScope(shield=True):
            await in_thread(stream.close)
    if errors:
        logger.warning("reading the build context in %s: %s", sandbox.name, errors.decode(errors="replace").strip())
    return packed


def _raise_if_failed(log: BuildLog | BuildKitLog, timed_out: bool, timeout_s: float, log_path: str, sock: bool) -> None:
    step = f"step {log.failed_step!r}" if log.failed_step else "the start (before any step)"
    if timed_out:
        step = f"step {log.steps[-1]!r}" if log.steps else step
        raise BuildTimedOut(
            f"the build ran past timeout_s={timeout_s:g} and was stopped at {step}. "
            f"Full log: {log_path} inside the sandbox (read it with exec)."
        )
    if log.error is not None or log.image_id is None:
        error = log.error or "no image was produced"
        hint = failure_hint(error, sock)
        output = "\n".join(log.failure_output[-STEP_OUTPUT_LINES:])
        raise BuildFailed(
            f"the build failed at {step}: {error}\n"
            + (f"What to do: {hint}\n" if hint else "")
            + (f"Output of that step:\n{output}\n" if output else "")
            + f"Full log: {log_path} inside the sandbox (read it with exec)."
        )


async def _save_log(
    engine: Engine, container_id: str, entry: Entry, log: BuildLog | BuildKitLog, timed_out: bool, duration: float
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

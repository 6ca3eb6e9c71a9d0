"""BuildKit builds in a docker sandbox: `docker buildx build` run in the sandbox, fed the context.

Why the CLI: BuildKit behind the engine API (`POST /build?version=2`) serves nothing by itself: the
client must run a gRPC session over a hijacked connection that hands BuildKit the context, secrets
and credentials on request, which docker-py does not implement. The sandbox has the client that
does (docker-buildx, talking to its own engine), so the server runs it there and keeps every part of
a build that is its own: the context is read, judged, capped, `.dockerignore`d and re-packed by the
server exactly as for the API's builder and streamed to the CLI's stdin (`-`: a tar context); its
progress (`--progress=rawjson`) is parsed into steps and streamed; at the deadline or on a cancelled
call the CLI is killed (by the marker its processes inherit) and BuildKit cancels the build of a
client that went away. Secrets are read by the CLI from their resolved paths in the sandbox.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import anyio

from manyoyo_mcp.engine import NestedBuildSpec
from manyoyo_mcp.nested.buildkit_log import BuildKitLog
from manyoyo_mcp.sandbox.execution import EXEC_MARKER, kill_exec
from manyoyo_mcp.sandbox.inside import ROOT, Entry
from manyoyo_mcp.threads import ProgressCallback, in_thread, supervise

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine, ExecStream

CHUNK = 1 << 20
# The image id comes back on stdout: buildx writes --iidfile by renaming a temporary file into
# place, which /dev/stdout cannot take.
_WRAPPER = r"""
iid=$(mktemp) || exit 125
docker buildx build --iidfile "$iid" "$@"
code=$?
cat "$iid"; rm -f "$iid"
exit $code
"""
ENV = {
    "DOCKER_HOST": "unix:///var/run/docker.sock",  # the sandbox's own engine, whatever its env says
    "DOCKER_CLI_HINTS": "false",
    "BUILDX_NO_DEFAULT_ATTESTATIONS": "1",
}


@dataclass(slots=True)
class BuildKitRun:
    log: BuildKitLog
    timed_out: bool
    exit_code: int | None


def buildkit_argv(options: NestedBuildSpec) -> list[str]:
    """The command that runs the build in the sandbox, the context read from stdin; each secret's
    source is its file's resolved path in the sandbox (pure)."""
    argv = ["sh", "-c", _WRAPPER, "buildx", "--builder", "default", "--progress=rawjson", "--file", options.dockerfile]
    if options.tag:
        argv += ["--tag", options.tag]
    if options.target:
        argv += ["--target", options.target]
    for name, value in options.build_args.items():
        argv += ["--build-arg", f"{name}={value}"]
    for secret_id, path in options.secrets.items():
        argv += ["--secret", _csv(f"id={secret_id}", f"src={path}")]
    if options.no_cache:
        argv.append("--no-cache")
    return [*argv, "-"]


def _csv(*fields: str) -> str:
    """Fields the way buildx reads a --secret (CSV: a path with a comma or a quote stays one field)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


async def run_buildkit(
    engine: Engine,
    container_id: str,
    entry: Entry,
    context_tar: IO[bytes],
    options: NestedBuildSpec,
    timeout_s: float,
    log: BuildKitLog,
    on_progress: ProgressCallback | None = None,
) -> BuildKitRun:
    """Build `options` with the sandbox's BuildKit from `context_tar`, following its progress into
    `log` (new lines go to `on_progress` with the step count); the image id is `log.image_id`."""
    exec_id = secrets.token_hex(8)
    command = entry.command(buildkit_argv(options), user=ROOT, workdir="/", env={**ENV, EXEC_MARKER: exec_id})
    stream: ExecStream = await in_thread(
        engine.exec_start, container_id, command.argv, command.workdir, command.env, command.user, stdin=True
    )
    stdout = bytearray()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def read() -> None:
        # A stream closed under us (after a kill) ends the same way as one that finished.
        with contextlib.suppress(Exception):
            for kind, data in stream.chunks():
                if kind == 1:
                    stdout.extend(data[: max(0, 4096 - len(stdout))])
                else:
                    log.feed(decoder.decode(data))

    async def stop() -> None:
        await kill_exec(engine, container_id, exec_id)

    async def report() -> None:
        if on_progress is not None and (fresh := log.new_lines()):
            await on_progress(len(log.steps), "\n".join(fresh))

    def chunks() -> Iterator[bytes]:
        context_tar.seek(0)
        while chunk := context_tar.read(CHUNK):
            yield chunk

    try:
        async with anyio.create_task_group() as feeding:
            feeding.start_soon(in_thread, stream.feed_from, chunks())
            timed_out = await supervise(
                read, timeout_s=timeout_s, stop=stop, report=report, close_after_stop=stream.close
            )
            feeding.cancel_scope.cancel()
    finally:
        stream.close()
    log.feed(decoder.decode(b"", final=True))
    log.finish()
    await report()
    log.image_id = stdout.decode(errors="replace").strip() or None
    exit_code = await in_thread(engine.exec_exit_code, stream.exec_id)
    if exit_code and log.error is None and not timed_out:  # the CLI failed before any build: its last words
        log.error = next((line for line in reversed(log.lines) if line.strip()), f"buildx exited with {exit_code}")
    return BuildKitRun(log, timed_out, exit_code)

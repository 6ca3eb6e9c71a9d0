"""Builds through the engine API's own builder: podman's (buildah), and docker's classic builder
(`builder="classic"`, and sock mode, where the engine is the host's).

The re-packed context is posted to `/build`; its JSON events become the log (build_log.py) under a
deadline. A timeout or a cancelled call cuts the build's connection, which makes docker cancel the
build; podman does not stop a build whose client went away, so the build's RUN processes are
killed as well. Secrets ride in the context under a random name that podman's API moves out of the
context before the build starts (libpod's compat build handler, processSecrets).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from manyoyo_mcp.engine import NestedBuildSpec
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.nested.build_log import BuildLog
from manyoyo_mcp.nested.connect import opened_engine
from manyoyo_mcp.sandbox.execution import run_inside
from manyoyo_mcp.sandbox.inside import Entry
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import ProgressCallback, in_thread, supervise

if TYPE_CHECKING:
    from manyoyo_mcp.engine import BuildStream, Engine, NestedEngine

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


async def build_through_api(
    engine: Engine,
    sandbox: Sandbox,
    entry: Entry,
    context_tar: IO[bytes],
    spec: NestedBuildSpec,
    timeout_s: float,
    log: BuildLog,
    on_progress: ProgressCallback | None = None,
) -> bool:
    """Build with the sandbox's engine API, its events followed into `log`; True if it timed out."""
    async with opened_engine(engine, sandbox) as nested:
        stream = await in_thread(nested.build, context_tar, spec)
        return await _follow(engine, nested, sandbox, entry, stream, timeout_s, log, on_progress)


async def _follow(
    engine: Engine,
    nested: NestedEngine,
    sandbox: Sandbox,
    entry: Entry,
    stream: BuildStream,
    timeout_s: float,
    log: BuildLog,
    on_progress: ProgressCallback | None,
) -> bool:
    """Read the build's events into the log, reporting new lines; stop it at the deadline (or when
    the call is cancelled). Whether it timed out."""
    stopping = False

    async def stop_build() -> None:
        nonlocal stopping
        stopping = True
        await in_thread(nested.abort)
        if sandbox.engine == "podman":
            await run_inside(engine, sandbox.id, entry, ["sh", "-c", _KILL_PODMAN_BUILD_STEPS])

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
    return timed_out

"""The server's side of sandboxd, the command service inside each sandbox proper (its code:
sandbox/image/rootfs/usr/local/lib/manyoyo/sandboxd).

The daemon runs in the agent's domain, so nothing it answers is trusted: every answer is bounded
(engine/channel.py) and validated here (models with bounded fields; an answer that does not fit
is the daemon's failure, ChannelError), and paths shown to the agent are the server's own. One
`Sandboxd` per sandbox keeps one persistent channel (Daemons holds them); `restart` starts the
daemon again through `crun exec` when it stopped answering.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from manyoyo_mcp.errors import ChannelError, InvalidArgument, ManyoyoError
from manyoyo_mcp.sandbox.inside import PROPER_ROOT, ROOT, SHARED_DIR, Entry
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.engine.channel import Channel

SOCKET = f"{SHARED_DIR}/sandboxd.sock"
JOBS_DIR = "/var/lib/manyoyo-jobs"
JOB_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
STREAMS = ("stdout", "stderr")
ANSWER_S = 5.0
"""How long the daemon may take to answer, on top of the time a request asks it to wait."""
RESTART_S = 5.0
"""How long a restarted daemon may take to answer."""
PROBE_S = 1.0
"""How long one probe of a restarted daemon waits (whatever holds the socket meanwhile may never answer)."""
_TEXT = 1 << 22


class JobNotFound(ManyoyoError):
    """No job of that id in the sandbox (never started there, or dropped by retention)."""


def new_job_id() -> str:
    return secrets.token_hex(6)


def output_path(job_id: str, stream: str) -> str:
    """Where a job's stream is kept inside the sandbox (the server's word, not the daemon's)."""
    return f"{JOBS_DIR}/{job_id}/{stream}"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OutputFile(_Answer):
    size: int = Field(ge=0)
    cut: tuple[int, int] | None = None
    """The range dropped from the middle of a file past the per-job cap (head and tail kept)."""


class LeftProcess(_Answer):
    pid: int = Field(ge=1)
    command: str = Field(max_length=400)


class JobView(_Answer):
    """A job as the daemon reports it."""

    id: str = Field(pattern=f"^{JOB_ID.pattern}$")
    tag: str = Field("", max_length=40)
    command: str = Field("", max_length=400)
    state: Literal["running", "exited"]
    started_at: float
    deadline: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    signal: int | None = Field(None, ge=1, le=128)
    timed_out: bool = False
    cancelled: bool = False
    oom_kills: int | None = Field(None, ge=0)
    oom_killed: bool = False
    left: tuple[LeftProcess, ...] = Field((), max_length=20)
    left_count: int = Field(0, ge=0)
    left_killed: bool = False
    killed: bool = False
    lost: bool = False
    stdout: OutputFile
    stderr: OutputFile


class Ends(_Answer):
    """A stream's first and last bytes: head covers [0, head_end), tail [tail_start, size)."""

    size: int = Field(ge=0)
    head: str = Field(max_length=_TEXT)
    head_end: int = Field(ge=0)
    tail: str = Field(max_length=_TEXT)
    tail_start: int = Field(ge=0)


class Chunk(_Answer):
    """Output from `offset` to `next` (bytes); `skipped` bytes were passed over (cut, or skipped)."""

    offset: int = Field(ge=0)
    next: int = Field(ge=0)
    text: str = Field(max_length=_TEXT)
    skipped: int = Field(0, ge=0)
    size: int = Field(ge=0)


class Match(_Answer):
    line: int = Field(ge=0)
    offset: int = Field(ge=0)
    text: str = Field(max_length=2000)


class _Started(_Answer):
    job: JobView
    output: dict[Literal["stdout", "stderr"], Ends] | None = None


class _Polled(_Answer):
    job: JobView
    stdout: Chunk
    stderr: Chunk


class _Read(_Answer):
    job: JobView
    read: Chunk


class _Found(_Answer):
    job: JobView
    size: int = Field(ge=0)
    matches: tuple[Match, ...] = Field(max_length=1000)
    more: bool


class _Killed(_Answer):
    job: JobView
    killed: bool


class _Listed(_Answer):
    jobs: tuple[JobView, ...] = Field(max_length=10_000)
    total: int = Field(0, ge=0)


class Sandboxd:
    """One sandbox's daemon (every method may raise ChannelError: it did not answer as it should)."""

    def __init__(self, channel: Channel, sandbox: str) -> None:
        self._channel = channel
        self.sandbox = sandbox

    async def health(self, answer_s: float = ANSWER_S) -> dict[str, Any]:
        return await self._call("GET", "/v1/health", None, 0, answer_s=answer_s)

    async def start(
        self, job: dict[str, Any], wait_s: float, head: int, tail: int
    ) -> tuple[JobView, dict[str, Ends] | None]:
        """Start `job` (Entry.job, with id, timeout_s, tty, tag) and wait up to `wait_s` for its end;
        a job of that id already there (a retried request) is returned as it is."""
        body = {**job, "wait_s": wait_s, "head": head, "tail": tail}
        started = validated(_Started, await self._call("POST", "/v1/jobs", body, wait_s, conflict_ok=True))
        return started.job, dict(started.output) if started.output else None

    async def get(
        self, job_id: str, wait_s: float = 0, head: int = 0, tail: int = 0
    ) -> tuple[JobView, dict[str, Ends] | None]:
        query = {"wait_s": wait_s, "head": head, "tail": tail}
        got = validated(_Started, await self._call("GET", self._path(job_id, "", query), None, wait_s))
        return got.job, dict(got.output) if got.output else None

    async def poll(
        self,
        job_id: str,
        offsets: dict[str, int],
        limit: int,
        wait_s: float,
        *,
        until: str = "end",
        latest: bool = False,
    ) -> tuple[JobView, dict[str, Chunk]]:
        """Output since `offsets` (at most `limit` bytes a stream), once the job ended, `wait_s`
        passed, or (until="output") either stream grew; `latest` skips to the newest bytes."""
        query = {**offsets, "limit": limit, "wait_s": wait_s, "until": until, "latest": int(latest)}
        polled = validated(_Polled, await self._call("GET", self._path(job_id, "/output", query), None, wait_s))
        return polled.job, {"stdout": polled.stdout, "stderr": polled.stderr}

    async def kill(self, job_id: str) -> tuple[JobView, bool]:
        """Kill the job's tree; True once it is verified gone."""
        killed = validated(_Killed, await self._call("POST", self._path(job_id, "/kill", {}), None, 5.0))
        return killed.job, killed.killed

    async def jobs(self, running_only: bool = False, limit: int = 1000) -> tuple[list[JobView], int]:
        """The newest jobs first (at most `limit`), and how many the sandbox keeps."""
        query = urlencode({"limit": limit, **({"state": "running"} if running_only else {})})
        listed = validated(_Listed, await self._call("GET", f"/v1/jobs?{query}", None, 0))
        return list(listed.jobs), listed.total

    async def read(self, job_id: str, stream: str, offset: int, limit: int) -> tuple[JobView, Chunk]:
        query = {"stream": stream, "offset": offset, "limit": limit}
        read = validated(_Read, await self._call("GET", self._path(job_id, "/read", query), None, 0))
        return read.job, read.read

    async def search(
        self, job_id: str, stream: str, pattern: str, *, fixed: bool, ignore_case: bool, limit: int
    ) -> tuple[JobView, list[Match], bool, int]:
        query = {
            "stream": stream,
            "pattern": pattern,
            "fixed": int(fixed),
            "ignore_case": int(ignore_case),
            "limit": limit,
        }
        found = validated(_Found, await self._call("GET", self._path(job_id, "/search", query), None, 10.0))
        return found.job, list(found.matches), found.more, found.size

    def close(self) -> None:
        self._channel.close()

    @staticmethod
    def _path(job_id: str, tail: str, query: dict[str, Any]) -> str:
        if not JOB_ID.fullmatch(job_id):
            raise InvalidArgument(f"job_id {job_id!r} is not a job id (as exec and list_jobs return them)")
        return f"/v1/jobs/{job_id}{tail}" + (f"?{urlencode(query)}" if query else "")

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        wait_s: float,
        conflict_ok: bool = False,
        answer_s: float = ANSWER_S,
    ) -> dict[str, Any]:
        status, answer = await in_thread(self._channel.request, method, path, body, wait_s + answer_s)
        if 200 <= status < 300 or (conflict_ok and status == 409 and "job" in answer):
            return answer
        error = str(answer.get("error", ""))[:500]
        if status == 404 and path.startswith("/v1/jobs/"):
            raise JobNotFound(
                f"sandbox {self.sandbox!r} has no job {path.split('/')[3].split('?')[0]!r} (it may have been dropped "
                "to keep the sandbox's job history within its bounds): list_jobs lists its jobs"
            )
        if status == 400:
            raise InvalidArgument(error or "sandboxd refused the request")
        raise ChannelError(f"sandboxd answered {status}: {error}")


def validated(model: type[_Answer], value: Any) -> Any:
    """`value` as `model`, or ChannelError (the daemon said something it does not say)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ChannelError(f"sandboxd answered something unexpected ({exc.error_count()} problems)") from exc


class Daemons:
    """The daemon of each sandbox the server talks to: one channel each, made on first use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._open: dict[str, Sandboxd] = {}
        self.absent: set[str] = set()
        """Sandboxes whose image has no sandboxd (made from an older image): crun exec only."""

    def of(self, sandbox_id: str, sandbox: str) -> Sandboxd:
        daemon = self._open.get(sandbox_id)
        if daemon is None:
            channel = self._engine.channel(sandbox_id, SOCKET, PROPER_ROOT)
            daemon = self._open[sandbox_id] = Sandboxd(channel, sandbox)
        return daemon

    def drop(self, sandbox_id: str) -> None:
        daemon = self._open.pop(sandbox_id, None)
        if daemon is not None:
            daemon.close()

    def close(self) -> None:
        for sandbox_id in list(self._open):
            self.drop(sandbox_id)

    async def restart(self, sandbox_id: str, entry: Entry) -> bool:
        """Start the daemon again (detached, through crun; any stuck one is killed first). False
        when the sandbox's image has none (then it is not tried again)."""
        script = (
            "[ -d /usr/local/lib/manyoyo/sandboxd ] || exit 3; "
            "setsid python3 -I /usr/local/lib/manyoyo/sandboxd --replace "
            ">>/var/log/manyoyo-sandboxd.log 2>&1 </dev/null &"
        )
        command = entry.command(["sh", "-c", script], user=ROOT, env={})
        code, _, _ = await in_thread(self._engine.exec_run, sandbox_id, command.argv)
        self.drop(sandbox_id)
        if code == 3:
            self.absent.add(sandbox_id)
            return False
        return code == 0 and await self._answers(sandbox_id)

    async def _answers(self, sandbox_id: str, within_s: float = RESTART_S) -> bool:
        """Whether the daemon answers within `within_s` (a started one takes a moment to listen)."""
        until = time.monotonic() + within_s
        while True:
            probe = Sandboxd(self._engine.channel(sandbox_id, SOCKET, PROPER_ROOT), "")
            try:
                await probe.health(answer_s=PROBE_S)
                return True
            except ChannelError:
                if time.monotonic() > until:
                    return False
                await anyio.sleep(0.1)
            finally:
                probe.close()

"""The routes, the arguments each takes, and the daemon's life (one at a time, by a lock).

GET  /v1/health                              version, pid, cgroup version, jobs
GET  /v1/jobs                                every job (newest first)
POST /v1/jobs                                start one: {id, argv, env, cwd, uid, gid, tty,
                                             timeout_s, tag}; with wait_s, head, tail: wait for
                                             its end (bounded) and answer with both streams'
                                             first `head` and last `tail` bytes
GET  /v1/jobs/ID?wait_s=&head=&tail=         the same for a started job
GET  /v1/jobs/ID/output?stdout=&stderr=&limit=&wait_s=&until=end|output&latest=
                                             output since two offsets, after waiting for the
                                             end (or for new output); latest=1 skips to the
                                             last `limit` bytes
POST /v1/jobs/ID/kill                        kill its tree; killed: verified gone
GET  /v1/jobs/ID/read?stream=&offset=&limit=
GET  /v1/jobs/ID/search?stream=&pattern=&fixed=&ignore_case=&limit=
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sandboxd import JOBS_DIR, SOCKET, VERSION, cgroups
from sandboxd.jobs import Conflict, Store
from sandboxd.output import search
from sandboxd.record import STREAMS, Job, Settings
from sandboxd.wire import HttpError, Request, serve

log = logging.getLogger("sandboxd")
LOCK = "/run/sandboxd.lock"
PIDFILE = "/run/sandboxd.pid"
JOB_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_WAIT_S = 60.0
MAX_READ = 4 << 20
HOUSEKEEPING_S = 1.0
STARTED = time.time()


def _number(query: dict[str, str], name: str, default: float, top: float) -> float:
    try:
        value = float(query.get(name, default))
    except ValueError:
        raise HttpError(400, f"{name} must be a number") from None
    if not 0 <= value <= top:
        raise HttpError(400, f"{name} must be between 0 and {top:g}")
    return value


def _integer(query: dict[str, str], name: str, default: int, top: int) -> int:
    return int(_number(query, name, default, top))


def validate_start(body: dict[str, Any]) -> dict[str, Any]:
    """A start request's fields, checked; HttpError(400) names the first bad one."""
    argv, env = body.get("argv"), body.get("env", {})
    checks = {
        "id": isinstance(body.get("id"), str) and JOB_ID.fullmatch(body["id"]) is not None,
        "argv": isinstance(argv, list) and bool(argv) and all(isinstance(a, str) and "\0" not in a for a in argv),
        "env": isinstance(env, dict)
        and all(
            isinstance(k, str) and ENV_NAME.fullmatch(k) and isinstance(v, str) and "\0" not in v
            for k, v in env.items()
        ),
        "cwd": isinstance(body.get("cwd"), str) and body["cwd"].startswith("/") and "\0" not in body["cwd"],
        "uid": isinstance(body.get("uid"), int) and 0 <= body["uid"] < 2**32 - 1,
        "gid": isinstance(body.get("gid"), int) and 0 <= body["gid"] < 2**32 - 1,
        "tty": isinstance(body.get("tty", False), bool),
        "timeout_s": body.get("timeout_s") is None
        or (isinstance(body["timeout_s"], int | float) and body["timeout_s"] > 0),
        "tag": isinstance(body.get("tag", ""), str) and len(body.get("tag", "")) <= 40,
    }
    for name, good in checks.items():
        if not good:
            raise HttpError(400, f"start: {name} is missing or invalid")
    return {**body, "env": dict(env), "tag": body.get("tag", "")}


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, request: Request) -> tuple[int, dict[str, Any]]:
        parts = request.path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise HttpError(404, "the API is under /v1")
        route = (request.method, *parts[1:2], *(["ID"] if len(parts) > 2 else []), *parts[3:])
        routes = {
            ("GET", "health"): self.health,
            ("GET", "jobs"): self.list,
            ("POST", "jobs"): self.start,
            ("GET", "jobs", "ID"): self.get,
            ("GET", "jobs", "ID", "output"): self.output,
            ("POST", "jobs", "ID", "kill"): self.kill,
            ("GET", "jobs", "ID", "read"): self.read,
            ("GET", "jobs", "ID", "search"): self.search,
        }
        handler = routes.get(route)
        if handler is None:
            raise HttpError(404, f"no route {request.method} {request.path}")
        if len(parts) > 2:
            return await handler(request, self._job(parts[2]))
        return await handler(request)

    def _job(self, job_id: str) -> Job:
        job = self.store.jobs.get(job_id)
        if job is None:
            raise HttpError(404, f"no job {job_id!r}")
        return job

    async def health(self, request: Request) -> tuple[int, dict[str, Any]]:
        running = sum(job.running for job in self.store.jobs.values())
        return 200, {
            "version": VERSION,
            "pid": os.getpid(),
            "started_at": STARTED,
            "cgroup": self.store.cgroup_version,
            "jobs": len(self.store.jobs),
            "running": running,
        }

    async def list(self, request: Request) -> tuple[int, dict[str, Any]]:
        jobs = sorted(self.store.jobs.values(), key=lambda job: job.meta.get("started_at") or 0, reverse=True)
        shown = [job for job in jobs if job.running or request.query.get("state") != "running"]
        limit = _integer(request.query, "limit", 1000, 10_000)
        return 200, {"jobs": [job.view() for job in shown[:limit]], "total": len(jobs)}

    async def start(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = validate_start(request.json())
        try:
            job = self.store.start(body)
        except Conflict:
            return 409, {"error": f"job {body['id']!r} exists", "job": self.store.jobs[body["id"]].view()}
        query = {k: str(v) for k, v in body.items() if k in ("wait_s", "head", "tail")}
        return 201, await self._answer(job, query)

    async def get(self, request: Request, job: Job) -> tuple[int, dict[str, Any]]:
        return 200, await self._answer(job, request.query)

    async def _answer(self, job: Job, query: dict[str, str]) -> dict[str, Any]:
        await _wait_end(job, _number(query, "wait_s", 0, MAX_WAIT_S))
        head, tail = _integer(query, "head", 0, MAX_READ), _integer(query, "tail", 0, MAX_READ)
        answer: dict[str, Any] = {"job": job.view()}
        if head or tail:
            answer["output"] = {name: job.stream(name).ends(head, tail) for name in STREAMS}
        return answer

    async def output(self, request: Request, job: Job) -> tuple[int, dict[str, Any]]:
        query = request.query
        wait_s, limit = _number(query, "wait_s", 0, MAX_WAIT_S), _integer(query, "limit", 65536, MAX_READ)
        offsets = {name: _integer(query, name, 0, 1 << 62) for name in STREAMS}
        if query.get("until") == "output":
            await _wait_output(job, offsets, wait_s)
        else:
            await _wait_end(job, wait_s)
        answer: dict[str, Any] = {"job": job.view()}
        for name in STREAMS:
            stream = job.stream(name)
            start = offsets[name]
            if query.get("latest") == "1" and stream.size - start > limit:
                start = stream.size - limit
            answer[name] = {**stream.read(start, limit, final=not job.running), "size": stream.size}
        return 200, answer

    async def kill(self, request: Request, job: Job) -> tuple[int, dict[str, Any]]:
        killed = await self.store.kill(job)
        return 200, {"job": job.view(), "killed": killed}

    async def read(self, request: Request, job: Job) -> tuple[int, dict[str, Any]]:
        stream = job.stream(_stream(request.query))
        offset = _integer(request.query, "offset", 0, 1 << 62)
        limit = _integer(request.query, "limit", 65536, MAX_READ)
        return 200, {
            "job": job.view(),
            "read": {**stream.read(offset, limit, final=not job.running), "size": stream.size},
        }

    async def search(self, request: Request, job: Job) -> tuple[int, dict[str, Any]]:
        query = request.query
        pattern = query.get("pattern", "")
        if not pattern or len(pattern) > 1000:
            raise HttpError(400, "pattern: 1 to 1000 characters")
        stream = job.stream(_stream(query))
        try:
            found = await search(
                stream.path,
                pattern,
                fixed=query.get("fixed") == "1",
                ignore_case=query.get("ignore_case") == "1",
                limit=_integer(query, "limit", 50, 1000),
                timeout_s=10.0,
            )
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return 200, {"job": job.view(), "size": stream.size, **found}


def _stream(query: dict[str, str]) -> str:
    name = query.get("stream", "stdout")
    if name not in STREAMS:
        raise HttpError(400, "stream: stdout or stderr")
    return name


async def _wait_end(job: Job, wait_s: float) -> None:
    if job.running and wait_s > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.ended.wait(), wait_s)


async def _wait_output(job: Job, offsets: dict[str, int], wait_s: float) -> None:
    """Until either stream has grown past its offset, the job ended, or `wait_s` passed."""
    until = time.monotonic() + wait_s
    while job.running and time.monotonic() < until:
        if any(job.stream(name).size > offsets[name] for name in STREAMS):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.ended.wait(), min(0.1, max(0.0, until - time.monotonic())))


# -- the daemon's life ------------------------------------------------------------------------


def take_over(replace: bool) -> int:
    """Hold the lock that makes this daemon the only one (a second waits for it). `replace`: kill
    the daemon holding it first (the server's restart; it may be stuck)."""
    if replace:
        with contextlib.suppress(OSError, ValueError):
            pid = int(Path(PIDFILE).read_text())
            if b"sandboxd" in Path(f"/proc/{pid}/cmdline").read_bytes() and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
    lock = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    Path(PIDFILE).write_text(str(os.getpid()))
    return lock


async def run(store: Store) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    store.adopt()
    cgroups.clean(store.cgroup_version)
    store.make_spare()
    server = await serve(SOCKET, Api(store))
    log.info("serving on %s (cgroup v%s, %d jobs)", SOCKET, store.cgroup_version, len(store.jobs))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HOUSEKEEPING_S)
        store.housekeeping()
    server.close()
    log.info("stopped; running jobs go on and will be adopted")


def main(argv: list[str]) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s sandboxd: %(message)s")
    take_over("--replace" in argv)
    os.umask(0o022)
    Path(JOBS_DIR).mkdir(mode=0o755, parents=True, exist_ok=True)
    store = Store(Path(JOBS_DIR), Settings.from_env(dict(os.environ)), cgroups.prepare())
    asyncio.run(run(store))

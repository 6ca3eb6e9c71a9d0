"""The jobs this daemon knows: start (through a spare watcher when one is ready), follow, kill,
adopt after a restart, and retention within the operator's bounds (record.py: a job on disk)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandboxd import cgroups
from sandboxd.cgroups import Tree, alive, start_time
from sandboxd.output import punch
from sandboxd.record import STREAMS, Job, Settings, cut_of, disk_use, read_json, write_json
from sandboxd.shim import Spec, spare, watch

log = logging.getLogger("sandboxd")
PIPE_SPEC = 60_000  # a spec shorter than this goes to a spare through its pipe, else through a file


@dataclass(frozen=True, slots=True)
class _Spare:
    pid: int
    pipe: int
    pidfd: int
    tree: Tree
    start: int | None


class Conflict(Exception):
    """A job of that id exists already."""


class Store:
    """Every job this daemon knows, by id."""

    def __init__(self, root: Path, settings: Settings, cgroup_version: int) -> None:
        self.root = root
        self.settings = settings
        self.cgroup_version = cgroup_version
        self.jobs: dict[str, Job] = {}
        self._spare: _Spare | None = None
        self._membership = Path("/proc/self/cgroup").read_text() if cgroup_version else ""
        self._group_cache: dict[tuple[int, int, tuple[float, ...]], tuple[int, ...]] = {}

    # -- start ------------------------------------------------------------------------------

    def start(self, request: dict[str, Any]) -> Job:
        """Start a job (request validated by server.py); Conflict if its id is taken."""
        job_id = request["id"]
        directory = self.root / job_id
        if job_id in self.jobs:
            raise Conflict(job_id)
        try:
            directory.mkdir(mode=0o755)
        except FileExistsError:
            raise Conflict(job_id) from None
        spare, self._spare = self._spare, None
        tree = spare.tree if spare else Tree.create(job_id, self.cgroup_version)
        now = time.time()
        timeout = request.get("timeout_s")
        meta = {
            **{key: request.get(key) for key in ("id", "argv", "cwd", "uid", "gid", "tag")},
            "tty": bool(request.get("tty")),
            "started_at": now,
            "deadline": now + timeout if timeout else None,
            "cgroup": tree.version,
            "cgroups": list(tree.paths),
        }
        write_json(directory / "job.json", meta)
        job = self.jobs[job_id] = Job(directory, meta)
        spec = Spec(
            id=job_id,
            directory=str(directory),
            argv=list(request["argv"]),
            env=_with_terminal(request["env"], meta["tty"]),
            cwd=request["cwd"],
            uid=request["uid"],
            gid=request["gid"],
            groups=self._groups(request["uid"], request["gid"]),
            tty=meta["tty"],
            deadline=meta["deadline"],
            leftovers=self.settings.leftovers,
            tree=job.tree,
            home=cgroups.home(tree.paths, membership=self._membership),
        )
        watcher = self._hand_over(spare, spec) if spare else None
        if watcher is None:
            watcher = os.fork()
            if watcher == 0:
                watch(spec)
        job.watcher = watcher
        known = {"pid": watcher, "start": spare.start if spare and spare.pid == watcher else None}
        asyncio.get_running_loop().call_soon(self._note_watcher, job, known)  # once the answer is out
        self._follow(job, watcher, child=True)
        self._arm(job)
        return job

    @staticmethod
    def _note_watcher(job: Job, known: dict[str, Any]) -> None:
        """Who watches the job, for a daemon started later (jobs.adopt); a job whose watcher is not
        known is followed through its own process (pid.json, which the watcher writes)."""
        write_json(job.dir / "watcher.json", {**known, "start": known["start"] or start_time(known["pid"])})

    def _groups(self, uid: int, gid: int) -> tuple[int, ...]:
        """The user's supplementary groups (as initgroups would set them), `gid` first; read again
        when the user or group database changed."""
        stamp = tuple(_mtime(path) for path in ("/etc/passwd", "/etc/group"))
        key = (uid, gid, stamp)
        if key not in self._group_cache:
            self._group_cache = {key: _groups(uid, gid)}
        return self._group_cache[key]

    def _hand_over(self, spare: _Spare, spec: Spec) -> int | None:
        """Give `spec` to the spare watcher (its pid), or None if it is gone."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(spare.pidfd)
        os.close(spare.pidfd)
        data = spec.to_json()
        if len(data) < PIPE_SPEC:
            message = b"S" + data  # within an empty pipe's buffer: the write never blocks
        else:  # in a file readable by root only (the environment may hold secrets)
            message = b"F" + os.fsencode(spec.directory)
            secret = os.open(spec.marker("spec.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(secret, "wb") as out:
                out.write(data)
        try:
            os.write(spare.pipe, message)
            return spare.pid
        except OSError:  # it died meanwhile
            spec.marker("spec.json").unlink(missing_ok=True)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(spare.pid, 0)
            return None
        finally:
            os.close(spare.pipe)

    def make_spare(self) -> None:
        """A watcher waiting in fresh cgroups for the next job (see shim.py), if none is waiting."""
        if self._spare is not None or self.cgroup_version == 0:
            return
        tree = Tree.create("s-" + secrets.token_hex(4), self.cgroup_version)
        if not tree.paths:
            return
        source, pipe = os.pipe()
        pid = os.fork()
        if pid == 0:
            spare(tree, source)
        os.close(source)
        pidfd = os.pidfd_open(pid)
        self._spare = _Spare(pid, pipe, pidfd, tree, start_time(pid))

        def died() -> None:  # unused, and gone: reaped, its cgroups removed
            loop.remove_reader(pidfd)
            os.close(pidfd)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            if self._spare is not None and self._spare.pid == pid:
                os.close(self._spare.pipe)
                self._spare = None
            tree.remove()

        loop = asyncio.get_running_loop()
        loop.add_reader(pidfd, died)

    # -- follow and end ---------------------------------------------------------------------

    def _follow(self, job: Job, pid: int, child: bool) -> None:
        """Finish `job` once `pid` (its watcher, else its own process) exits."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            self._ended(job)
            return
        loop = asyncio.get_running_loop()

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if child:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            self._ended(job)

        loop.add_reader(pidfd, exited)

    def _ended(self, job: Job) -> None:
        """The watcher is gone: its record, else the job's process if it still runs, else 'lost'."""
        ending = read_json(job.dir / "exit.json")
        if ending is None:
            found = read_json(job.dir / "pid.json") or {}
            pid = found.get("pid")
            if isinstance(pid, int) and alive(pid) and start_time(pid) == found.get("start"):
                self._follow(job, pid, child=False)
                return
            ending = {"exit_code": None, "signal": None, "ended_at": time.time(), "lost": True}
            ending.update(left=[], left_count=len(job.tree.pids()))
        job.finish(ending)
        asyncio.get_running_loop().call_soon(self._after, job)  # once whoever waits for it has its answer

    def _after(self, job: Job) -> None:
        job.bytes_used = disk_use(job.dir)
        job.tree.remove()
        if len(self.jobs) > self.settings.max_count:
            self.retain()
        self.make_spare()

    def _arm(self, job: Job) -> None:
        """The daemon's own kill at the deadline, behind the watcher's (which may have been killed)."""
        deadline = job.meta.get("deadline")
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        job.timer = loop.call_later(max(0.0, deadline - time.time()) + 0.5, self._expire, job)

    def _expire(self, job: Job) -> None:
        if job.running:
            (job.dir / "timed_out").touch()
            job.kill()
            job.timer = asyncio.get_running_loop().call_later(1.0, self._expire, job)

    async def kill(self, job: Job, wait_s: float = 5.0) -> bool:
        """Kill the job's whole tree (a cancel); True once it ended and nothing of it is left."""
        if job.running:
            (job.dir / "cancelled").touch()
        until = time.monotonic() + wait_s
        while job.running and time.monotonic() < until:
            job.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.ended.wait(), 0.1)
        return not job.running and not job.tree.pids()

    # -- adopt, keep within bounds ----------------------------------------------------------

    def adopt(self) -> None:
        """Jobs a previous daemon started: followed again (deadline re-armed), or finished."""
        for directory in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            meta = read_json(directory / "job.json")
            if not meta or meta.get("id") != directory.name:
                continue
            job = self.jobs[directory.name] = Job(directory, meta)
            job.cut = {name: cut_of(meta, name) for name in STREAMS}
            ending = read_json(directory / "exit.json")
            if ending is not None:
                job.finish(ending)
                job.bytes_used = disk_use(directory)
                continue
            watcher = read_json(directory / "watcher.json") or {}
            pid = watcher.get("pid")
            if isinstance(pid, int) and alive(pid) and start_time(pid) == watcher.get("start"):
                self._follow(job, pid, child=False)
            else:
                self._ended(job)
            if job.running:
                self._arm(job)
                log.info("adopted job %s", job.id)
        self.retain()

    def housekeeping(self) -> None:
        """Each running job's output kept within its cap (head and tail); the bounds on jobs kept;
        a spare watcher ready."""
        self.make_spare()
        self.retain()
        keep = self.settings.output_max // 2
        for job in self.jobs.values():
            if not job.running:
                job.tree.remove()
                continue
            for name in STREAMS:
                cut = punch(str(job.dir / name), keep, keep, job.cut[name])
                if cut != job.cut[name]:
                    job.cut[name] = cut
                    job.meta[f"cut_{name}"] = list(cut) if cut else None
                    write_json(job.dir / "job.json", job.meta)

    def retain(self) -> None:
        """Drop the oldest ended jobs while more than max_count jobs or max_bytes are kept."""
        ended = sorted((j for j in self.jobs.values() if not j.running), key=lambda j: j.exit.get("ended_at") or 0)
        total = sum(j.bytes_used if not j.running else disk_use(j.dir) for j in self.jobs.values())
        for job in ended:
            if len(self.jobs) <= self.settings.max_count and total <= self.settings.max_bytes:
                break
            if job.tree.pids():  # it left processes running, which still write there
                continue
            job.tree.remove()
            shutil.rmtree(job.dir, ignore_errors=True)
            del self.jobs[job.id]
            total -= job.bytes_used


def _groups(uid: int, gid: int) -> tuple[int, ...]:
    """The user's supplementary groups (as initgroups would set them), with `gid` first."""
    try:
        name = pwd.getpwuid(uid).pw_name
        return tuple(dict.fromkeys([gid, *os.getgrouplist(name, gid)]))
    except (KeyError, OSError):
        return (gid,)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _with_terminal(env: dict[str, str], tty: bool) -> dict[str, str]:
    return {"TERM": "xterm-256color", **env} if tty else dict(env)

"""The jobs this daemon knows: start (through a spare when one is ready, see spawn.py), follow to
their end, kill, adopt after a restart, and retention within the operator's bounds (record.py:
a job on disk).

A job is the daemon's child: its exit status comes from waitpid. The daemon enforces its deadline
and, at its end, reads its cgroups for OOM kills and processes left running. A daemon started
again (its keeper restarts it within a second) adopts the jobs still running: their deadlines
re-armed, their end seen through a pidfd (their exit status then unknown).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pwd
import secrets
import shutil
import struct
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandboxd.cgroups import Tree, alive, command_line, start_time
from sandboxd.output import punch
from sandboxd.record import STREAMS, Job, Settings, cut_of, disk_use, read_json, write_json
from sandboxd.spawn import Spec, direct, spare

log = logging.getLogger("sandboxd")
PIPE_SPEC = 60_000  # a spec shorter than this goes to a spare through its pipe, else through a file
LEFT_SHOWN = 20
TTY_SIZE = (40, 120)  # rows, columns


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
        self._group_cache: dict[tuple[int, int, tuple[float, ...]], tuple[int, ...]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        tty = bool(request.get("tty"))
        spare_ = None if tty else self._take_spare()
        tree = spare_.tree if spare_ else Tree.create(job_id, self.cgroup_version)
        now = time.time()
        timeout = request.get("timeout_s")
        meta = {
            **{key: request.get(key) for key in ("id", "argv", "cwd", "uid", "gid", "tag")},
            "tty": tty,
            "started_at": now,
            "deadline": now + timeout if timeout else None,
            "cgroup": tree.version,
            "cgroups": list(tree.paths),
        }
        job = self.jobs[job_id] = Job(directory, meta)
        spec = Spec(
            id=job_id,
            directory=str(directory),
            argv=list(request["argv"]),
            env={"TERM": "xterm-256color", **request["env"]} if tty else dict(request["env"]),
            cwd=request["cwd"],
            uid=request["uid"],
            gid=request["gid"],
            groups=list(self._groups(request["uid"], request["gid"])),
            tty=tty,
            tree=job.tree,
        )
        pid = self._hand_over(spare_, spec) if spare_ else None
        if pid is None:
            pid = self._fork(job, spec)
        meta.update(pid=pid, start=spare_.start if spare_ and spare_.pid == pid else start_time(pid))
        write_json(directory / "job.json", meta)
        self._follow(job, child=True)
        self._arm(job)
        return job

    def _fork(self, job: Job, spec: Spec) -> int:
        """The job forked now (no spare ready, or a terminal); a terminal's output is copied here."""
        master = terminal = None
        if spec.tty:
            master, terminal = os.openpty()
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", *TTY_SIZE, 0, 0))
        pid = os.fork()
        if pid == 0:
            direct(spec, terminal)
        if master is not None and terminal is not None:
            os.close(terminal)
            self._copy_terminal(job, master)
        return pid

    def _copy_terminal(self, job: Job, master: int) -> None:
        """A tty job's terminal into its stdout file, until the terminal closes (or a second after
        the job ended, whatever it left running). The job loses its terminal if this daemon dies."""
        sink = os.open(job.dir / "stdout", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            loop.remove_reader(master)
            for fd in (master, sink):
                with contextlib.suppress(OSError):
                    os.close(fd)

        def copy() -> None:
            try:
                data = os.read(master, 1 << 16)
            except OSError:
                data = b""
            if not data:
                stop()
                return
            while data:
                data = data[os.write(sink, data) :]

        loop.add_reader(master, copy)
        job.on_end.append(lambda: loop.call_later(1.0, stop))

    def _hand_over(self, taken: _Spare, spec: Spec) -> int | None:
        """Give `spec` to the spare, which becomes the job (its pid), or None if it is gone."""
        data = spec.to_json()
        if len(data) < PIPE_SPEC:
            message = b"S" + data  # within an empty pipe's buffer: the write never blocks
        else:  # in a file readable by root only (the environment may hold secrets)
            message = b"F" + os.fsencode(spec.directory)
            secret = os.open(Path(spec.directory, "spec.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(secret, "wb") as out:
                out.write(data)
        try:
            os.write(taken.pipe, message)
            return taken.pid
        except OSError:  # it died meanwhile
            Path(spec.directory, "spec.json").unlink(missing_ok=True)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(taken.pid, 0)
            return None
        finally:
            os.close(taken.pipe)

    def _take_spare(self) -> _Spare | None:
        taken, self._spare = self._spare, None
        if taken is not None:
            asyncio.get_running_loop().remove_reader(taken.pidfd)
            os.close(taken.pidfd)
        return taken

    def make_spare(self) -> None:
        """A child waiting in fresh cgroups to become the next job (spawn.py), if none is waiting."""
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
        loop = asyncio.get_running_loop()

        def died() -> None:  # unused and gone (killed): reaped, its cgroups removed
            if self._spare is not None and self._spare.pid == pid:
                self._take_spare()
                os.close(pipe)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            tree.remove()

        loop.add_reader(pidfd, died)

    def _groups(self, uid: int, gid: int) -> tuple[int, ...]:
        """The user's supplementary groups (as initgroups would set them), `gid` first; read again
        when the user or group database changed."""
        key = (uid, gid, tuple(_mtime(path) for path in ("/etc/passwd", "/etc/group")))
        if key not in self._group_cache:
            self._group_cache = {key: _groups(uid, gid)}
        return self._group_cache[key]

    # -- follow and end ---------------------------------------------------------------------

    def _follow(self, job: Job, child: bool) -> None:
        """End `job` when its process exits: its exit status if it is this daemon's child."""
        pid = job.pid
        try:
            pidfd = os.pidfd_open(pid) if pid else -1
        except OSError:
            pidfd = -1
        if pidfd < 0:
            self._end_soon(job, None)
            return
        loop = asyncio.get_running_loop()

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            status = None
            if child:
                with contextlib.suppress(ChildProcessError):
                    status = os.waitpid(pid, 0)[1]
            self._end_soon(job, status)

        loop.add_reader(pidfd, exited)

    def _end_soon(self, job: Job, status: int | None) -> None:
        task = asyncio.get_running_loop().create_task(self._end(job, status))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end(self, job: Job, status: int | None) -> None:
        """How the job ended: exit code or signal (unknown for an adopted job), OOM kills, what it
        left running (killed if the operator says so); recorded in exit.json."""
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        ending: dict[str, Any] = {
            "exit_code": code if code is not None and code >= 0 else None,
            "signal": -code if code is not None and code < 0 else None,
            "ended_at": time.time(),
            "oom_kills": job.tree.oom_kills(),
            "left": [],
            "left_count": 0,
            "left_killed": False,
            "tree_gone": None,
            "lost": status is None,
        }
        if job.marked("timed_out") or job.marked("cancelled"):
            ending["tree_gone"] = await self._gone(job)
        elif job.tree.pids():
            await asyncio.sleep(0.05)  # a child forked just before the end is still execing its command
            left = job.tree.pids()
            ending.update(
                left=[{"pid": p, "command": command_line(p)} for p in left[:LEFT_SHOWN]], left_count=len(left)
            )
            if left and self.settings.leftovers == "kill":
                ending["left_killed"] = await self._gone(job)
        write_json(job.dir / "exit.json", ending)
        job.finish(ending)
        asyncio.get_running_loop().call_soon(self._after, job)  # once whoever waits for it has its answer

    @staticmethod
    async def _gone(job: Job, wait_s: float = 3.0) -> bool:
        """Kill until nothing of the job's tree is left (at most `wait_s`); True once verified."""
        until = time.monotonic() + wait_s
        while True:
            job.kill()
            if not job.tree.pids():
                return True
            if time.monotonic() > until:
                return False
            await asyncio.sleep(0.02)

    def _after(self, job: Job) -> None:
        for callback in job.on_end:
            callback()
        job.bytes_used = disk_use(job.dir)
        job.tree.remove()
        if len(self.jobs) > self.settings.max_count:
            self.retain()
        self.make_spare()

    def _arm(self, job: Job) -> None:
        """The job's deadline (kept by this daemon, not by the server)."""
        deadline = job.meta.get("deadline")
        if deadline is not None:
            job.timer = asyncio.get_running_loop().call_later(max(0.0, deadline - time.time()), self._expire, job)

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
        """Jobs a previous daemon started: followed again (deadline re-armed), or ended."""
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
            elif job.pid and alive(job.pid) and start_time(job.pid) == meta.get("start"):
                self._follow(job, child=False)
                self._arm(job)
                log.info("adopted job %s", job.id)
            else:
                self._end_soon(job, None)
        self.retain()

    def housekeeping(self) -> None:
        """Each running job's output kept within its cap (head and tail); the bounds on jobs kept;
        a spare ready."""
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

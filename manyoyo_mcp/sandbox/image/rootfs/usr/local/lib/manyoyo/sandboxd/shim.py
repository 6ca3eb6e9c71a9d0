"""The per-job watcher (a fork of the daemon) and the job's own process set-up.

The daemon hands each job to a watcher process. The watcher opens the job's output files (or a
terminal), forks the job, writes its pid, copies a terminal's output to the output file, kills
the job's tree at its deadline, waits for it, and records how it ended (JOB/exit.json: exit code
or signal, OOM kills, processes left running). It does not need the daemon: a job whose daemon
was killed keeps its deadline, its output and its exit record, and a new daemon adopts it.

Moving a process into a cgroup waits for the kernel (an RCU grace period, milliseconds), so the
daemon keeps a spare watcher that already sits in a fresh cgroup, waiting on a pipe for its job:
the job is forked there and starts in its cgroup at once. A job that is still running after
LINGER_S has its watcher move out of its cgroup (so that killing the cgroup spares the watcher);
until then, kills spare the watcher's pid (Tree.kill). Only system calls run between fork and exec.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import struct
import termios
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

from sandboxd.cgroups import Tree, command_line, start_time

LEFT_SHOWN = 20
TTY_SIZE = (40, 120)  # rows, columns
OOM_SCORE_ADJ = "300"  # a job that runs the sandbox out of memory goes before its engine and this daemon
LINGER_S = 0.1
LEFT_MARKER = "watcher-left"


@dataclass(frozen=True, slots=True)
class Spec:
    """What to run, as whom, where, until when; `leftovers` says what happens to processes the job
    leaves running once its main process exits ("report" or "kill"); `home`: the cgroups the
    watcher moves back to (one per path of the tree)."""

    id: str
    directory: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    groups: list[int]
    tty: bool
    deadline: float | None
    leftovers: str
    tree: Tree
    home: list[str]

    def marker(self, name: str) -> Path:
        return Path(self.directory, name)

    def to_json(self) -> bytes:
        return json.dumps({**asdict(self), "tree": asdict(self.tree)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Spec:
        fields = json.loads(data)
        tree = fields.pop("tree")
        return cls(**fields, tree=Tree(tree["job_id"], tree["version"], tuple(tree["paths"])))


def spare(tree: Tree, source: int) -> NoReturn:
    """A spare watcher (in the daemon's forked child): into `tree`'s cgroups now, then the job whose
    spec arrives on the pipe `source` (nothing: the daemon is gone)."""
    code = 0
    try:
        _detach({source})
        _set_name("sandboxd spare")
        tree.join()
        message = b""
        while chunk := os.read(source, 1 << 16):
            message += chunk
        if message[:1] == b"S":  # the spec itself
            _run(Spec.from_json(message[1:]), inside=True)
        elif message[:1] == b"F":  # the folder of a spec too long for the pipe (it may hold secrets)
            secret = Path(os.fsdecode(message[1:]), "spec.json")
            spec = Spec.from_json(secret.read_bytes())
            secret.unlink()
            _run(spec, inside=True)
    except BaseException:
        code = 1
    os._exit(code)


def watch(spec: Spec) -> NoReturn:
    """A watcher forked for `spec` directly (no spare was ready): the job joins its cgroups itself."""
    code = 0
    try:
        _detach(set())
        spec.marker(LEFT_MARKER).touch()
        _run(spec, inside=False)
    except BaseException as exc:
        code = 1
        with contextlib.suppress(Exception):
            _write_json(spec.marker("shim-error.json"), {"error": repr(exc)[:2000]})
    os._exit(code)


def _detach(keep: set[int]) -> None:
    """Out of the daemon's session and signal handling, none of its files kept open."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _run(spec: Spec, inside: bool) -> None:
    _set_name(f"sandboxd {spec.id}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    stdout = os.open(spec.marker("stdout"), flags, 0o644)
    stderr = os.open(spec.marker("stderr"), flags, 0o644)
    master = slave = None
    if spec.tty:
        master, slave = os.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", *TTY_SIZE, 0, 0))
    pid = os.fork()
    if pid == 0:
        _exec_job(spec, (slave, slave, slave) if slave is not None else (None, stdout, stderr), join=not inside)
    for fd in (slave, stderr) if spec.tty else (stdout, stderr):
        if fd is not None:
            os.close(fd)
    _write_json(spec.marker("pid.json"), {"pid": pid, "start": start_time(pid), "watcher": os.getpid()})
    status = _wait(spec, pid, master, stdout, inside)
    if master is not None:
        _drain(master, stdout)
    _write_json(spec.marker("exit.json"), _ending(spec, pid, status))


def _wait(spec: Spec, pid: int, master: int | None, sink: int, inside: bool) -> int:
    """Wait for the job's main process, copying the terminal's output and killing the tree at the
    deadline; its wait status."""
    pidfd = os.pidfd_open(pid)
    expired = False
    try:
        if inside and not select.select([pidfd], [], [], LINGER_S)[0]:
            _leave(spec)
        while True:
            timeout = None
            if spec.deadline is not None and not expired:
                timeout = max(0.0, spec.deadline - time.time())
            ready, _, _ = select.select([pidfd] + ([master] if master is not None else []), [], [], timeout)
            if master is not None and master in ready and not _pump(master, sink):
                master = None
            if pidfd in ready:
                return os.waitpid(pid, 0)[1]
            if not expired and spec.deadline is not None and time.time() >= spec.deadline:
                expired = True
                spec.marker("timed_out").touch()
                _leave(spec)
                spec.tree.kill(pgid=pid)
    finally:
        os.close(pidfd)


def _leave(spec: Spec) -> None:
    """The watcher out of the job's cgroups (back where the daemon sits), once."""
    if spec.marker(LEFT_MARKER).exists():
        return
    for home in spec.home:
        with contextlib.suppress(OSError):
            Path(home, "cgroup.procs").write_text("0")
    spec.marker(LEFT_MARKER).touch()


def _ending(spec: Spec, pid: int, status: int) -> dict[str, object]:
    """How the job ended: exit code or signal, OOM kills, what it left running (and what was done)."""
    code = os.waitstatus_to_exitcode(status)
    me = None if spec.marker(LEFT_MARKER).exists() else os.getpid()
    ending: dict[str, object] = {
        "exit_code": code if code >= 0 else None,
        "signal": -code if code < 0 else None,
        "ended_at": time.time(),
        "oom_kills": spec.tree.oom_kills(),
        "left": [],
        "left_count": 0,
        "left_killed": False,
        "tree_gone": None,
    }
    if spec.marker("timed_out").exists() or spec.marker("cancelled").exists():
        ending["tree_gone"] = spec.tree.gone(pgid=pid, spare=me)
        return ending
    left = [p for p in spec.tree.pids() if p != me]
    ending["left"] = [{"pid": p, "command": command_line(p)} for p in left[:LEFT_SHOWN]]
    ending["left_count"] = len(left)
    if left and spec.leftovers == "kill":
        ending["left_killed"] = spec.tree.gone(pgid=pid, spare=me)
    return ending


def _exec_job(spec: Spec, streams: tuple[int | None, int, int], join: bool) -> NoReturn:
    """In the job's process: its own session (and cgroups), its streams, its user; then the command."""
    try:
        os.setsid()
        if join:
            spec.tree.join()
        _write_file("/proc/self/oom_score_adj", OOM_SCORE_ADJ)
        if spec.tty:
            fcntl.ioctl(streams[1], termios.TIOCSCTTY, 0)
        stdin = streams[0] if streams[0] is not None else os.open(os.devnull, os.O_RDONLY)
        for target, source in enumerate((stdin, streams[1], streams[2])):
            os.dup2(source, target)  # the copies are inheritable; every other descriptor closes on exec
        os.setgroups(spec.groups)
        os.setgid(spec.gid)
        os.setuid(spec.uid)
        for number in range(1, signal.NSIG):
            if number not in (signal.SIGKILL, signal.SIGSTOP):
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        try:
            os.chdir(spec.cwd)
        except OSError as exc:
            _fail(f"cannot enter the working directory {spec.cwd}: {exc.strerror}", 126)
        try:
            os.execvpe(spec.argv[0], spec.argv, spec.env)
        except OSError as exc:
            _fail(f"cannot run {spec.argv[0]}: {exc.strerror}", 127 if exc.errno == errno.ENOENT else 126)
    except BaseException:
        os._exit(125)


def _fail(message: str, code: int) -> NoReturn:
    try:
        os.write(2, f"sandboxd: {message}\n".encode())
    finally:
        os._exit(code)


def _pump(master: int, sink: int) -> bool:
    """Copy what the terminal has to the output file; False once the terminal is closed."""
    try:
        data = os.read(master, 65536)
    except OSError:
        return False
    if not data:
        return False
    while data:
        data = data[os.write(sink, data) :]
    return True


def _drain(master: int, sink: int, limit_s: float = 1.0) -> None:
    """What processes still write to the terminal just after the job ended (briefly)."""
    until = time.monotonic() + limit_s
    while time.monotonic() < until:
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready or not _pump(master, sink):
            return


def _set_name(name: str) -> None:
    _write_file("/proc/self/comm", name[:15])


def _write_file(path: str, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError:
        pass


def _write_json(path: Path, value: object) -> None:
    """Written whole or not at all (a reader never sees half of it)."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)

"""A job's own process: set up between fork and exec, in its own session and cgroups.

Moving a process into a cgroup waits for the kernel (an RCU grace period, milliseconds), so the
daemon keeps a spare: a child forked ahead of time that has already joined a fresh set of
cgroups and waits on a pipe for a job. Given one, the spare becomes it (its session, its output
files, its user, then exec): the job starts in its cgroups at once, and stays the daemon's child,
which reads its exit status. A job with a terminal, or one started while no spare is ready, is
forked directly and joins its cgroups itself.

Only system calls run in these children before exec (no lock of the daemon's is taken there).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import termios
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

from sandboxd.cgroups import Tree

OOM_SCORE_ADJ = "300"  # a job that runs the sandbox out of memory goes before its engine and this daemon


@dataclass(frozen=True, slots=True)
class Spec:
    """What to run, as whom, where; its output files are DIRECTORY/stdout and stderr."""

    id: str
    directory: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    groups: list[int]
    tty: bool
    tree: Tree

    def to_json(self) -> bytes:
        return json.dumps({**asdict(self), "tree": asdict(self.tree)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Spec:
        fields = json.loads(data)
        tree = fields.pop("tree")
        return cls(**fields, tree=Tree(tree["job_id"], tree["version"], tuple(tree["paths"])))


def spare(tree: Tree, source: int) -> NoReturn:
    """A spare (in the daemon's forked child): into `tree`'s cgroups now, then the job whose spec
    arrives on the pipe `source` (nothing: the daemon is gone, or it dropped this spare)."""
    try:
        _detach({source})
        tree.join()
        message = b""
        while chunk := os.read(source, 1 << 16):
            message += chunk
        if message[:1] == b"S":  # the spec itself
            become(Spec.from_json(message[1:]), join=False)
        elif message[:1] == b"F":  # the folder of a spec too long for the pipe (it may hold secrets)
            secret = Path(os.fsdecode(message[1:]), "spec.json")
            spec = Spec.from_json(secret.read_bytes())
            secret.unlink()
            become(spec, join=False)
    except BaseException:
        pass
    os._exit(125)


def direct(spec: Spec, terminal: int | None) -> NoReturn:
    """A job forked when it is asked for (the daemon's child): joins its cgroups itself; `terminal`
    is the pseudo-terminal's far end for a tty job."""
    try:
        _detach({terminal})
        become(spec, join=True, terminal=terminal)
    except BaseException:
        pass
    os._exit(125)


def become(spec: Spec, join: bool, terminal: int | None = None) -> NoReturn:
    """This process becomes the job: its own session (and cgroups), its streams, its user, the command."""
    os.setsid()
    if join:
        spec.tree.join()
    _write_file("/proc/self/oom_score_adj", OOM_SCORE_ADJ)
    if terminal is not None:
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
        streams = (terminal, terminal, terminal)
    else:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        streams = (
            os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC),
            os.open(Path(spec.directory, "stdout"), flags, 0o644),
            os.open(Path(spec.directory, "stderr"), flags, 0o644),
        )
    for target, source in enumerate(streams):
        os.dup2(source, target)  # the copies are inheritable; every other descriptor closes on exec
    try:  # as root, as crun exec does: a user who may not open the folder still starts in it
        os.chdir(spec.cwd)
    except OSError as exc:
        _fail(f"cannot enter the working directory {spec.cwd}: {exc.strerror}", 126)
    os.setgroups(spec.groups)
    os.setgid(spec.gid)
    os.setuid(spec.uid)
    for number in range(1, signal.NSIG):
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            with contextlib.suppress(OSError, ValueError):
                signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        os.execvpe(spec.argv[0], spec.argv, spec.env)
    except OSError as exc:
        _fail(f"cannot run {spec.argv[0]}: {exc.strerror}", 127 if exc.errno == errno.ENOENT else 126)
    os._exit(125)


def _detach(keep: set[int | None]) -> None:
    """Out of the daemon's signal handling, none of its files kept open but `keep`."""
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _fail(message: str, code: int) -> NoReturn:
    try:
        os.write(2, f"sandboxd: {message}\n".encode())
    finally:
        os._exit(code)


def _write_file(path: str, text: str) -> None:
    with contextlib.suppress(OSError), open(path, "w") as handle:
        handle.write(text)

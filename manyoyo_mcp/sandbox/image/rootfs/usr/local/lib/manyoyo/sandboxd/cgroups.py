"""Each job's own cgroup, below the sandbox proper's: what holds its whole process tree.

cgroup v2 (one hierarchy at /sys/fs/cgroup): a cgroup with controllers enabled for its children
may hold no process itself, so jobs are leaves of PARENT, which holds none, and this daemon stays
where inner-init put it. cgroup v1: a directory in each hierarchy of V1_HIERARCHIES that the
sandbox proper has mounted (the freezer stops a tree before it is killed, memory counts OOM
kills). Without either (a hierarchy that cannot be written), a job's tree is its process group
and the processes carrying its marker variable (see Tree).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "manyoyo-jobs"
V1_HIERARCHIES = ("freezer", "memory")
V2_CONTROLLERS = ("memory", "pids")
MARKER = "MANYOYO_EXEC_ID"


def version(root: Path = ROOT) -> int:
    """2 for the unified hierarchy, 1 for v1 hierarchies, 0 when none can be used."""
    if (root / "cgroup.controllers").exists():
        return 2
    return 1 if any((root / name / "cgroup.procs").exists() for name in V1_HIERARCHIES) else 0


def prepare(root: Path = ROOT) -> int:
    """Make PARENT where jobs' cgroups go (v2: with the controllers it may hand down); the version used."""
    found = version(root)
    try:
        if found == 2:
            parent = root / PARENT
            parent.mkdir(exist_ok=True)
            offered = (parent / "cgroup.controllers").read_text().split()
            for controller in V2_CONTROLLERS:
                if controller in offered:
                    _write(parent / "cgroup.subtree_control", f"+{controller}")
        elif found == 1:
            for name in V1_HIERARCHIES:
                if (root / name / "cgroup.procs").exists():
                    (root / name / PARENT).mkdir(exist_ok=True)
    except OSError:
        return 0
    return found


def clean(version: int, root: Path = ROOT) -> None:
    """Remove the empty cgroups left under PARENT (spares of a daemon gone, jobs' trees)."""
    parents = [root / PARENT] if version == 2 else [root / name / PARENT for name in V1_HIERARCHIES]
    for parent in parents:
        for child in parent.iterdir() if parent.is_dir() else []:
            if child.is_dir():
                with contextlib.suppress(OSError):
                    os.rmdir(child)


@dataclass(frozen=True, slots=True)
class Tree:
    """A job's processes: its cgroup directories (none when cgroups cannot be used), its process
    group and its marker value (MARKER=<job id> in the environment of each of its processes)."""

    job_id: str
    version: int
    paths: tuple[str, ...]

    @classmethod
    def create(cls, job_id: str, cgroup_version: int, root: Path = ROOT) -> Tree:
        made: list[str] = []
        names = [""] if cgroup_version == 2 else list(V1_HIERARCHIES) if cgroup_version == 1 else []
        for name in names:
            path = root / name / PARENT / job_id if name else root / PARENT / job_id
            if path.parent.is_dir():
                try:
                    path.mkdir(exist_ok=True)
                    made.append(str(path))
                except OSError:
                    pass
        return cls(job_id, cgroup_version if made else 0, tuple(made))

    def join(self) -> None:
        """Move the calling process into every cgroup of the tree (in the job, before exec)."""
        for path in self.paths:
            _write(Path(path) / "cgroup.procs", "0")

    def pids(self) -> list[int]:
        """The tree's live processes (zombies are already gone)."""
        found: set[int] = set()
        for path in self.paths:
            try:
                found.update(int(p) for p in Path(path, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        if not self.paths:
            found.update(marked(self.job_id))
        return sorted(pid for pid in found if alive(pid))

    def kill(self, pgid: int | None = None) -> None:
        """SIGKILL every process of the tree: the cgroup at once where the kernel can (cgroup.kill),
        else frozen first so that nothing forks meanwhile; the process group while there is no cgroup."""
        if pgid and not self.paths:  # a cgroup is the whole tree; a group id may be reused once empty
            _signal_group(pgid)
        if self.version == 2 and self.paths and _write(Path(self.paths[0]) / "cgroup.kill", "1"):
            return
        with self._frozen():
            for pid in self.pids():
                _signal(pid)

    def oom_kills(self) -> int | None:
        """How many of the tree's processes the kernel's OOM killer killed; None when unknown."""
        for path in self.paths:
            name = "memory.events" if self.version == 2 else "memory.oom_control"
            if self.version == 1 and f"/memory/{PARENT}/" not in path + "/":
                continue
            try:
                for line in Path(path, name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
            except (OSError, ValueError):
                return None
        return None

    def remove(self) -> bool:
        """Remove the tree's cgroups (once empty); False if one is still in use."""
        removed = True
        for path in self.paths:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed

    def _frozen(self) -> _Freezer:
        for path in self.paths:
            if self.version == 2:
                return _Freezer(Path(path) / "cgroup.freeze", "1", "0")
            if f"/freezer/{PARENT}/" in path + "/":
                return _Freezer(Path(path) / "freezer.state", "FROZEN", "THAWED")
        return _Freezer(None, "", "")


class _Freezer:
    """Freezes a cgroup for the time of a kill (a frozen process cannot fork; SIGKILL waits for the thaw)."""

    def __init__(self, control: Path | None, freeze: str, thaw: str) -> None:
        self.control, self.freeze, self.thaw = control, freeze, thaw

    def __enter__(self) -> None:
        if self.control is not None and _write(self.control, self.freeze):
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        if self.control is not None:
            _write(self.control, self.thaw)


def alive(pid: int) -> bool:
    """A process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def marked(job_id: str) -> list[int]:
    """Processes whose environment carries MARKER=<job_id> (inherited by every descendant)."""
    needle = f"{MARKER}={job_id}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as environ:
                    if needle in environ.read().split(b"\0"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def start_time(pid: int) -> int | None:
    """A process's start time (clock ticks since boot): with its pid, who it is."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def command_line(pid: int, limit: int = 200) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")[:limit]


def _signal(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def _write(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, text.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)

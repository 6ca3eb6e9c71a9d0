"""A job as kept on disk, and the operator's bounds on jobs.

Each job is a directory JOBS_DIR/<id>: job.json (what runs, as whom, until when, its pid and
start time; never its environment, which may hold secrets), stdout and stderr (the job's own
streams, written by the job itself, so they outlive the daemon), the markers timed_out and
cancelled, and exit.json (how it ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandboxd.cgroups import Tree
from sandboxd.output import Stream

STREAMS = ("stdout", "stderr")
ARGV_SHOWN = 400  # characters of a job's command in listings


@dataclass(frozen=True, slots=True)
class Settings:
    """The operator's bounds (MANYOYO_* in the sandbox's environment): jobs kept, their bytes on
    disk, each output file's size (head and tail kept), and what a job leaves running."""

    max_count: int = 100
    max_bytes: int = 1 << 30
    output_max: int = 128 << 20
    leftovers: str = "report"

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> Settings:
        def number(name: str, default: int) -> int:
            try:
                return max(1, int(environ.get(name) or default))
            except ValueError:
                return default

        leftovers = environ.get("MANYOYO_JOB_LEFTOVERS", "report")
        default = cls()
        return cls(
            max_count=number("MANYOYO_JOBS_MAX_COUNT", default.max_count),
            max_bytes=number("MANYOYO_JOBS_MAX_BYTES", default.max_bytes),
            output_max=max(1 << 20, number("MANYOYO_JOB_OUTPUT_MAX_BYTES", default.output_max)),
            leftovers=leftovers if leftovers in ("report", "kill") else "report",
        )


class Job:
    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.id: str = meta["id"]
        self.dir = directory
        self.meta = meta
        self.tree = Tree(self.id, int(meta.get("cgroup", 0)), tuple(meta.get("cgroups", ())))
        self.exit: dict[str, Any] | None = None
        self.ended = asyncio.Event()
        self.cut: dict[str, tuple[int, int] | None] = {name: None for name in STREAMS}
        self.bytes_used = 0
        self.timer: asyncio.TimerHandle | None = None
        self.on_end: list[Callable[[], object]] = []
        """What to do once the job ended and its answer is out (stop copying its terminal)."""

    @property
    def running(self) -> bool:
        return self.exit is None

    @property
    def pid(self) -> int | None:
        pid = self.meta.get("pid")
        return pid if isinstance(pid, int) else None

    def marked(self, name: str) -> bool:
        return (self.dir / name).exists()

    def kill(self) -> None:
        """SIGKILL the job's whole tree (its process group too while it has no cgroup)."""
        self.tree.kill(pgid=self.pid)

    def stream(self, name: str) -> Stream:
        path = str(self.dir / name)
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        return Stream(path, size, self.cut[name])

    def finish(self, ending: dict[str, Any]) -> None:
        self.exit = ending
        self.ended.set()
        if self.timer is not None:
            self.timer.cancel()

    def view(self) -> dict[str, Any]:
        """The job as the server reads it (see sandbox/sandboxd.py there)."""
        ending = self.exit or {}
        oom = ending.get("oom_kills")
        view = {key: self.meta.get(key) for key in ("id", "tag", "cwd", "uid", "gid", "tty", "started_at", "deadline")}
        view.update(
            command=" ".join(self.meta.get("argv", []))[:ARGV_SHOWN],
            state="running" if self.running else "exited",
            pid=self.pid,
            ended_at=ending.get("ended_at"),
            exit_code=ending.get("exit_code"),
            signal=ending.get("signal"),
            timed_out=self.marked("timed_out"),
            cancelled=self.marked("cancelled"),
            oom_kills=oom,
            # killed by the OOM killer: itself, or the command a shell ran for it (exit 128 + SIGKILL)
            oom_killed=bool(oom) and (ending.get("signal") == 9 or ending.get("exit_code") == 137),
            left=ending.get("left", []),
            left_count=ending.get("left_count", 0),
            left_killed=ending.get("left_killed", False),
            killed=ending.get("tree_gone") is True,
            lost=bool(ending.get("lost")),
        )
        for name in STREAMS:
            stream = self.stream(name)
            view[name] = {"path": stream.path, "size": stream.size, "cut": list(stream.cut) if stream.cut else None}
        return view


def cut_of(meta: dict[str, Any], name: str) -> tuple[int, int] | None:
    found = meta.get(f"cut_{name}")
    return (int(found[0]), int(found[1])) if isinstance(found, list) and len(found) == 2 else None


def disk_use(directory: Path) -> int:
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: object) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)

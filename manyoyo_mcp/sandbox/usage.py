"""What a sandbox holds: its disk quota (from its label) and, while it runs, its disk use (the
outer container's view of the quota's filesystem), as list_sandboxes and status show them."""

from __future__ import annotations

from manyoyo_mcp.engine import Engine
from manyoyo_mcp.limits import Limits, format_memory
from manyoyo_mcp.models import DiskView
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.inside import PROPER_ROOT
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

DISK_MOUNT = "/run/manyoyo/disk"
"""Where the outer init mounts the quota's filesystem (outer-init's DISK_MOUNT)."""
# statvfs of the mount point only: nothing the sandbox proper controls is read or followed. Run as
# the sandbox proper's root, an unprivileged uid, all the same.
DF = ["sh", "-c", f"mountpoint -q {DISK_MOUNT} && exec df -B1 --output=size,used,avail {DISK_MOUNT}"]


def quota_of(sandbox: Sandbox) -> int | None:
    """The disk quota the sandbox was made with (its label); None: none."""
    value = sandbox.labels.get(ownership.DISK, "none")
    return int(value) if value.isdigit() else None


def limits_of(sandbox: Sandbox) -> Limits:
    """CPUs, memory and pids as the engine set them (an inspected sandbox), and its disk quota."""
    own = sandbox.limits
    return Limits(own.cpus, own.memory_bytes, own.pids, quota_of(sandbox))


async def disk_view(engine: Engine, sandbox: Sandbox) -> DiskView:
    """The sandbox's quota, and its use while it runs (read from its filesystem's own figures)."""
    quota = quota_of(sandbox)
    if quota is None:
        note = "sock mode: the host's engine holds what it writes" if sandbox.is_sock else "no disk quota"
        return DiskView(quota=None, quota_bytes=None, used_bytes=None, free_bytes=None, note=note)
    shown = format_memory(quota)
    if not sandbox.running:
        return DiskView(quota=shown, quota_bytes=quota, used_bytes=None, free_bytes=None, note="stopped")
    code, out, _ = await in_thread(engine.exec_run, sandbox.id, DF, PROPER_ROOT)
    figures = out.split()[-3:]
    if code != 0 or not all(f.isdigit() for f in figures):
        note = "no quota: this host gave the sandbox no loop device when it started"
        return DiskView(quota=None, quota_bytes=None, used_bytes=None, free_bytes=None, note=note)
    _, used, free = map(int, figures)
    return DiskView(quota=shown, quota_bytes=quota, used_bytes=used, free_bytes=free)

"""What a sandbox holds: its disk quota (from its label) and, while it runs, its disk use (the
outer container's view of the quota's filesystem), as list_sandboxes and status show them; and
whether a sandbox image can make a quota at all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import ImageMissing, PolicyDenied
from manyoyo_mcp.limits import Limits, format_memory
from manyoyo_mcp.models import DiskView
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.ceilings import over_total
from manyoyo_mcp.sandbox.inside import PROPER_ROOT, ProperState
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.service import SandboxService

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


async def image_makes_quotas(engine: Engine, settings: ServerSettings, image: str) -> bool:
    """Whether sandboxes of `image` can get the disk quota the operator wants (True when quotas are
    off: the image is no obstacle). An older image cannot: with quotas required that is
    ImageMissing, saying to rebuild it; otherwise (if-possible) its sandboxes go without one."""
    if settings.disk_quota == "off":
        return True
    labels = await in_thread(engine.image_labels, image)
    if labels is None or labels.get(ownership.IMAGE_DISK_QUOTA) == "loop":
        return True  # a missing image is reported by the engine-side checks
    if settings.disk_quota == "required":
        raise ImageMissing(
            f"the sandbox image {image!r} was built before disk quotas (it has no {ownership.IMAGE_DISK_QUOTA} label) "
            "and the operator requires one (MANYOYO_DISK_QUOTA=required): rebuild it with `manyoyo-mcp image "
            "build`, or set MANYOYO_DISK_QUOTA=if-possible"
        )
    return False


def disk_notices(asked: Limits, state: ProperState | None) -> list[str]:
    """What the agent should know when its sandbox got no disk quota although one was planned (a
    host without loop devices, under MANYOYO_DISK_QUOTA=if-possible)."""
    if asked.disk_bytes is not None and state is not None and state.disk.get("quota_bytes") is None:
        return [f"no disk quota: {str(state.disk.get('quota', 'none')).removeprefix('none: ')}"]
    return []


async def check_totals(service: SandboxService, limits: Limits, starting: str | None = None) -> None:
    """PolicyDenied (quota.total-<kind>) when a sandbox with `limits` would take the service's scope
    past its totals: CPUs, memory and pids of the running sandboxes, disk quotas of all of them.
    `starting`: the id of a stopped sandbox about to start again (its disk is counted already)."""
    owned = await service.owned()
    running = [limits_of(await service.inspect(s)) for s in owned if s.running and s.id != starting]
    disks = [quota_of(s) for s in owned if s.id != starting]
    problem = over_total(limits, running, disks, (await service.ceilings()).total)
    if problem is not None:
        raise PolicyDenied(rule_ids.QUOTA_TOTAL[problem[0]].id, problem[1])

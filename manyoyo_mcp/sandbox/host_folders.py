"""Host folders a sandbox is made with: the workspace and a profile's volumes, resolved and
checked on the host (the policy judged them before); the login name the workspace's owner gets
inside the sandbox, and what the agent is told about its workspace."""

from __future__ import annotations

import contextlib
import os
import pwd
from pathlib import Path
from typing import TYPE_CHECKING

from manyoyo_mcp.errors import InvalidArgument

if TYPE_CHECKING:
    from manyoyo_mcp.sandbox.inside import ProperState


def owner_name(workspace: str | None) -> str | None:
    """The login name of the workspace's owner when that is the user running the server (the
    owner's user inside the sandbox is named after it; otherwise the image's default name)."""
    with contextlib.suppress(KeyError, OSError):
        if workspace and os.stat(workspace).st_uid == os.getuid() != 0:
            return pwd.getpwuid(os.getuid()).pw_name
    return None


def resolve_workspace(path: str) -> str:
    """An existing host directory, as an absolute path with symlinks resolved."""
    return resolve_host_path(path, "workspace", directory=True)


def resolve_host_path(path: str, what: str, directory: bool = False) -> str:
    """An existing host folder (or file), absolute with symlinks resolved (judged by the policy before)."""
    if "\x00" in path:
        raise InvalidArgument(f"{what} path contains a NUL byte")
    kind = "directory" if directory else "file or directory"
    try:
        resolved = Path(os.path.expanduser(path)).resolve()
        found = resolved.is_dir() if directory else resolved.exists()
    except (OSError, RuntimeError) as exc:  # too long, a symlink loop, no permission on the way
        problem = getattr(exc, "strerror", None) or str(exc)
        message = f"{what} {path!r} cannot be used on the host ({problem}): give an existing {kind}"
        raise InvalidArgument(message) from exc
    if not found:
        raise InvalidArgument(f"{what} {path!r} is not an existing {kind} on the host")
    return str(resolved)


def notices_of(state: ProperState | None) -> list[str]:
    """What the agent should know about a new sandbox that differs from what it asked for."""
    if state is None or state.workspace_idmapped or state.user.uid != 0:
        return []
    return [
        "the workspace belongs to root and this host cannot id-map it (Linux 5.12+ on ext4, xfs or btrfs): "
        "it is readable here but only world-writable parts of it can be written"
    ]

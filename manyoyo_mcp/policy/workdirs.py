"""Working directories and build contexts are never inside /proc (pure; a rule of rules.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from manyoyo_mcp.policy import allowlists, rule_ids
from manyoyo_mcp.policy.calls import Decision, ToolCall, deny

if TYPE_CHECKING:
    from manyoyo_mcp.config.settings import ServerSettings

# Where each tool's working directory or context starts when it is relative.
_WORKDIR_BASES = {
    "exec": ("workdir", "/workspace"),
    "run_container": ("workdir", "/"),
    "build_image": ("context", "/workspace"),
}


def proc_workdir(call: ToolCall, settings: ServerSettings) -> Decision | None:
    """The refusal of a working directory or build context inside /proc (sandbox.proc-workdir), or None."""
    argument, base = _WORKDIR_BASES[call.tool]
    given = call.given(argument)
    if isinstance(given, str) and "\x00" not in given and given.strip():
        path = allowlists.sandbox_path(argument, given, base)
        if allowlists.in_proc(path):
            return proc_denial(argument, given, path)
    return None


def proc_denial(argument: str, given: str, path: str) -> Decision:
    """Why `given` (`path` once resolved) is refused as the `argument` of a call."""
    shown = f"{given!r}" + (f" (that is {path})" if path != given else "")
    return deny(
        rule_ids.PROC_WORKDIR,
        f"{argument} {shown} is inside /proc, which is never a working directory or build context: on a host whose "
        "runc is older than 1.1.12 a process started in /proc/self/fd/N reaches a host directory (CVE-2024-21626). "
        "Use a directory of the sandbox such as /workspace or /tmp",
    )

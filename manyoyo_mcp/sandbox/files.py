"""The file tools' service: write, read and list files inside a sandbox, as a user of the sandbox.

Every operation runs in the sandbox proper (never in the outer container, whose root must not
touch what the proper controls) as one small program of the sandbox's own python3
(file_program.py), sent as source text with its request as an argument and a write's content on
stdin: paths are resolved by the sandbox's kernel with the chosen user's permissions. The pure
parts (paths, modes, content, bounds) are checked here first, so that bad input is refused with
what is allowed before anything enters the sandbox.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from manyoyo_mcp.errors import EngineFailure, FileRefused, InvalidArgument
from manyoyo_mcp.sandbox.inside import Entry, SandboxUser
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

WORKSPACE = "/workspace"
MAX_DEPTH = 5
DEFAULT_ENTRIES = 1000
MAX_ENTRIES = 5000
MODE = re.compile(r"0?[0-7]{3}")
Encoding = Literal["utf-8", "base64"]


@cache
def program() -> str:
    """The source the sandbox's python3 runs (file_program.py), read once."""
    return (Path(__file__).parent / "file_program.py").read_text()


def sandbox_path(given: str, workdir: str = WORKSPACE, what: str = "path") -> str:
    """An absolute path inside the sandbox: `given` as it is when absolute, else relative to the
    workspace folder (`workdir`). InvalidArgument for an empty path or a NUL byte."""
    if not given or not given.strip():
        raise InvalidArgument(f"{what} is empty: give an absolute path in the sandbox, or one relative to {workdir}")
    if "\x00" in given:
        raise InvalidArgument(f"{what} contains a NUL byte")
    return given if given.startswith("/") else posixpath.join(workdir, given)


def parse_mode(mode: str | None) -> int | None:
    """An octal permission string ('644' or '0644') as a number; None stays None (keep or default)."""
    if mode is None:
        return None
    if not MODE.fullmatch(mode):
        raise InvalidArgument(
            f"mode {mode!r} is not a permission mode: give octal permission bits from '0000' to '0777', e.g. "
            "'0644' or '0755' (setuid, setgid and sticky bits only through exec `chmod`)"
        )
    return int(mode, 8)


def decode_content(content: str, encoding: Encoding) -> bytes:
    """The bytes to write: `content` as UTF-8 text, or decoded from base64 (strict: no stray characters)."""
    if encoding == "utf-8":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(
            f"content is not valid base64 ({exc}): give standard base64 (A-Z a-z 0-9 + /, '=' padding, no line "
            "breaks), or encoding 'utf-8' for text"
        ) from exc


@dataclass(frozen=True, slots=True)
class FileCall:
    """Where one operation runs: the sandbox's container, the way into its proper, the user."""

    engine: Engine
    container_id: str
    entry: Entry
    user: SandboxUser | None = None
    """None: the sandbox's default user (the workspace owner's)."""

    @property
    def workdir(self) -> str:
        return self.entry.state.workdir if self.entry.state is not None else WORKSPACE

    @property
    def user_name(self) -> str:
        return (self.user or self.entry.default_user).name


async def write_file(
    at: FileCall, path: str, data: bytes, *, mode: int | None = None, parents: bool = False
) -> dict[str, Any]:
    """Replace (or create) the file at `path` with `data` atomically; `mode` (default: an existing
    file's, else 0644), the missing folders made (0755) when `parents`. The written file's path,
    bytes, sha256, created, mode, uid and gid."""
    request = {"path": sandbox_path(path, at.workdir), "mode": mode, "parents": parents}
    return await _run(at, "write", request, data)


async def read_file(at: FileCall, path: str, offset: int, limit: int) -> dict[str, Any]:
    """At most `limit` bytes of the file at `path` from `offset`: path, size, offset, bytes,
    encoding, content, truncated, next_offset."""
    return await _run(at, "read", {"path": sandbox_path(path, at.workdir), "offset": offset, "limit": limit})


async def list_files(
    at: FileCall, path: str | None, pattern: str | None, depth: int, max_entries: int
) -> dict[str, Any]:
    """A folder's entries down to `depth`, or the matches of a glob `pattern` (one of the two):
    entries, truncated, unreadable."""
    if (path is None) == (pattern is None):
        raise InvalidArgument("give either path (a folder) or pattern (a glob such as '/workspace/**/*.py'), not both")
    request: dict[str, Any] = {"depth": depth, "max_entries": max_entries}
    if pattern is not None:
        request["pattern"] = sandbox_path(pattern, at.workdir, "pattern")
    else:
        request["path"] = sandbox_path(path or "", at.workdir)
    return await _run(at, "list", request)


async def _run(at: FileCall, op: str, request: dict[str, Any], stdin: bytes | None = None) -> dict[str, Any]:
    command = at.entry.command(["python3", "-c", program(), op, json.dumps(request)], user=at.user, env={})
    code, out, err = await in_thread(at.engine.exec_run, at.container_id, command.argv, command.user, stdin)
    return answer(code, out, err, at.user_name)


def answer(code: int, out: str, err: str, user: str) -> dict[str, Any]:
    """The program's answer as a dict; FileRefused for what the sandbox refused (with the user it
    ran as), EngineFailure when the program could not run."""
    try:
        data = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    except ValueError:
        data = None
    if code != 0 or not isinstance(data, dict):
        if code in (126, 127):
            raise EngineFailure("the file tools need python3 in the sandbox, which it does not have: use exec")
        problem = err.strip()[-500:] or out[-500:]
        raise EngineFailure(f"the file operation failed in the sandbox (exit {code}): {problem}")
    if not data.pop("ok", False):
        raise FileRefused(f"{data.get('message')} (as user {user}; {data.get('error')})")
    return data

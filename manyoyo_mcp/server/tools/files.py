"""The file tools: write_file, read_file, list_files inside a sandbox (sandbox/files.py does the work)."""

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from manyoyo_mcp.models import ListFilesResult, ReadFileResult, WriteFileResult
from manyoyo_mcp.sandbox import files
from manyoyo_mcp.sandbox.users import resolve_user
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.server.params import RunningSandbox, SandboxRef, User

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

PATHS = "absolute in the sandbox, or relative to /workspace"
Path = Annotated[str, Field(description=f"The file's path, {PATHS}.")]


async def _at(app: "App", target: Sandbox, user: str | None) -> files.FileCall:
    entry = await app.sandboxes.entry(target)
    who = await resolve_user(app.engine, target.id, entry, user) if user else None
    return files.FileCall(app.engine, target.id, entry, who)


def add_write_file(app: "App") -> None:
    @app.tool(title="Write a file in a sandbox", read_only=False, destructive=True, idempotent=True)
    async def write_file(
        sandbox: SandboxRef,
        path: Path,
        content: Annotated[str, Field(description="The file's whole new content: text, or base64 (see encoding).")],
        target: RunningSandbox,
        encoding: Annotated[
            Literal["utf-8", "base64"],
            Field(description="'utf-8' (default): content is text; 'base64': content is the bytes in base64."),
        ] = "utf-8",
        mode: Annotated[
            str | None,
            Field(description="Permission bits, octal: '0644', '0755' ... Default: an existing file's, else '0644'."),
        ] = None,
        parents: Annotated[
            bool, Field(description="Create missing parent folders (mode 0755). Default false: refused.")
        ] = False,
        user: User = None,
    ) -> WriteFileResult:
        """Create or replace a file inside a sandbox, atomically: a reader sees the old file or the new
        one, never a part (a temporary file in the same folder is renamed over it; a symlink's target is
        replaced). Runs as the workspace owner's user unless `user` says otherwise, with that user's
        permissions; root replacing an existing file keeps its owner. Content of up to the operator's
        ceiling (describe_policy: max_write_file_bytes, default 8 MiB). The audit log keeps its size and
        SHA-256, never the content."""
        data = files.decode_content(content, encoding)
        at = await _at(app, target, user)
        done = await files.write_file(at, path, data, mode=files.parse_mode(mode), parents=parents)
        return WriteFileResult(sandbox=target.name, user=at.user_name, **done)


def add_read_file(app: "App") -> None:
    cap = app.settings.output_cap_bytes

    @app.tool(title="Read a file in a sandbox", read_only=True, destructive=False, idempotent=True)
    async def read_file(
        sandbox: SandboxRef,
        path: Path,
        target: RunningSandbox,
        offset: Annotated[int, Field(ge=0, description="Start at this byte. Default 0.")] = 0,
        limit: Annotated[
            int | None, Field(ge=1, description=f"At most this many bytes. Default and most: {cap} (the result cap).")
        ] = None,
        user: User = None,
    ) -> ReadFileResult:
        """Read a regular file inside a sandbox, one page at a time: text comes back as it is
        (encoding 'utf-8'), other bytes (not UTF-8, or holding NUL bytes) as base64. `truncated` and
        `next_offset` say where the next page starts; a page never splits a UTF-8 character. Runs as
        the workspace owner's user unless `user` says otherwise."""
        at = await _at(app, target, user)
        done = await files.read_file(at, path, offset, limit or cap)
        return ReadFileResult(sandbox=target.name, **done)


def add_list_files(app: "App") -> None:
    @app.tool(title="List files in a sandbox", read_only=True, destructive=False, idempotent=True)
    async def list_files(
        sandbox: SandboxRef,
        target: RunningSandbox,
        path: Annotated[
            str | None, Field(description=f"A folder to list, {PATHS}. Default /workspace when no pattern.")
        ] = None,
        pattern: Annotated[
            str | None,
            Field(
                description=f"Instead of path: a glob, {PATHS}, e.g. '/workspace/src/**/*.py' (Python's glob: `**` "
                "matches any folders, names starting with '.' only when the pattern does)."
            ),
        ] = None,
        depth: Annotated[
            int, Field(ge=1, le=files.MAX_DEPTH, description="Folder levels to descend from path; 1: its entries.")
        ] = 1,
        max_entries: Annotated[
            int, Field(ge=1, le=files.MAX_ENTRIES, description="At most this many entries; `truncated` says if cut.")
        ] = files.DEFAULT_ENTRIES,
        user: User = None,
    ) -> ListFilesResult:
        """List a folder inside a sandbox (to a depth), or the paths a glob pattern matches: each entry's
        name, path, type (file, dir, symlink, other), size, mode and mtime. Symlinks are listed, not
        followed. Runs as the workspace owner's user unless `user` says otherwise."""
        at = await _at(app, target, user)
        folder = path if path is not None or pattern is not None else files.WORKSPACE
        done = await files.list_files(at, folder, pattern, depth, max_entries)
        return ListFilesResult(sandbox=target.name, **done)

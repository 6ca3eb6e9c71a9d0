"""The file tools' program, run INSIDE a sandbox (its proper) by the sandbox's own python3, as the
user the call chose: `python3 -c <this source> write|read|list <request JSON>`, the content of a
write on stdin. Paths are resolved by the sandbox's kernel with that user's permissions; nothing
here runs in the outer container. It prints one JSON object: {"ok": true, ...} or {"ok": false,
"error": <kind>, "message": ...}. Standard library only, and it imports nothing of the server:
it is sent as source text (sandbox/files.py).
"""

import base64
import contextlib
import datetime
import glob
import hashlib
import json
import os
import signal
import stat
import sys
import tempfile

DEADLINE_S = 30
"""A call that takes longer (a huge tree, a stuck file system) stops with an error."""
TYPES = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"))


class Refused(Exception):
    """A file operation the sandbox refused; `kind` is what went wrong, the message what to do."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _os_error(exc, path, user_hint):
    if isinstance(exc, FileNotFoundError):
        return Refused("not_found", f"{path} does not exist")
    if isinstance(exc, PermissionError):
        return Refused("permission_denied", f"permission denied on {path}: {user_hint}")
    if isinstance(exc, IsADirectoryError):
        return Refused("is_a_directory", f"{path} is a folder: list it with list_files")
    if isinstance(exc, NotADirectoryError):
        return Refused("not_a_directory", f"a part of {path} is not a folder")
    return Refused("os_error", f"{path}: {exc.strerror or exc}")


HINT = "run as a user who may (user='root', or the owner of the folder), or pick a path that user can reach"


def write(request, data):
    """Replace (or create) the file atomically: a temporary file in the same folder, renamed over it."""
    path = os.path.realpath(request["path"])  # a symlink's target is written, the link stays
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise Refused("not_a_directory", f"{folder} is not a folder, so {request['path']} cannot be written")
        if not request.get("parents"):
            raise Refused("not_found", f"the folder {folder} does not exist: pass parents=true to create it")
        try:
            os.makedirs(folder, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, folder, HINT) from None
    try:
        before = os.stat(path)
    except FileNotFoundError:
        before = None
    except OSError as exc:
        raise _os_error(exc, path, HINT) from None
    if before is not None and not stat.S_ISREG(before.st_mode):
        kind = "is_a_directory" if stat.S_ISDIR(before.st_mode) else "not_a_file"
        raise Refused(kind, f"{path} exists and is not a regular file: write_file replaces regular files only")
    mode = request.get("mode")
    if mode is None:
        mode = stat.S_IMODE(before.st_mode) if before is not None else 0o644
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _os_error(exc, folder, HINT) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if before is not None and os.geteuid() == 0:  # root keeps an existing file's owner
                os.fchown(out.fileno(), before.st_uid, before.st_gid)
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.rename(temporary, path)
    except BaseException as exc:
        os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _os_error(exc, path, HINT) from None
        raise
    after = os.stat(path)
    return {
        "path": path,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "created": before is None,
        "mode": f"{stat.S_IMODE(after.st_mode):04o}",
        "uid": after.st_uid,
        "gid": after.st_gid,
    }


def read(request):
    """At most `limit` bytes from `offset`: UTF-8 text, or base64 when the bytes are not text."""
    path, offset, limit = request["path"], request["offset"], request["limit"]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the call
    except OSError as exc:
        raise _os_error(exc, path, HINT) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise Refused("is_a_directory", f"{path} is a folder: list it with list_files")
        raise Refused("not_a_file", f"{path} is not a regular file (a device, FIFO or socket): only files are read")
    with os.fdopen(fd, "rb") as source:
        source.seek(offset)
        data = source.read(limit + 1)
    more = len(data) > limit
    data = data[:limit]
    text, data = _as_text(data, more)
    end = offset + len(data)
    return {
        "path": os.path.realpath(path),
        "size": max(info.st_size, end) if data else info.st_size,  # (a file may grow while it is read)
        "offset": offset,
        "bytes": len(data),
        "encoding": "utf-8" if text is not None else "base64",
        "content": text if text is not None else base64.b64encode(data).decode("ascii"),
        "truncated": more or end < info.st_size,
        "next_offset": end if (more or end < info.st_size) else None,
    }


def _as_text(data, more):
    """(text, bytes it covers) when `data` is UTF-8 without NUL; a character cut by the limit is left
    for the next page. (None, data) when it is not text."""
    if b"\0" in data:
        return None, data
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        if more and exc.reason == "unexpected end of data" and len(data) - exc.start < 4:
            return data[: exc.start].decode("utf-8"), data[: exc.start]
        return None, data


def list_files(request):
    """The entries under a folder down to `depth`, or those matching a glob pattern; at most `max_entries`."""
    limit, found, problems = request["max_entries"], [], []
    if request.get("pattern"):
        for match in glob.iglob(request["pattern"], recursive=True):
            if len(found) > limit:
                break
            if (entry := _entry(match)) is not None:
                found.append(entry)
        found.sort(key=lambda entry: entry["path"])
    else:
        top = request["path"]
        try:
            info = os.stat(top)
        except OSError as exc:
            raise _os_error(exc, top, HINT) from None
        if not stat.S_ISDIR(info.st_mode):
            raise Refused("not_a_directory", f"{top} is not a folder: read a file with read_file")
        _walk(top, request["depth"], limit, found, problems)
    return {"entries": found[:limit], "truncated": len(found) > limit, "unreadable": problems[:20]}


def _walk(folder, depth, limit, found, problems):
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        problems.append(f"{folder}: {exc.strerror or exc}")
        return
    for name in names:
        if len(found) > limit:
            return
        entry = _entry(os.path.join(folder, name))
        if entry is None:
            continue
        found.append(entry)
        if entry["type"] == "dir" and depth > 1:
            _walk(entry["path"], depth - 1, limit, found, problems)


def _entry(path):
    try:
        info = os.lstat(path)
    except OSError:
        return None  # gone since the folder was read
    kind = next((name for test, name in TYPES if test(info.st_mode)), "other")
    entry = {
        "name": os.path.basename(path.rstrip("/")) or path,
        "path": path,
        "type": kind,
        "size": info.st_size,
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "mtime": datetime.datetime.fromtimestamp(info.st_mtime, datetime.UTC).isoformat(timespec="seconds"),
    }
    if kind == "symlink":
        with contextlib.suppress(OSError):
            entry["target"] = os.readlink(path)
    return entry


def _stop(signum, frame):
    raise Refused("timed_out", f"the operation took longer than {DEADLINE_S} s: narrow the folder, depth or pattern")


def main(argv, stdin):
    """Run one operation; always one JSON line out (exit 0), unless Python itself fails."""
    signal.signal(signal.SIGALRM, _stop)
    signal.alarm(DEADLINE_S)
    os.umask(0o022)
    op, request = argv[1], json.loads(argv[2])
    try:
        if op == "write":
            result = write(request, stdin.read())
        elif op == "read":
            result = read(request)
        else:
            result = list_files(request)
        answer = {"ok": True, **result}
    except Refused as exc:
        answer = {"ok": False, "error": exc.kind, "message": str(exc)}
    finally:
        signal.alarm(0)  # (a caller that goes on, such as a test, keeps no pending alarm)
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main(sys.argv, sys.stdin.buffer)

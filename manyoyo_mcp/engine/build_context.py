"""A build context taken from inside a sandbox, re-packed for the sandbox's own engine.

The host engine hands out a directory as a tar whose entries start with the directory's name;
the builder wants them at the root. Entries are re-packed one by one (never unpacked on the
server's disk, so nothing in the sandbox can write outside a temporary file), the patterns of
`.dockerignore` are applied the way docker-py applies them, and inline files (an inline
Dockerfile) are added.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from docker.utils.build import PatternMatcher

from manyoyo_mcp.errors import InvalidArgument

SPOOL_IN_MEMORY = 16 * 1024 * 1024


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def dockerignore_patterns(text: str) -> list[str]:
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def repack_context(
    archive: Iterator[bytes],
    *,
    ignore_patterns: list[str],
    keep: set[str],
    extra_files: dict[str, bytes],
    max_bytes: int,
    exclude: frozenset[str] = frozenset(),
) -> tuple[IO[bytes], int]:
    """(tar file positioned at 0, entries) for the builder. Paths in `keep` are never ignored; paths
    in `exclude` (build secrets that lie in the context) always are."""
    matcher = PatternMatcher(ignore_patterns) if ignore_patterns else None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned open)
    total = entries = 0
    try:
        reader = io.BufferedReader(_ChunkReader(archive), 1 << 20)
        with (
            tarfile.open(fileobj=reader, mode="r|") as source,
            tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as packed,
        ):
            for member in source:
                _, _, relative = member.name.partition("/")
                if not relative or relative in extra_files or relative in exclude:
                    continue  # the directory itself, a file an inline one replaces, or a secret
                if matcher is not None and relative not in keep and matcher.matches(relative.rstrip("/")):
                    continue
                total += member.size
                if total > max_bytes:
                    raise InvalidArgument(
                        f"the build context is larger than the operator's cap of {max_bytes} bytes: list what "
                        "the build does not need (dependencies, build output, .git) in a .dockerignore file"
                    )
                member.name = relative
                if member.islnk():
                    member.linkname = member.linkname.partition("/")[2]
                packed.addfile(member, source.extractfile(member) if member.isfile() else None)
                entries += 1
            for name, data in extra_files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                packed.addfile(info, io.BytesIO(data))
                entries += 1
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, entries

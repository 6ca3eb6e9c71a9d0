"""Streams the engines hand out while work runs: an exec's output, a build's events, a container's
logs. Each can be cut from another thread (a timeout, a cancelled call) and then ends quietly."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import docker

from manyoyo_mcp.engine.errors import Mapped
from manyoyo_mcp.engine.exec_transport import abort_connections, end_response, read_frames


def start_exec(api: docker.APIClient, exec_id: str) -> Any:
    """Start an exec attached, without a TTY; the upgraded response carries its framed output."""
    response = api._post_json(
        api._url("/exec/{0}/start", exec_id),
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        data={"Tty": False, "Detach": False},
        stream=True,
    )
    api._raise_for_status(response)
    return response


@dataclass(slots=True)
class ExecStream:
    """A running exec: iterate `chunks` for (stream, bytes) with stream 1 = stdout, 2 = stderr.

    Frames are read from the response's buffered reader, not its raw socket (as docker-py does):
    output that arrived together with the response headers sits in that buffer, and reading
    around it loses it (seen with a TCP host engine and a quick command).
    """

    exec_id: str
    _response: Any

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        return read_frames(self._response.raw._fp.fp.read)

    def feed(self, data: bytes) -> None:
        """Write `data` to the command's stdin (an exec created with stdin), then end its input."""
        sock = self._response.raw._fp.fp.raw._sock
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    def feed_from(self, chunks: Iterable[bytes]) -> int:
        """Write `chunks` to the command's stdin as they come (an exec created with stdin, its output
        read meanwhile by another thread), then end its input. A command that exits, or a stream
        closed, before all of it is written ends the feeding quietly. Returns the bytes written."""
        sock = self._response.raw._fp.fp.raw._sock
        written = 0
        try:
            for chunk in chunks:
                sock.sendall(chunk)
                written += len(chunk)
            sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):  # the other side went away, or the stream was closed
            pass
        return written

    def close(self) -> None:
        """End the stream, waking a thread blocked reading it."""
        end_response(self._response)


class BuildStream:
    """The decoded JSON events of a build in progress. `abort()` (any thread) stops reading."""

    def __init__(self, response: Any, api: docker.APIClient, mapped: Mapped) -> None:
        self._response = response
        self._api = api
        self._mapped = mapped

    def events(self) -> Iterator[dict[str, Any]]:
        with self._mapped():
            for line in self._response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def abort(self) -> None:
        abort_connections(self._api)


class LogStream:
    """A container's output as (stream, bytes), stream 1 = stdout and 2 = stderr."""

    def __init__(self, response: Any, mapped: Mapped) -> None:
        self._response = response
        self._mapped = mapped
        self._closed = False

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Ends when the engine ends the stream, or quietly once `close()` cut it (from any thread:
        the reader then fails in whatever way http.client does mid-read)."""
        try:
            with self._mapped():
                yield from read_frames(self._response.raw.read)
        except Exception:
            if not self._closed:
                raise

    def close(self) -> None:
        self._closed = True
        end_response(self._response)

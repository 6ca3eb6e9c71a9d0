"""An HTTP transport to a sandbox's nested engine, tunnelled through `docker exec`.

Each connection runs `socat - UNIX-CONNECT:<socket>` inside the sandbox with stdin attached and
speaks HTTP over the exec's hijacked stream. The nested engine is thus reached through the
host engine's API alone: no port is published and no socket leaves the sandbox, so nobody but
the server gets a way in, and it works the same when the host engine is remote (DOCKER_HOST).

Without a TTY, Docker multiplexes the exec's output in frames (an 8-byte header: stream id,
three zero bytes, big-endian length); requests go up raw. `_FrameReader` strips the frames.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import docker
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

FRAME_HEADER = struct.Struct(">BxxxL")
_STDERR = 2


def read_frames(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) from a multiplexed stream read with `read(n)`: 1 = stdout, 2 = stderr."""
    while True:
        header = read(FRAME_HEADER.size)
        if len(header) < FRAME_HEADER.size:
            return
        stream, size = FRAME_HEADER.unpack(header)
        payload = read(size) if size else b""
        if payload:
            yield (2 if stream == _STDERR else 1), payload
        if len(payload) < size:
            return


def end_response(response: Any) -> None:
    """Close a streamed response, waking a thread blocked reading it (a plain close would not)."""
    with contextlib.suppress(Exception):
        response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


class _FrameReader(io.RawIOBase):
    """Reads the stdout payload of a multiplexed exec stream; stderr frames are dropped."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._left = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        # http.client closes the file of each response; the frame state must outlive it, since
        # the next response on this connection continues the same stream. The socket closes it.
        pass

    def _read_exactly(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def readinto(self, buffer: Any) -> int:
        while self._left == 0:
            header = self._read_exactly(FRAME_HEADER.size)
            if header is None:
                return 0
            stream, size = FRAME_HEADER.unpack(header)
            if stream == _STDERR:
                self._read_exactly(size)
                continue
            self._left = size
        chunk = self._sock.recv(min(len(buffer), self._left))
        buffer[: len(chunk)] = chunk
        self._left -= len(chunk)
        return len(chunk)


class _ExecSocket:
    """The slice of the socket interface that http.client and urllib3 use."""

    def __init__(self, sock: socket.socket, response: Any) -> None:
        self._sock = sock
        self._response = response  # the host API's upgraded response: owns the connection
        self._frames = _FrameReader(sock)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def makefile(self, *args: Any, **kwargs: Any) -> io.BufferedReader:
        # A reader per response, over the one frame reader of this connection. A response is
        # read whole before the next request goes out, so no reader holds another's bytes.
        return io.BufferedReader(self._frames)

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def setsockopt(self, *args: Any) -> None:
        pass

    def close(self) -> None:
        self._sock.close()
        self._response.close()

    def shutdown(self) -> None:
        """Wake any thread blocked reading this connection: it sees the end of the stream."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


def _connection_class(
    host_api: docker.APIClient,
    container_id: str,
    socket_path: str,
    user: str | None,
    opened: weakref.WeakSet[_ExecSocket],
) -> type[HTTPConnection]:
    class ExecConnection(HTTPConnection):
        def connect(self) -> None:
            created = host_api.exec_create(
                container_id,
                ["socat", "-", f"UNIX-CONNECT:{socket_path}"],
                stdin=True,
                stdout=True,
                stderr=True,
                user=user or "",
            )
            # exec_start(socket=True) drops the response that owns the connection (it is then
            # closed only by garbage collection); start the exec the same way but keep it.
            response = host_api._post_json(
                host_api._url("/exec/{0}/start", created["Id"]),
                headers={"Connection": "Upgrade", "Upgrade": "tcp"},
                data={"Tty": False, "Detach": False},
                stream=True,
            )
            raw = host_api._get_raw_response_socket(response)
            self.sock = _ExecSocket(getattr(raw, "_sock", raw), response)  # type: ignore[assignment]
            opened.add(self.sock)  # type: ignore[arg-type]

    return ExecConnection


class _ExecAdapter(HTTPAdapter):
    def __init__(self, host_api: docker.APIClient, container_id: str, socket_path: str, user: str | None) -> None:
        super().__init__()
        self._opened: weakref.WeakSet[_ExecSocket] = weakref.WeakSet()
        self._pool = HTTPConnectionPool("nested", maxsize=4)
        self._pool.ConnectionCls = _connection_class(host_api, container_id, socket_path, user, self._opened)

    def abort(self) -> None:
        """End every connection of this client, including ones a thread is blocked reading."""
        for sock in list(self._opened):
            sock.shutdown()

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> HTTPConnectionPool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()
        for sock in list(self._opened):  # connections dropped mid-response never return to the pool
            sock.close()


NESTED_URL = "tcp://nested:2375"
NESTED_TIMEOUT_S = 60
"""How long a sandbox's engine may take to answer one request (streams and long requests say
otherwise per request: engine/nested.py)."""


def nested_api_client(
    host_api: docker.APIClient, container_id: str, socket_path: str, user: str | None = None
) -> docker.APIClient:
    """A docker-py client for the engine listening on `socket_path` inside `container_id`; the
    tunnel runs as `user` ("uid:gid"; default the container's root)."""
    client = docker.APIClient(base_url=NESTED_URL, version="1.41", timeout=NESTED_TIMEOUT_S)
    client.mount("http://nested:2375", _ExecAdapter(host_api, container_id, socket_path, user))
    return client


def abort_connections(client: docker.APIClient) -> None:
    """Cut every connection of a client made by `nested_api_client` (a stuck build, a log stream)."""
    adapter = client.get_adapter("http://nested:2375")
    if isinstance(adapter, _ExecAdapter):
        adapter.abort()

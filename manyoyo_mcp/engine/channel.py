"""HTTP to a unix socket inside a container, over persistent exec tunnels (see exec_transport).

A `Channel` keeps the connections to one socket: each is a `socat` exec with stdin attached (run
as an unprivileged uid), made once and reused for every request until it fails, so a request
costs one round trip through the engine's hijacked stream instead of an exec. Nothing here trusts
the other end: answers are bounded in size and time, anything unexpected drops the connection
and raises ChannelError.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import requests.exceptions

from manyoyo_mcp.engine.errors import api_error
from manyoyo_mcp.engine.exec_transport import _ExecSocket
from manyoyo_mcp.errors import ChannelError, ObjectConflict, ObjectNotFound

MAX_ANSWER = 8 << 20
IDLE_KEPT = 2


class _Stale(Exception):
    """The other end closed the connection before answering (the cause says how)."""


class _Connection(http.client.HTTPConnection):
    def __init__(self, open_socket: Any) -> None:
        super().__init__("sandbox")
        self._open_socket = open_socket

    def connect(self) -> None:
        self.sock = self._open_socket()
        self.sock.settimeout(self.timeout)


class Channel:
    """Requests to the unix socket `socket_path` in `container_id`, the tunnel run as `user`."""

    def __init__(self, api: Callable[[], docker.APIClient], container_id: str, socket_path: str, user: str) -> None:
        self._api = api
        self._container = container_id
        self._argv = ["socat", "-", f"UNIX-CONNECT:{socket_path}"]
        self._user = user
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout_s: float = 10.0
    ) -> tuple[int, dict[str, Any]]:
        """One request: (HTTP status, JSON object answered). Raises ChannelError.

        A kept connection the other end closed meanwhile (the service or its container restarted)
        is replaced by a new one and the request sent again, once: requests must be safe to repeat."""
        connection, kept = self._take()
        closed: BaseException | None = None
        for attempt in (connection, _Connection(self._open)) if kept else (connection,):
            try:
                return self._exchange(attempt, method, path, body, timeout_s)
            except _Stale as stale:
                closed = stale.__cause__
        raise ChannelError(f"the other end closed the connection ({type(closed).__name__}: {closed})") from closed

    def _exchange(
        self, connection: _Connection, method: str, path: str, body: dict[str, Any] | None, timeout_s: float
    ) -> tuple[int, dict[str, Any]]:
        answered = False
        try:
            connection.timeout = timeout_s
            if connection.sock is not None:
                connection.sock.settimeout(timeout_s)
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers=headers)
            answer = connection.getresponse()
            answered = True
            length = answer.getheader("Content-Length")
            if length is None or not length.isdigit() or int(length) > MAX_ANSWER:
                raise ChannelError(f"an answer of unexpected length ({length!r})")
            value = json.loads(answer.read())
            if not isinstance(value, dict):
                raise ChannelError("an answer that is not a JSON object")
        except (ObjectNotFound, ObjectConflict):  # the container itself is gone or stopped
            self._drop(connection)
            raise
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected) as exc:
            self._drop(connection)
            if answered:
                raise ChannelError(f"{type(exc).__name__}: {exc}") from exc
            raise _Stale() from exc
        except (
            OSError,
            http.client.HTTPException,
            ValueError,
            RecursionError,  # JSON nested past what the parser follows
            requests.exceptions.RequestException,
        ) as exc:
            self._drop(connection)
            raise ChannelError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        except BaseException:
            self._drop(connection)
            raise
        self._give_back(connection)
        return answer.status, value

    def close(self) -> None:
        """Close every idle connection; one in use closes when its request ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self) -> tuple[_Connection, bool]:
        """A kept connection (True), else a new one (False)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return _Connection(self._open), False

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_KEPT:
                self._idle.append(connection)
                return
        connection.close()

    @staticmethod
    def _drop(connection: _Connection) -> None:
        with contextlib.suppress(Exception):
            if connection.sock is not None:
                connection.sock.shutdown()
        with contextlib.suppress(Exception):
            connection.close()

    def _open(self) -> _ExecSocket:
        """A new tunnel: `socat` between the exec's stdin/stdout and the socket."""
        try:
            api = self._api()
            created = api.exec_create(
                self._container, self._argv, stdin=True, stdout=True, stderr=True, user=self._user
            )
            response = api._post_json(
                api._url("/exec/{0}/start", created["Id"]),
                headers={"Connection": "Upgrade", "Upgrade": "tcp"},
                data={"Tty": False, "Detach": False},
                stream=True,
            )
            api._raise_for_status(response)
        except docker.errors.DockerException as exc:
            mapped = api_error(exc)
            if isinstance(mapped, ObjectNotFound | ObjectConflict):
                raise mapped from exc
            raise ChannelError(f"the tunnel could not start: {exc}") from exc
        raw = api._get_raw_response_socket(response)
        sock: socket.socket = getattr(raw, "_sock", raw)
        return _ExecSocket(sock, response)

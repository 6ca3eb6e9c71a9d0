"""The channel to a service inside a sandbox (engine/channel.py), against a local unix socket
standing in for the exec tunnel: one connection reused, answers bounded, a broken one dropped."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from manyoyo_mcp.engine.channel import MAX_ANSWER, Channel
from manyoyo_mcp.errors import ChannelError


class Service:
    """A unix-socket server answering each request with the next scripted raw answer."""

    def __init__(self, path: Path, answers: list[bytes]) -> None:
        self.path = str(path)
        self.answers = answers
        self.connections = 0
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self.server.close()

    def _serve(self) -> None:
        while self.answers:
            connection, _ = self.server.accept()
            self.connections += 1
            with connection, connection.makefile("rb") as reader:
                while self.answers:
                    if not reader.readline():
                        break
                    length = 0
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    reader.read(length)
                    connection.sendall(self.answers.pop(0))


def answer(body: bytes, status: str = "200 OK", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\n\r\n".encode() + body


class LocalChannel(Channel):
    def __init__(self, path: str) -> None:
        super().__init__(lambda: None, "container", path, "1000000:1000000")  # type: ignore[arg-type,return-value]
        self.path = path

    def _open(self):  # type: ignore[no-untyped-def]
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        return sock


@pytest.fixture
def serve(tmp_path):
    made: list[Service] = []

    def make(answers: list[bytes]) -> Service:
        made.append(Service(tmp_path / f"s{len(made)}.sock", answers))
        return made[-1]

    yield make
    for service in made:
        service.close()


def test_requests_reuse_one_connection(serve):
    service = serve([answer(b'{"n":1}'), answer(b'{"n":2}', "201 Created")])
    channel = LocalChannel(service.path)
    assert channel.request("GET", "/v1/health") == (200, {"n": 1})
    assert channel.request("POST", "/v1/jobs", {"id": "x"}) == (201, {"n": 2})
    assert service.connections == 1
    channel.close()


@pytest.mark.parametrize(
    "raw",
    [
        answer(b"not json"),
        answer(b"[1, 2]"),
        answer(b"{}", length=MAX_ANSWER + 1),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"garbage\r\n\r\n",
        answer(b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=["not-json", "not-an-object", "too-long", "no-length", "not-http", "nested-too-deep"],
)
def test_an_answer_that_is_not_a_bounded_json_object_is_a_channel_error_and_drops_the_connection(serve, raw):
    service = serve([raw, answer(b'{"ok":true}')])
    channel = LocalChannel(service.path)
    with pytest.raises(ChannelError):
        channel.request("GET", "/v1/health")
    assert channel.request("GET", "/v1/health") == (200, {"ok": True})  # a new connection
    assert service.connections == 2
    channel.close()


def test_a_silent_service_is_a_channel_error_after_the_timeout(tmp_path):
    path = tmp_path / "s.sock"
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(str(path))
    silent.listen()
    with silent, pytest.raises(ChannelError, match="timed out"):
        LocalChannel(str(path)).request("GET", "/v1/health", timeout_s=0.2)


def test_a_missing_socket_is_a_channel_error(tmp_path):
    with pytest.raises(ChannelError):
        LocalChannel(str(tmp_path / "none.sock")).request("GET", "/v1/health")


def test_a_kept_connection_closed_by_the_other_end_is_replaced_and_the_request_sent_again(serve, tmp_path):
    service = serve([answer(b'{"n":1}')])
    channel = LocalChannel(service.path)
    assert channel.request("GET", "/v1/health") == (200, {"n": 1})
    service.close()  # the service restarts: a new one at the same path, the kept connection dead
    Path(service.path).unlink()
    again = serve([answer(b'{"n":2}')])
    channel.path = again.path
    assert channel.request("GET", "/v1/health") == (200, {"n": 2})
    channel.close()


def test_a_service_that_is_gone_is_a_channel_error_even_after_the_retry(serve, tmp_path):
    service = serve([answer(b'{"n":1}')])
    channel = LocalChannel(service.path)
    assert channel.request("GET", "/v1/health") == (200, {"n": 1})
    closing = serve([b""])  # accepts, then closes without an answer
    channel.path = closing.path
    with pytest.raises(ChannelError, match="closed the connection"):
        channel.request("GET", "/v1/health")
    channel.close()

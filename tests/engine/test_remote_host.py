"""The nested tools when the host engine is reached over TCP (DOCKER_HOST=tcp://...), as a remote one
would be: a local TCP forwarder to the engine's socket stands in for the network."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator

import pytest
from mcp import Client

from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call

pytestmark = pytest.mark.anyio


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _forward(client: socket.socket) -> None:
    with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
        upstream.connect("/var/run/docker.sock")
        back = threading.Thread(target=_pipe, args=(upstream, client))
        back.start()
        _pipe(client, upstream)
        back.join()


@pytest.fixture
def tcp_engine() -> Iterator[str]:
    """tcp://127.0.0.1:PORT forwarding every connection to /var/run/docker.sock."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    open_connections: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                open_connections.append(client)
                threading.Thread(target=_forward, args=(client,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{port}"
    listener.close()
    for connection in open_connections:  # ends their forwarders, which close both ends
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)


async def test_build_run_and_list_work_through_a_tcp_host_engine(settings, tcp_engine):
    remote = settings.model_copy(update={"docker_host": tcp_engine, "loadable_images": (TESTBOX,)})
    engine = Engine(tcp_engine)
    name = f"tcp-{secrets.token_hex(2)}"
    try:
        async with Client(build_server(remote, engine)) as client:
            await call(client, "create_sandbox", {"name": name})
            await call(client, "load_image", {"sandbox": name, "image": TESTBOX})
            built = await call(
                client,
                "build_image",
                {"sandbox": name, "dockerfile": f"FROM {TESTBOX}\nRUN echo over-tcp > /m\n", "tag": "t:1"},
            )
            ran = await call(client, "run_container", {"sandbox": name, "image": "t:1", "command": "cat /m"})
            listed = await call(client, "list_nested", {"sandbox": name})
            await call(client, "remove_sandbox", {"sandbox": name})
    finally:
        engine.close()
    assert built["steps"] == 2 and ran["stdout"] == "over-tcp\n"
    assert any("t:1" in tag for image in listed["images"] for tag in image["tags"])

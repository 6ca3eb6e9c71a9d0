"""What the network reach test aims at, all made by the test on this machine (never a public address,
a metadata address or anything it did not create): listeners on the host bound to 0.0.0.0/:: and
127.0.0.1, and "the internet": a network namespace of the test's, routed through the host, at an
address of TEST-NET-2 (198.51.100.0/24, RFC 5737: documentation only, never routed publicly), which
public mode does not refuse and an allowlist can name. Every listener answers with a token, so a
probe counts as reached only when the token came back."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

# Runs in the namespace: TCP listeners answering HTTP with the token, and a UDP port that records
# every datagram it gets (the raw-socket probes are judged by what arrives there).
INTERNET_SERVER = r"""
import socket, sys, threading
token, record = sys.argv[1], sys.argv[2]
ports = [int(p) for p in sys.argv[3].split(",")]
udp_port = int(sys.argv[4])
def serve(port):
    server = socket.create_server(("0.0.0.0", port), reuse_port=False, backlog=64)
    while True:
        conn, _ = server.accept()
        conn.settimeout(1)
        request = b""
        try:  # the whole request first: a proxy may send it in pieces
            while b"\r\n\r\n" not in request and (chunk := conn.recv(4096)):
                request += chunk
        except OSError:
            pass
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + token.encode() + b"\n")
        conn.close()
for port in ports:
    threading.Thread(target=serve, args=(port,), daemon=True).start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", udp_port))
print("ready", flush=True)
while True:
    data, peer = udp.recvfrom(4096)
    with open(record, "a") as f:
        f.write(f"{peer[0]} {data.decode(errors='replace')}\n")
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Internet:
    address: str
    host_side: str
    open_port: int
    closed_port: int
    udp_port: int
    record: Path

    def received(self) -> str:
        return self.record.read_text() if self.record.exists() else ""


@contextlib.contextmanager
def internet(token: str) -> Iterator[Internet]:
    """A namespace at 198.51.100.(4k+2), routed through the host's side (4k+1), with listeners."""
    suffix = secrets.token_hex(3)
    namespace, host_if, inner_if = f"mnr-{suffix}", f"mnr{suffix}h", f"mnr{suffix}n"
    base = 4 * (1 + secrets.randbelow(60))
    host_side, address = f"198.51.100.{base + 1}", f"198.51.100.{base + 2}"
    record = Path(f"/tmp/{namespace}.udp")

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("netns", "add", namespace)
    process = None
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", inner_if, "netns", namespace)
        ip("addr", "add", f"{host_side}/30", "dev", host_if)
        ip("link", "set", host_if, "up")
        for args in (
            ("addr", "add", f"{address}/30", "dev", inner_if),
            ("link", "set", inner_if, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", host_side),
        ):
            ip("netns", "exec", namespace, "ip", *args)
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", INTERNET_SERVER, token, str(record),
             "8080,9090", "9091"],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        yield Internet(address, host_side, 8080, 9090, 9091, record)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            assert process.stdout is not None
            process.stdout.close()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        record.unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True, slots=True)
class HostListeners:
    any_port: int  # bound to :: (and 0.0.0.0) on the host
    loopback_port: int  # bound to 127.0.0.1
    exception_port: int  # bound to 0.0.0.0, excepted by the operator at one address
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


def _listen(address: str, family: int, token: str, stop: threading.Event) -> tuple[socket.socket, int]:
    server = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind((address, 0))
    server.listen(64)
    server.settimeout(0.2)

    def answer() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + token.encode() + b"\n")

    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


def host_addresses() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The host's own IPv4 and global IPv6 addresses (not loopback, not link-local)."""
    shown = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    v4, v6 = [], []
    for line in shown.splitlines():
        words = line.split()
        address = words[3].split("/")[0]
        if words[2] == "inet" and not address.startswith("127."):
            v4.append(address)
        elif words[2] == "inet6" and address != "::1" and not address.startswith("fe80"):
            v6.append(address)
    return tuple(v4), tuple(v6)


@contextlib.contextmanager
def host_listeners(token: str) -> Iterator[HostListeners]:
    stop = threading.Event()
    sockets = []
    try:
        try:
            any_socket, any_port = _listen("::", socket.AF_INET6, token, stop)
        except OSError:  # no IPv6 on this host
            any_socket, any_port = _listen("0.0.0.0", socket.AF_INET, token, stop)
        loopback, loopback_port = _listen("127.0.0.1", socket.AF_INET, token, stop)
        excepted, exception_port = _listen("0.0.0.0", socket.AF_INET, token, stop)
        sockets = [any_socket, loopback, excepted]
        v4, v6 = host_addresses()
        yield HostListeners(any_port, loopback_port, exception_port, v4, v6)
    finally:
        stop.set()
        for server in sockets:
            server.close()

"""The sandbox's root trying to get around its network rules (run in the sandbox proper as root by
tests/engine/test_network_reach.py, with CAP_NET_ADMIN over its own namespace): it flushes its
own iptables, adds routes to every private range and the host's IPv6 addresses, adds an interface
(macvlan on eth0) with a forged address, and sends packets with forged sources from a raw socket.
Afterwards the ordinary probes run again; here the routes that need those tricks are tried.
Prints "<route> REACHED|BLOCKED <detail>"; the raw-socket routes are judged by the test from what
the target received (printed as SENT)."""

import os
import socket
import struct
import subprocess
import sys

args = dict(a.split("=", 1) for a in sys.argv[1:])
token, internet, open_port, udp_port = args["token"], args["internet"], int(args["open_port"]), int(args["udp_port"])
FORGED = "10.123.0.9"  # outside the veth's /30 (whose .3 is its broadcast address)


def sh(*argv: str) -> None:
    subprocess.run(argv, capture_output=True)


def tricks() -> None:
    for table in ("filter", "nat", "mangle", "raw"):
        sh("iptables", "-t", table, "-F")
        sh("ip6tables", "-t", table, "-F")
    for chain in ("INPUT", "OUTPUT", "FORWARD"):
        sh("iptables", "-P", chain, "ACCEPT")
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
        sh("ip", "route", "replace", cidr, "via", "10.123.0.1", "dev", "eth0")
    sh("ip", "link", "add", "mv0", "link", "eth0", "type", "macvlan", "mode", "bridge")
    sh("ip", "addr", "add", f"{FORGED}/32", "dev", "mv0")
    sh("ip", "link", "set", "mv0", "up")
    sh("sysctl", "-w", "net.ipv6.conf.all.disable_ipv6=0")
    sh("ip", "-6", "addr", "add", "fd99::2/64", "dev", "eth0")
    sh("ip", "-6", "route", "add", "default", "dev", "eth0")


def tcp_from(source: str, address: str, port: int) -> str:
    try:
        with socket.create_connection((address, port), timeout=3, source_address=(source, 0)) as conn:
            used = conn.getsockname()[0]
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = conn.recv(4096)
        if used != source:
            return f"N/A the kernel sent from {used}, not {source}"
        return "REACHED" if token.encode() in data else f"BLOCKED answered without the token: {data[:40]!r}"
    except OSError as exc:
        return f"BLOCKED {exc}"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def raw_udp(source: str, destination: str, port: int, payload: bytes) -> str:
    """A UDP datagram built by hand (IP_HDRINCL): any source address the sender likes."""
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(source), socket.inet_aton(destination),
    )  # fmt: skip
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
            raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            raw.sendto(header + udp, (destination, 0))
        return "SENT"
    except OSError as exc:
        return f"BLOCKED could not send: {exc}"


tricks()
print(f"forged-source-tcp {tcp_from(FORGED, internet, open_port)} from {FORGED} (macvlan) to {internet}:{open_port}")
print(f"raw-true-source {raw_udp('10.123.0.2', internet, udp_port, f'{token}-true'.encode())}")
print(f"raw-forged-source {raw_udp(FORGED, internet, udp_port, f'{token}-forged'.encode())}")
print(f"agent-uid {os.getuid()}")

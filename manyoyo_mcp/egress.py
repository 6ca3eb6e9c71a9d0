"""A sandbox's egress: the modes, the ranges public mode refuses, and the destinations of an allowlist.

Pure: nothing is looked up. The rules are enforced in the sandbox's outer container (outer-init's
outer_network.py), where the agent's root cannot reach them; this module decides what they are.

Modes, narrowest first: `none` (no network at all), `allowlist` (only the listed destinations:
CIDR[:port][/proto] directly, host names for HTTP(S) through the sandbox's proxy), `public` (the
internet, but none of BLOCKED nor the engine host's own addresses). The operator sets a default
and a ceiling; an agent (or a run profile) may only narrow: a mode at most the ceiling, and an
allowlist whose entries are the operator's (MANYOYO_NETWORK_ALLOW) or, under a public ceiling,
public destinations. The operator's exceptions (MANYOYO_NETWORK_EXCEPTIONS) are reached in public
and allowlist modes even inside BLOCKED (one host service on one port, say).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NetworkMode = Literal["none", "allowlist", "public"]
MODES: tuple[NetworkMode, ...] = ("none", "allowlist", "public")  # narrowest first

# What public mode refuses, one range a line with what it is and where it is defined. Cloud
# metadata services sit inside them: 169.254.169.254 (AWS, GCP, Azure), fd00:ec2::254 (AWS),
# 100.100.100.200 (Alibaba), 192.0.0.192 (Oracle).
BLOCKED: tuple[tuple[str, str, str], ...] = (
    ("0.0.0.0/8", "this network", "RFC 1122"),
    ("10.0.0.0/8", "private", "RFC 1918"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT; Alibaba's metadata)", "RFC 6598"),
    ("127.0.0.0/8", "loopback", "RFC 1122"),
    ("169.254.0.0/16", "link-local (cloud metadata 169.254.169.254)", "RFC 3927"),
    ("172.16.0.0/12", "private (Docker's default bridges)", "RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments (Oracle's metadata)", "RFC 6890"),
    ("192.168.0.0/16", "private", "RFC 1918"),
    ("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ("224.0.0.0/4", "multicast", "RFC 5771"),
    ("240.0.0.0/4", "reserved, broadcast", "RFC 1112"),
    ("::/127", "unspecified, loopback", "RFC 4291"),
    ("::ffff:0:0/96", "IPv4-mapped (any IPv4 address)", "RFC 4291"),
    ("64:ff9b:1::/48", "local-use NAT64", "RFC 8215"),
    ("2002::/16", "6to4 (embeds any IPv4 address)", "RFC 3056"),
    ("fc00::/7", "unique local (AWS metadata fd00:ec2::254)", "RFC 4193"),
    ("fe80::/10", "link-local", "RFC 4291"),
    ("ff00::/8", "multicast", "RFC 4291"),
)
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(cidr) for cidr, _, _ in BLOCKED)

_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DESTINATION_FORM = (
    "an address or CIDR with an optional port and protocol (203.0.113.7, 198.51.100.0/24:443, "
    "[2001:db8::1]:53/udp), or a host name for HTTP(S) through the sandbox's proxy (registry.npmjs.org, "
    "*.debian.org)"
)


@dataclass(frozen=True, slots=True)
class Destination:
    """One allowlist or exception entry: a network (with an optional port and protocol), or a host name."""

    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None
    proto: str | None = None
    host: str | None = None

    @property
    def is_host(self) -> bool:
        return self.host is not None

    def rule(self) -> dict[str, object]:
        """The entry as outer_network.py takes it."""
        return {"cidr": str(self.network), "port": self.port, "proto": self.proto}

    def within(self, other: Destination) -> bool:
        """Whether every packet this entry lets through `other` lets through too."""
        if self.is_host or other.is_host:
            return self.is_host and other.is_host and _host_within(self.host or "", other.host or "")
        assert self.network is not None and other.network is not None
        return (
            self.network.version == other.network.version
            and self.network.subnet_of(other.network)  # type: ignore[arg-type]
            and (other.port is None or self.port == other.port)
            and (other.protocol is None or self.protocol == other.protocol)
        )

    @property
    def protocol(self) -> str | None:
        """tcp, udp, or None for both (a port without a protocol is TCP, as the rules write it)."""
        return self.proto or ("tcp" if self.port else None)

    def public(self) -> bool:
        """An address entry outside every BLOCKED range (host names are judged by the proxy's rules)."""
        return self.network is not None and not any(
            self.network.version == blocked.version and self.network.overlaps(blocked)  # type: ignore[arg-type]
            for blocked in BLOCKED_NETWORKS
        )


def _host_within(host: str, pattern: str) -> bool:
    return host == pattern or (pattern.startswith("*.") and fnmatch.fnmatchcase(host, pattern))


def parse_destination(text: str) -> Destination:
    """A Destination of `text` (DESTINATION_FORM); ValueError saying the form otherwise."""
    given = text.strip().lower()
    address, proto = given, None
    if address.endswith(("/tcp", "/udp")):
        address, proto = address[:-4], address[-3:]
    port_text = None
    if address.startswith("["):  # [v6]/len:port
        inside, _, rest = address[1:].partition("]")
        prefix, _, port_text = rest.partition(":")
        address = inside + prefix
    elif address.count(":") == 1:  # v4:port
        address, port_text = address.split(":")
    try:
        network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        network = None
    if network is not None:
        if port_text is not None and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise ValueError(f"{text!r}: the port must be 1-65535")
        return Destination(text, network=network, port=int(port_text) if port_text else None, proto=proto)
    if proto is None and _HOST_NAME.fullmatch(given) and not given.replace(".", "").isdigit():
        return Destination(text, host=given)
    raise ValueError(f"{text!r} is not a destination: use {DESTINATION_FORM}")


def parse_destinations(texts: tuple[str, ...] | list[str]) -> tuple[Destination, ...]:
    return tuple(parse_destination(text) for text in texts)


def wider(mode: NetworkMode, than: NetworkMode) -> bool:
    return MODES.index(mode) > MODES.index(than)


def outside(entry: Destination, operator: tuple[Destination, ...], ceiling: NetworkMode) -> bool:
    """Whether an agent's allowlist entry would widen what the operator allows: it is neither
    within one of the operator's entries nor, under a public ceiling, a public destination."""
    if ceiling == "none":
        return True
    if any(entry.within(mine) for mine in operator):
        return False
    if ceiling != "public":
        return True
    return not (entry.is_host or entry.public())


def host_addresses(lines: str) -> tuple[str, ...]:
    """The host's own addresses (as /32 and /128 networks) in `ip -o addr show` output."""
    found = []
    for line in lines.splitlines():
        words = line.split()
        for kind in ("inet", "inet6"):
            if kind in words and words.index(kind) + 1 < len(words):
                address = words[words.index(kind) + 1].split("/")[0]
                try:
                    found.append(str(ipaddress.ip_network(address)))
                except ValueError:
                    continue
    return tuple(dict.fromkeys(found))


class NetworkChoice(BaseModel):
    """The egress a call or a run profile asks for: a mode, and in allowlist mode its destinations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: NetworkMode = Field(
        description="none: no network. allowlist: only the listed destinations. public: the internet, but never "
        "the host, other sandboxes, private, loopback, link-local or cloud-metadata addresses."
    )
    allow: tuple[str, ...] = Field(
        (),
        description="allowlist mode only: the destinations, each " + DESTINATION_FORM + ". Empty: the "
        "operator's allowlist. Each must be on the operator's allowlist or, if the operator allows public "
        "mode, a public destination.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mode_alone(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _allow_needs_allowlist(self) -> NetworkChoice:
        if self.allow and self.mode != "allowlist":
            raise ValueError(f"`allow` lists destinations of allowlist mode; mode is {self.mode!r}")
        for entry in self.allow:
            parse_destination(entry)
        return self


def policy_hosts(entries: tuple[Destination, ...]) -> list[str]:
    """The host-name entries, as the proxy's filter and the resolver take them."""
    return [entry.host for entry in entries if entry.host is not None]

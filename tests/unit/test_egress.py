"""The egress vocabulary (pure): destinations as operators and agents write them, which ranges public
mode refuses, and when an agent's allowlist entry would widen the operator's (each attack with a
harmless twin)."""

from __future__ import annotations

import ipaddress

import pytest

from manyoyo_mcp.egress import BLOCKED, NetworkChoice, host_addresses, outside, parse_destination, parse_destinations


@pytest.mark.parametrize(
    ("text", "network", "port", "proto", "host"),
    [
        ("203.0.113.7", "203.0.113.7/32", None, None, None),
        ("198.51.100.0/24:443", "198.51.100.0/24", 443, None, None),
        ("192.0.2.1:53/udp", "192.0.2.1/32", 53, "udp", None),
        ("[2001:db8::1]:443", "2001:db8::1/128", 443, None, None),
        ("[2001:db8::]/32:443/tcp", "2001:db8::/32", 443, "tcp", None),
        ("2001:db8::1", "2001:db8::1/128", None, None, None),
        ("Registry.NPMJS.org", None, None, None, "registry.npmjs.org"),
        ("*.debian.org", None, None, None, "*.debian.org"),
    ],
)
def test_destinations_parse_as_written(text, network, port, proto, host):
    parsed = parse_destination(text)
    assert (str(parsed.network) if parsed.network else None, parsed.port, parsed.proto, parsed.host) == (
        network,
        port,
        proto,
        host,
    )


@pytest.mark.parametrize(
    "text",
    ["", "a b", "1.2.3.4:0", "1.2.3.4:65536", "host:80", "*.*.com", "a.*.com", "999.1.1.1", "[::1", "x/udp", "-a.com"],
)
def test_what_is_not_a_destination_is_refused_with_the_forms(text):
    with pytest.raises(ValueError, match=r"destination|port"):
        parse_destination(text)


# Each refused range with an address inside it, and a public twin next to it.
@pytest.mark.parametrize(
    ("inside", "twin"),
    [
        ("10.1.2.3", "11.1.2.3"),
        ("172.17.0.1", "172.32.0.1"),
        ("192.168.1.1", "192.169.1.1"),
        ("100.100.100.200", "100.128.0.1"),  # Alibaba's metadata / just past RFC 6598
        ("169.254.169.254", "169.255.0.1"),  # the metadata service of AWS, GCP, Azure
        ("127.0.0.53", "128.0.0.1"),
        ("0.0.0.0", "1.0.0.1"),
        ("192.0.0.192", "192.0.1.1"),  # Oracle's metadata
        ("198.18.0.1", "198.20.0.1"),
        ("224.0.0.1", "223.255.255.1"),
        ("::1", "2001:db8::1"),
        ("::ffff:10.0.0.1", "2001:db8::a00:1"),  # an IPv4-mapped private address
        ("fd00:ec2::254", "2600::1"),  # AWS's IPv6 metadata
        ("fe80::1", "2606:4700::1"),
        ("2002:a00:1::1", "2003::1"),  # 6to4 of 10.0.0.1
        ("64:ff9b:1::a00:1", "64:ff9b::1"),
    ],
)
def test_public_mode_refuses_every_private_loopback_link_local_and_metadata_range(inside, twin):
    assert not parse_destination(inside).public()
    assert parse_destination(twin).public()


def test_a_cidr_overlapping_a_refused_range_is_not_public():
    assert not parse_destination("8.0.0.0/4").public()  # covers 10.0.0.0/8
    assert parse_destination("8.8.8.0/24").public()


def test_every_refused_range_is_a_network_with_its_source():
    for cidr, what, source in BLOCKED:
        assert ipaddress.ip_network(cidr) and what and source.startswith("RFC")


OPERATOR = parse_destinations(("203.0.113.0/24:443", "registry.npmjs.org", "*.debian.org"))


@pytest.mark.parametrize(
    ("entry", "ceiling", "widens"),
    [
        ("203.0.113.7:443", "allowlist", False),  # inside the operator's CIDR and port
        ("203.0.113.7:80", "allowlist", True),  # another port
        ("203.0.113.7", "allowlist", True),  # every port
        ("203.0.0.0/16:443", "allowlist", True),  # wider than the operator's CIDR
        ("203.0.113.7:443/udp", "allowlist", True),  # the operator's is TCP
        ("registry.npmjs.org", "allowlist", False),
        ("deb.debian.org", "allowlist", False),  # under the operator's wildcard
        ("debian.org", "allowlist", True),  # the wildcard is for names under it
        ("evil-debian.org", "allowlist", True),
        ("pypi.org", "allowlist", True),
        ("pypi.org", "public", False),  # any name when public mode is allowed: the proxy refuses private ones
        ("198.51.100.1:443", "public", False),
        ("10.0.0.1:443", "public", True),  # never a private range, whatever the ceiling
        ("169.254.169.254", "public", True),
        ("[fd00:ec2::254]:80", "public", True),
        ("203.0.113.7:443", "none", True),
    ],
)
def test_an_agents_allowlist_entry_may_only_narrow_the_operators(entry, ceiling, widens):
    assert outside(parse_destination(entry), OPERATOR, ceiling) is widens


def test_a_network_choice_is_a_mode_or_a_mode_with_its_allowlist():
    assert NetworkChoice.model_validate("none") == NetworkChoice(mode="none")
    assert NetworkChoice.model_validate({"mode": "allowlist", "allow": ["pypi.org"]}).allow == ("pypi.org",)
    for bad in ({"mode": "public", "allow": ["pypi.org"]}, {"mode": "allowlist", "allow": ["a b"]}, "open"):
        with pytest.raises(ValueError):
            NetworkChoice.model_validate(bad)


def test_the_hosts_addresses_are_read_from_ip_addr():
    shown = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n"
        "2: eth0    inet6 2001:db8::2/64 scope global\n"
        "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n"
    )
    assert host_addresses(shown) == ("127.0.0.1/32", "192.0.2.2/32", "2001:db8::2/128", "172.17.0.1/32")

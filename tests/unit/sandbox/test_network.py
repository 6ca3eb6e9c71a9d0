"""A sandbox's network, planned (pure): what its outer container is told (sandbox/network.py), and the
rules outer-init's outer_network.py writes from that, read as iptables-restore lines."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import manyoyo_mcp
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.egress import NetworkChoice
from manyoyo_mcp.sandbox.network import effective_network, outer_settings

LIB = Path(manyoyo_mcp.__file__).parent / "sandbox" / "image" / "rootfs" / "usr" / "local" / "lib" / "manyoyo"
_spec = importlib.util.spec_from_file_location("outer_network", LIB / "outer_network.py")
assert _spec is not None and _spec.loader is not None
outer_network = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(outer_network)

INNER, OUTER = "10.123.0.2", "10.123.0.1"
SETTINGS = ServerSettings(
    network_allow=("registry.npmjs.org", "203.0.113.0/24:443"),
    network_exceptions=("192.0.2.10:5432",),
    network_proxy="http://proxy.example:3128",
)


@pytest.fixture(autouse=True)
def _resolvers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outer_network, "upstream_resolvers", lambda: ["127.0.0.11"])


def config(mode: str, allow: tuple[str, ...] = (), ports=()) -> dict:
    choice = effective_network(NetworkChoice(mode=mode, allow=allow), SETTINGS)
    return json.loads(outer_settings(choice, SETTINGS, ("192.0.2.2/32", "2001:db8::2/128"), ports))


def chain(lines: list[str], name: str) -> list[str]:
    return [line.removeprefix(f"-A {name} ") for line in lines if line.startswith(f"-A {name} ")]


def test_the_outer_container_is_told_the_mode_the_refused_ranges_and_the_hosts_addresses():
    told = config("public", ports=(("127.0.0.1", None, 3000, "tcp"),))
    assert told["mode"] == "public" and told["ports"] == [[3000, "tcp"]]
    assert {"10.0.0.0/8", "169.254.0.0/16", "fc00::/7", "192.0.2.2/32", "2001:db8::2/128"} <= set(told["blocked"])
    assert told["exceptions"] == [{"cidr": "192.0.2.10/32", "port": 5432, "proto": None}]
    assert told["upstream_proxy"] == "http://proxy.example:3128"


def test_an_allowlist_listing_nothing_is_the_operators():
    told = config("allowlist")
    assert told["hosts"] == ["registry.npmjs.org"]
    assert told["allow"] == [{"cidr": "203.0.113.0/24", "port": 443, "proto": None}]
    assert config("allowlist", ("pypi.org",))["hosts"] == ["pypi.org"]


def test_none_forwards_nothing_and_answers_nothing_from_the_sandbox():
    rules = outer_network.filter_rules(config("none"), 4, INNER, OUTER)
    assert all("ACCEPT" not in rule for rule in chain(rules, "MANYOYO-EGRESS"))
    assert not [r for r in chain(rules, "MANYOYO-IN") if "sbx0" in r and "ACCEPT" in r]


def test_public_refuses_the_blocked_ranges_after_the_operators_exceptions_only():
    rules = outer_network.filter_rules(config("public"), 4, INNER, OUTER)
    guard = chain(rules, "MANYOYO-GUARD")
    assert guard[0] == "-d 192.0.2.10/32 -p tcp --dport 5432 -j ACCEPT"
    assert "-d 169.254.0.0/16 -p tcp -j REJECT --reject-with tcp-reset" in guard
    assert "-d 192.0.2.2/32 -j REJECT --reject-with icmp-admin-prohibited" in guard
    assert not any("fc00::/7" in rule for rule in guard)  # the IPv6 ranges go to ip6tables
    assert chain(rules, "MANYOYO-PUBLIC") == ["-j MANYOYO-GUARD", "-j ACCEPT"]
    assert chain(rules, "MANYOYO-EGRESS")[0] == "-j MANYOYO-PUBLIC"


def test_only_the_sandboxs_own_address_leaves_and_only_the_resolver_is_answered():
    rules = outer_network.filter_rules(config("public"), 4, INNER, OUTER)
    forward = chain(rules, "MANYOYO-FWD")
    assert f"-i sbx0 -s {INNER} -j MANYOYO-EGRESS" in forward
    assert forward[-1] == "-j DROP" and all("-i sbx0 -j" not in r or "REJECT" in r for r in forward)
    accepted = [r for r in chain(rules, "MANYOYO-IN") if "sbx0" in r and "ACCEPT" in r]
    assert accepted == [f"-i sbx0 -s {INNER} -d {OUTER} -p {p} --dport 53 -j ACCEPT" for p in ("udp", "tcp")]


def test_allowlist_mode_reaches_its_entries_the_exceptions_and_the_proxy_only():
    rules = outer_network.filter_rules(config("allowlist"), 4, INNER, OUTER)
    assert chain(rules, "MANYOYO-EGRESS")[:2] == ["-j MANYOYO-GUARD", "-d 203.0.113.0/24 -p tcp --dport 443 -j ACCEPT"]
    assert "REJECT" in chain(rules, "MANYOYO-EGRESS")[-1]
    assert f"-i sbx0 -s {INNER} -d {OUTER} -p tcp --dport 3128 -j ACCEPT" in chain(rules, "MANYOYO-IN")
    # The proxy (nobody) reaches the resolvers, then only what public mode reaches, over TCP.
    assert chain(rules, "MANYOYO-NOBODY")[-3] == "-p tcp -j MANYOYO-PUBLIC"
    assert "-m owner --uid-owner 65534 -j MANYOYO-NOBODY" in chain(rules, "MANYOYO-OUT")


def test_nothing_is_forwarded_from_the_sandbox_over_ipv6():
    rules = outer_network.filter_rules(config("public"), 6, INNER, OUTER)
    forward = chain(rules, "MANYOYO-FWD")
    assert not any("ACCEPT" in r and "sbx0" in r for r in forward) and forward[-1] == "-j DROP"
    assert "-d fc00::/7 -j REJECT --reject-with icmp6-adm-prohibited" in chain(rules, "MANYOYO-GUARD")


def test_the_operators_published_ports_lead_to_the_sandbox_and_only_its_traffic_is_masqueraded():
    nat = outer_network.nat_rules(config("public", ports=(("127.0.0.1", None, 3000, "tcp"),)), INNER)
    assert f"-A MANYOYO-PRE ! -i sbx0 -p tcp --dport 3000 -j DNAT --to-destination {INNER}:3000" in nat
    assert f"-A MANYOYO-POST -s {INNER} ! -o sbx0 -j MASQUERADE" in nat


def test_the_sandbox_gets_the_proxy_of_its_mode():
    allowlist = outer_network.proper_environment(config("allowlist"), OUTER)
    assert allowlist["HTTPS_PROXY"] == allowlist["http_proxy"] == f"http://{OUTER}:3128"
    assert outer_network.proper_environment(config("public"), OUTER)["HTTP_PROXY"] == "http://proxy.example:3128"


def test_the_proxy_refuses_every_name_not_listed_and_forwards_to_the_operators():
    text = outer_network.proxy_config(config("allowlist"), OUTER, INNER)
    assert "FilterDefaultDeny Yes" in text and f"Allow {INNER}" in text and f"Listen {OUTER}" in text
    assert "Upstream http proxy.example:3128" in text


@pytest.mark.parametrize("raw", ["", "{", "[]", '{"mode": "open"}'])
def test_missing_or_unreadable_settings_mean_no_network(raw):
    assert outer_network.settings({"MANYOYO_NETWORK": raw}) == {"mode": "none"}

"""create_sandbox's `network` (and a run profile's) judged by the gate: a call may only narrow the
operator's egress; every decision names its rule and what is allowed."""

from __future__ import annotations

import pytest

from manyoyo_mcp.config.run_profiles import RunProfile
from manyoyo_mcp.config.settings import ServerSettings

from .test_rules import judge

OPERATOR = {"network_allow": ("203.0.113.0/24:443", "registry.npmjs.org", "*.debian.org")}


def _settings(ceiling: str = "public", **values) -> ServerSettings:
    return ServerSettings(allowed_host_roots=("/srv/projects",), network_ceiling=ceiling, **{**OPERATOR, **values})


@pytest.mark.parametrize(
    ("ceiling", "network", "rule"),
    [
        ("allowlist", "public", "network.ceiling"),
        ("none", "allowlist", "network.ceiling"),
        ("none", {"mode": "public"}, "network.ceiling"),
        ("public", {"mode": "allowlist", "allow": ["10.0.0.5:5432"]}, "network.allowlist"),
        ("public", {"mode": "allowlist", "allow": ["169.254.169.254"]}, "network.allowlist"),
        ("public", {"mode": "allowlist", "allow": ["[::1]:80"]}, "network.allowlist"),
        ("allowlist", {"mode": "allowlist", "allow": ["pypi.org"]}, "network.allowlist"),
        ("allowlist", {"mode": "allowlist", "allow": ["203.0.113.7"]}, "network.allowlist"),
    ],
)
def test_a_call_cannot_widen_the_operators_egress(ceiling, network, rule):
    decision = judge("create_sandbox", {"network": network}, _settings(ceiling))
    assert (decision.allowed, decision.rule) == (False, rule)
    assert "describe_policy" in decision.reason or "choose one of" in decision.reason


@pytest.mark.parametrize(
    ("ceiling", "network"),
    [
        ("public", "public"),
        ("public", "none"),
        ("allowlist", "allowlist"),
        ("allowlist", {"mode": "allowlist", "allow": ["203.0.113.7:443", "deb.debian.org"]}),
        ("public", {"mode": "allowlist", "allow": ["pypi.org", "198.51.100.0/24:443"]}),
        ("none", "none"),
    ],
)
def test_a_narrower_egress_is_allowed_and_said_so(ceiling, network):
    decision = judge("create_sandbox", {"network": network}, _settings(ceiling))
    assert (decision.allowed, decision.rule) == (True, "network.narrowed")


def test_leaving_the_network_out_leaves_it_to_the_operator():
    decision = judge("create_sandbox", {}, _settings("allowlist"))
    assert decision.allowed and decision.rule == "tool.create_sandbox"


def test_a_run_profiles_network_is_judged_like_the_agents():
    settings = _settings("allowlist", runs={"open": RunProfile(network="public")})
    decision = judge("create_sandbox", {"profile": "open"}, settings)
    assert (decision.allowed, decision.rule) == (False, "network.ceiling")
    assert judge("create_sandbox", {"profile": "open", "network": "none"}, settings).allowed


def test_a_malformed_network_is_refused_by_the_schema():
    decision = judge("create_sandbox", {"network": {"mode": "wide-open"}})
    assert (decision.allowed, decision.rule) == (False, "arguments.invalid")

"""A sandbox's network: the egress its call, run profile and operator decide (judged before, by the
policy's network rules), and what its outer container is told to enforce (outer-init's
outer_network.py reads it from MANYOYO_NETWORK). Pure: the host's addresses are looked up by the
service and passed in."""

from __future__ import annotations

import json

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.egress import BLOCKED, NetworkChoice, parse_destination, parse_destinations, policy_hosts
from manyoyo_mcp.sandbox import ownership


def effective_network(choice: NetworkChoice | None, settings: ServerSettings) -> NetworkChoice:
    """The egress a sandbox gets: the call's (or its profile's), else the operator's default; an
    allowlist listing nothing is the operator's allowlist."""
    chosen = choice or NetworkChoice(mode=settings.network_mode)
    if chosen.mode == "allowlist" and not chosen.allow:
        return NetworkChoice(mode="allowlist", allow=settings.network_allow)
    return chosen


def outer_settings(
    choice: NetworkChoice,
    settings: ServerSettings,
    host_addresses: tuple[str, ...],
    ports: tuple[tuple[str, int | None, int, str], ...],
) -> str:
    """MANYOYO_NETWORK: what the outer container enforces, as JSON."""
    allow = parse_destinations(choice.allow)
    return json.dumps(
        {
            "mode": choice.mode,
            "allow": [d.rule() for d in allow if not d.is_host],
            "hosts": policy_hosts(allow),
            "exceptions": [parse_destination(e).rule() for e in settings.network_exceptions],
            "blocked": [cidr for cidr, _, _ in BLOCKED] + list(host_addresses),
            "ports": [[port, proto] for _, _, port, proto in ports],
            "upstream_proxy": settings.network_proxy,
        },
        separators=(",", ":"),
    )


def network_environment(settings: ServerSettings, outer: str) -> dict[str, str]:
    """The sandbox container's variables for its network: its rules (MANYOYO_NETWORK, read by the
    outer init and never passed on to the agent) and the nested engines' registry mirrors."""
    return {"MANYOYO_NETWORK": outer, "MANYOYO_REGISTRY_MIRRORS": ",".join(settings.registry_mirrors)}


def network_labels(choice: NetworkChoice) -> dict[str, str]:
    return {ownership.NETWORK: choice.mode, ownership.NETWORK_ALLOW: ",".join(choice.allow)}


def extra_hosts(settings: ServerSettings) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(entry.split("=", 1)) for entry in settings.network_hosts)  # type: ignore[misc]

"""The network rule of create_sandbox and launch_agent: a call (or its run profile) may only narrow
the operator's egress (egress.py has the modes and ranges; the outer container enforces them)."""

from __future__ import annotations

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.egress import MODES, NetworkChoice, outside, parse_destinations
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.policy.calls import Decision, ToolCall, allow, deny


def judge_network(choice: NetworkChoice | None, settings: ServerSettings) -> Decision | None:
    """None when the call leaves the egress to the operator; else an allow saying what it chose,
    or a denial saying what is allowed."""
    if choice is None:
        return None
    ceiling = settings.network_ceiling
    if MODES.index(choice.mode) > MODES.index(ceiling):
        allowed = ", ".join(MODES[: MODES.index(ceiling) + 1])
        return deny(
            rule_ids.NETWORK_CEILING,
            f"network mode {choice.mode!r} is wider than the operator's ceiling {ceiling!r}: choose one of {allowed}",
        )
    operator = parse_destinations(settings.network_allow)
    refused = [entry.text for entry in parse_destinations(choice.allow) if outside(entry, operator, ceiling)]
    if refused:
        listed = ", ".join(settings.network_allow) or "none"
        more = "; public addresses and host names too" if ceiling == "public" else ""
        return deny(
            rule_ids.NETWORK_ALLOWLIST,
            f"allowlist entries {', '.join(refused)} are not allowed: use the operator's ({listed}) or entries "
            f"inside them{more}. Private, loopback, link-local and metadata ranges are reached only as the "
            "operator's exceptions (describe_policy's network.exceptions), in every mode but none",
        )
    listing = f" ({', '.join(choice.allow) or 'the operator allowlist'})" if choice.mode == "allowlist" else ""
    return allow(rule_ids.NETWORK_NARROWED, f"network {choice.mode}{listing}, within the ceiling {ceiling}")


def network_rule(call: ToolCall, settings: ServerSettings) -> Decision | None:
    chosen = call.effective("network")
    return judge_network(None if chosen is None else NetworkChoice.model_validate(chosen), settings)

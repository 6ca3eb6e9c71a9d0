"""What the rules judge: a decision's shape, and one call as the rules see it.

A `ToolCall` holds the tool's own arguments, validated once at the gate, and the run profile the
call uses, looked up once: the rules judge what the tool will act on (the agent's arguments, with
what it left out taken from the profile), and the gate hands the same ToolCall to the tool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from manyoyo_mcp.config.run_profiles import RunProfile
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy.rule_ids import RuleId


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str
    reason: str


def allow(rule: RuleId, reason: str) -> Decision:
    return Decision(True, rule.id, reason)


def deny(rule: RuleId, reason: str) -> Decision:
    return Decision(False, rule.id, reason)


# The arguments a run profile fills in when the agent leaves them out (the rest: see from_profile).
PROFILE_FIELDS: dict[str, Callable[[RunProfile], Any]] = {
    "mode": lambda profile: profile.container_mode,
    "workspace": lambda profile: profile.host_path,
    "image": lambda profile: profile.image(),
    "network": lambda profile: profile.network,
}


@dataclass(frozen=True, slots=True)
class ToolCall:
    tool: str
    arguments: BaseModel
    """The tool's own argument model, validated."""
    profile_name: str | None = None
    """The run profile the call names, else default_run, else the implicit default's IMPLICIT_RUN
    (tools that take a profile; ServerSettings.run_profile)."""
    profile: RunProfile | None = None
    """That profile; None when there is none, or no such profile (profile.unknown and
    profile.file-path refuse it)."""

    def given(self, name: str) -> Any:
        """An argument as the agent gave it; None when left out or not an argument of this tool."""
        return getattr(self.arguments, name, None)

    def effective(self, name: str) -> Any:
        """An argument as the tool will act on it: the agent's own, else its run profile's."""
        given = self.given(name)
        if given is not None or self.profile is None or name not in PROFILE_FIELDS:
            return given
        return PROFILE_FIELDS[name](self.profile)


def tool_call(tool: str, arguments: BaseModel, settings: ServerSettings) -> ToolCall:
    """`arguments` with the run profile they use, for the tools that take one."""
    if "profile" not in type(arguments).model_fields:
        return ToolCall(tool, arguments)
    name, profile = settings.run_profile(getattr(arguments, "profile", None))
    return ToolCall(tool, arguments, name, profile)

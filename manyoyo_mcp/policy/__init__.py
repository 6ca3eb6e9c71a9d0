"""The policy consulted before a tool acts: pure, deny by default, every decision with a rule id.

rule_ids.py    every rule id, what it refuses and what is allowed instead (one table)
calls.py       what the rules judge: a ToolCall (validated arguments, run profile) and a Decision
rules.py       the rules of each tool: `admit`, then `evaluate` on the validated call
host_paths.py  host paths an agent wants mounted, judged once resolved
allowlists.py  what may be used inside a sandbox: protected paths, capabilities, sysctls, images
describe.py    the active policy as data (describe_policy)
"""

from manyoyo_mcp.policy.calls import Decision, ToolCall, allow, deny, tool_call
from manyoyo_mcp.policy.describe import describe
from manyoyo_mcp.policy.rules import (
    RULES,
    admit,
    context_denial,
    could_not_judge,
    evaluate,
    invalid_arguments,
    secret_denial,
    user_denial,
)

__all__ = [
    "RULES",
    "Decision",
    "ToolCall",
    "admit",
    "allow",
    "context_denial",
    "could_not_judge",
    "deny",
    "describe",
    "evaluate",
    "invalid_arguments",
    "secret_denial",
    "tool_call",
    "user_denial",
]

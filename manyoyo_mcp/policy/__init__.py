"""The policy consulted before a tool acts: pure, deny by default, every decision with a rule id.

rule_ids.py    every rule id, what it refuses and what is allowed instead (one table)
rules.py       the rules of each tool, and `evaluate`: the decision for one call
host_paths.py  host paths an agent wants mounted, judged once resolved
allowlists.py  what may be used inside a sandbox: protected paths, capabilities, sysctls, images
describe.py    the active policy as data (describe_policy)
"""

from manyoyo_mcp.policy.describe import describe
from manyoyo_mcp.policy.rules import RULES, Decision, allow, context_denial, deny, evaluate, profile_arguments

__all__ = ["RULES", "Decision", "allow", "context_denial", "deny", "describe", "evaluate", "profile_arguments"]

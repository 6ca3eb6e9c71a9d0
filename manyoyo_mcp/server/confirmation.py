"""Sock mode's confirmation: a human's yes through the client, or the operator's pre-approval.

An argument the model sets is never enough. The operator enables sock mode (else the policy
refuses it: mode.sock-disabled); then a human confirms each such sandbox through the MCP client
(elicitation, both protocol eras), unless the operator pre-approved sock mode. The outcome is a
decision record of its own.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, Resolve
from pydantic import BaseModel, Field

from manyoyo_mcp import policy
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import PolicyDenied
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.server.gate import current_call
from manyoyo_mcp.server.params import app_of


class SockConfirmation(BaseModel):
    approve: bool = Field(description="Mount the host's Docker socket into this sandbox (root on this machine).")


NOT_NEEDED = "no confirmation needed"
CANNOT_ASK = "the client cannot ask a human"


def wants_sock() -> bool:
    """Whether the call being served makes a sock-mode sandbox (its own mode, else its profile's)."""
    return current_call().judged.effective("mode") == "sock"


def ask_for_sock_mode(ctx: Context) -> Any:
    """Resolver: the question for a human, when the operator wants one asked (the SDK asks once)."""
    if not wants_sock() or app_of(ctx).settings.sock_mode != "confirm":
        return NOT_NEEDED
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return CANNOT_ASK
    judged = current_call().judged
    name = judged.given("name") or judged.given("sandbox")
    return Elicit(
        f"An agent asks for sandbox {name or '(unnamed)'!r} in SOCK mode: the host's Docker socket mounted "
        "inside it. Whoever holds that socket is root on this machine. Approve?",
        SockConfirmation,
    )


SockApproval = Annotated[ElicitationResult[SockConfirmation], Resolve(ask_for_sock_mode)]


async def confirm_sock_mode(settings: ServerSettings, confirmation: Any) -> None:
    """For a sock-mode call: pass with the operator's pre-approval or a human's yes, recorded as a
    decision; else raise PolicyDenied (mode.sock-needs-human, mode.sock-declined)."""
    if not wants_sock():
        return
    if settings.sock_mode == "preapproved":
        decided, how = policy.allow(rule_ids.SOCK_PREAPPROVED, "the operator pre-approved sock mode"), "operator"
    elif isinstance(confirmation, AcceptedElicitation) and confirmation.data == CANNOT_ASK:
        raise PolicyDenied(
            rule_ids.SOCK_NEEDS_HUMAN.id,
            "sock mode needs a human's confirmation and this client cannot ask one (no elicitation). The operator "
            "can pre-approve sock mode with MANYOYO_SOCK_MODE=preapproved; otherwise use dind mode",
        )
    elif isinstance(confirmation, AcceptedElicitation) and getattr(confirmation.data, "approve", False):
        decided, how = policy.allow(rule_ids.SOCK_CONFIRMED, "a human confirmed sock mode"), "accepted by the user"
    else:
        answer = getattr(confirmation, "action", "no answer")
        raise PolicyDenied(rule_ids.SOCK_DECLINED.id, f"the human did not approve sock mode ({answer}); use dind mode")
    await current_call().record.decision(decided, confirmation=how)

"""The describe_policy tool: the rules every call is judged by, as data."""

from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context

from manyoyo_mcp import policy
from manyoyo_mcp.models import DescribePolicyResult

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App


def add_describe_policy(app: "App") -> None:
    @app.tool(title="Describe the policy", read_only=True, destructive=False, idempotent=True)
    async def describe_policy(ctx: Context) -> DescribePolicyResult:
        """The rules every call is judged by, as data: allowed workspace roots and refused host paths,
        sandbox and loadable images, limits (defaults and ceilings), timeouts, quotas, protected paths
        inside sandboxes, and each rule id with what it refuses. Read it to plan calls that will pass."""
        described = policy.describe(app.settings)
        known = app.known_ceilings()  # the host's figures, once a call has reached the engine
        if known is not None:
            described["sandbox_limits"] = {**known.as_dict(), "disk_quota": app.settings.disk_quota}
        else:
            described["sandbox_limits"]["from_host"] = "the host's figures are read with the first call to the engine"
        return DescribePolicyResult(policy=described)

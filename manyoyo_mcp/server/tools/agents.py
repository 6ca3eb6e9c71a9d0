"""The launch_agent tool: a coding agent run headless in a sandbox made from a run profile."""

from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.models import LaunchAgentResult
from manyoyo_mcp.sandbox import launch
from manyoyo_mcp.server.confirmation import SockApproval, confirm_sock_mode
from manyoyo_mcp.server.params import EffectiveProfile, User, timeout

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

Prompt = Annotated[str, Field(description="What the agent should do, as you would type it to the agent.")]
Profile = Annotated[
    str | None,
    Field(
        description="The name of one of the operator's run profiles (describe_policy lists them; never a file "
        "path): which agent, its credentials (env files), workspace, mode and limits. Default: the operator's "
        "default profile (describe_policy's default_run_profile)."
    ),
]
Agent = Annotated[
    str | None,
    Field(
        description="Run this agent instead of the profile's: claude (cc, c), gemini (gm, g), codex (cx), "
        "opencode (oc), or one the operator added."
    ),
]
Sandbox = Annotated[
    str | None,
    Field(
        description="Sandbox to run in: an existing one of that name is reused (resume needs this), a "
        "new one is made from the profile. Default: the profile's containerName, else a new name."
    ),
]
Workspace = Annotated[
    str | None, Field(description="Host folder to mount as the workspace instead of the profile's hostPath.")
]
Resume = Annotated[bool, Field(description="Continue the agent's last conversation in that sandbox (its resume flag).")]


def add_launch_agent(app: "App") -> None:
    Timeout = timeout(app.settings, "Kill the agent after this many seconds.")

    @app.tool(
        title="Launch a coding agent in a sandbox",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,  # the agent talks to its model's service
    )
    async def launch_agent(
        prompt: Prompt,
        ctx: Context,
        chosen: EffectiveProfile,
        confirmation: SockApproval,
        profile: Profile = None,
        agent: Agent = None,
        sandbox: Sandbox = None,
        workspace: Workspace = None,
        resume: Resume = False,
        timeout_s: Timeout = None,
        user: User = None,
    ) -> LaunchAgentResult:
        """Run a coding agent headless, with its permission prompts skipped ("yolo"), inside a sandbox.

        The sandbox is made from a run profile (or reused by name) and always has its own engine
        (dind) unless the operator's profile says sock mode and the policy allows it. The agent's
        output streams as progress; the result has its final output, exit code and duration. On
        timeout or cancellation the agent and its child processes are killed. The sandbox is kept:
        exec in it to inspect the work, launch_agent again with resume, or remove_sandbox.
        Credentials from the profile reach the agent but appear masked in every result.
        """
        await confirm_sock_mode(app.settings, confirmation)
        request = launch.LaunchRequest(
            prompt=prompt,
            agent=agent,
            sandbox=sandbox,
            workspace=workspace,
            resume=resume,
            timeout_s=app.timeout(timeout_s),
            user=user,
        )
        return await launch.launch_agent(app.sandboxes, app.engine, app.settings, chosen, request, app.progress(ctx))

"""Parameter types the tools share (each defined once), and the values tools take through the SDK's
`Resolve`, computed once per call: the running sandbox a call names, the run profile it uses."""

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, Resolve
from pydantic import Field

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.credentials import secret_values
from manyoyo_mcp.policy.allowlists import USER_SPEC
from manyoyo_mcp.sandbox.launch import ChosenProfile
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.server.errors import maps_errors
from manyoyo_mcp.server.gate import current_call

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

SandboxRef = Annotated[
    str,
    Field(description="The sandbox's exact name (as returned by create_sandbox / list_sandboxes) or its full id."),
]
NestedContainerRef = Annotated[
    str, Field(description="A container inside the sandbox: its name or id (as list_nested shows them).")
]


User = Annotated[
    str | None,
    Field(
        pattern=rf"^{USER_SPEC.pattern}$",
        description="Run as this user instead of the default, the workspace owner's user (files it writes in "
        "/workspace belong to the owner on the host): 'root', a name the sandbox knows, or 'uid[:gid]'. What "
        "root writes in /workspace belongs to the sandbox's root (uid 1000000 on the host), not the owner.",
    ),
]


def timeout(settings: ServerSettings, what: str) -> Any:
    """A `timeout_s` parameter: `what` it stops, then the operator's default and ceiling."""
    return Annotated[
        float | None,
        Field(
            gt=0,
            description=f"{what} Default {settings.exec_timeout_s:g}, at most {settings.max_exec_timeout_s:g}.",
        ),
    ]


def app_of(ctx: Context) -> "App":
    """The App the call runs in (the server's lifespan state)."""
    return ctx.request_context.lifespan_context  # type: ignore[no-any-return]


async def running_sandbox(sandbox: str, ctx: Context) -> Sandbox:
    """The owned, running sandbox the call's `sandbox` argument names."""
    return await app_of(ctx).sandboxes.resolve_running(sandbox)


async def run_profile(ctx: Context) -> ChosenProfile | None:
    """The run profile the call uses (looked up once, at the gate), its env files read once; its
    credentials are masked in everything the server says from here on."""
    judged = current_call().judged
    if judged.profile is None or judged.profile_name is None:
        return None
    chosen = ChosenProfile.read(judged.profile_name, judged.profile)
    app_of(ctx).recorder.remember(secret_values(chosen.environment))
    return chosen


RunningSandbox = Annotated[Sandbox, Resolve(maps_errors(running_sandbox))]
EffectiveProfile = Annotated[ChosenProfile | None, Resolve(maps_errors(run_profile))]

"""Sandboxes from run profiles, and agents launched headless in yolo mode inside them.

A profile only fills in what the agent left out; the result is the same CreateRequest an agent
could have asked for, judged by the same policy rules (policy.ToolCall.effective) before this runs.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from manyoyo_mcp.config.agents import agent_table, headless_argv, resolve_agent
from manyoyo_mcp.config.run_profiles import RunProfile, parse_port, parse_volume
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.models import LaunchAgentResult
from manyoyo_mcp.sandbox.execution import ExecRequest, run_exec
from manyoyo_mcp.sandbox.layout import WORKSPACE_TARGET
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.sandbox.users import resolve_user
from manyoyo_mcp.threads import ProgressCallback

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine


@dataclass(frozen=True, slots=True)
class ChosenProfile:
    """The run profile a call uses, with its variables (its env files read once for the call)."""

    name: str
    profile: RunProfile
    environment: dict[str, str]

    @classmethod
    def read(cls, name: str, profile: RunProfile) -> ChosenProfile:
        """Read the profile's env files now. Raises EnvFileError naming the file and line."""
        return cls(name, profile, profile.environment())


def from_profile(request: CreateRequest, chosen: ChosenProfile) -> CreateRequest:
    """`request` with what it leaves out taken from the profile (env maps merge, the agent's wins)."""
    profile = chosen.profile
    return replace(
        request,
        name=request.name or profile.sandbox_name(),
        engine=request.engine or profile.engine,
        image=request.image or profile.image(),
        workspace=request.workspace or profile.host_path,
        env={**chosen.environment, **request.env},
        cpus=request.cpus if request.cpus is not None else profile.cpus,
        memory=request.memory or profile.memory,
        pids=request.pids if request.pids is not None else profile.pids,
        disk=request.disk or profile.disk,
        mode=request.mode or profile.container_mode or "dind",
        network=request.network or profile.network,
        workspace_target=profile.container_path or WORKSPACE_TARGET,
        volumes=tuple(parse_volume(v) for v in profile.volumes),
        ports=tuple(parse_port(p) for p in profile.ports),
        first=profile.first,
    )


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    prompt: str
    agent: str | None = None
    sandbox: str | None = None
    workspace: str | None = None
    resume: bool = False
    timeout_s: float = 600
    user: str | None = None
    """None: the sandbox's default user (the workspace owner's)."""


def agent_command(
    settings: ServerSettings, profile: RunProfile, request: LaunchRequest
) -> tuple[str, list[str], dict[str, str]]:
    """(agent name, argv, environment for the agent process) of a headless yolo run."""
    wanted = request.agent or profile.yolo or shell_program(profile.shell)
    if wanted is None:
        raise InvalidArgument(
            "this profile names no agent (its yolo key is empty): give `agent` (claude, gemini, codex, opencode)"
        )
    agent, spec = resolve_agent(wanted, agent_table(settings.agents))
    if request.resume and not spec.resume:
        raise InvalidArgument(f"agent {agent} has no resume arguments configured")
    if not request.prompt.strip():
        raise InvalidArgument("prompt is empty: say what the agent should do")
    prefix_env, prefix_words = profile.prefix()
    argv = [*prefix_words, *headless_argv(spec, request.prompt, request.resume, profile.suffix())]
    return agent, argv, {**spec.env, **prefix_env}


def shell_program(shell: str | None) -> str | None:
    """The program a MANYOYO `shell` command runs (after KEY=VALUE words and `env`), as MANYOYO
    finds the agent of a profile that has no `yolo`: "claude --verbose" -> "claude"."""
    words = shlex.split(shell or "")
    while words and (words[0] == "env" or ("=" in words[0] and not words[0].startswith("="))):
        words.pop(0)
    return PurePosixPath(words[0]).name if words else None


async def launch_agent(
    sandboxes: SandboxService,
    engine: Engine,
    settings: ServerSettings,
    chosen: ChosenProfile | None,
    request: LaunchRequest,
    on_progress: ProgressCallback | None = None,
) -> LaunchAgentResult:
    """Make (or reuse) the profile's sandbox and run its agent headless on the prompt, to the end.

    `chosen` is the run profile the call uses (its env files read); `on_progress` receives
    (bytes so far, recent output); `request.timeout_s` is in seconds. Returns the sandbox (kept),
    the argv that ran, the agent's exit code and output (bounded), the duration in seconds,
    `timed_out` and `killed`. Raises InvalidArgument (no profile, no agent, an empty prompt, no
    resume arguments) and whatever SandboxService.create raises.
    """
    if chosen is None:
        raise InvalidArgument(
            "launch_agent needs a run profile (the operator's configuration gives the agent its credentials): "
            f"give `profile`; profiles: {', '.join(settings.runs) or 'none configured'}"
        )
    agent, argv, agent_env = agent_command(settings, chosen.profile, request)
    started = time.monotonic()
    sandbox = await sandboxes.create(
        from_profile(CreateRequest(name=request.sandbox, workspace=request.workspace), chosen)
    )
    entry = await sandboxes.entry(await sandboxes.resolve(sandbox.id))
    user = await resolve_user(engine, sandbox.id, entry, request.user) if request.user else None
    outcome = await run_exec(
        engine,
        sandbox.id,
        entry,
        ExecRequest(command=argv, env={**chosen.environment, **agent_env}, timeout_s=request.timeout_s, user=user),
        settings.output_cap_bytes,
        on_progress=on_progress,
    )
    return LaunchAgentResult(
        sandbox=sandbox.name,
        sandbox_id=sandbox.id,
        sandbox_created=sandbox.created,
        profile=chosen.name,
        agent=agent,
        command=argv,
        exit_code=outcome.exit_code,
        output=outcome.stdout,
        stderr=outcome.stderr,
        truncated=outcome.truncated,
        duration_s=round(time.monotonic() - started, 3),
        timed_out=outcome.timed_out,
        killed=outcome.killed,
    )

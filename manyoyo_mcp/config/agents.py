"""Agent CLIs and their yolo commands: which argv runs an agent with its permission prompts skipped.

A built-in table (MANYOYO's agents, same aliases) that operators extend or override in
configuration (`mcp.agents`). Headless argv templates hold two placeholders: `{prompt}` (the
prompt, one argv element, never passed through a shell) and `{resume}` (the agent's resume
arguments when a previous conversation is continued, else nothing).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from manyoyo_mcp.errors import InvalidArgument

PROMPT = "{prompt}"
RESUME = "{resume}"


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: tuple[str, ...] = ()
    """Other names the agent is known by (MANYOYO's `yolo` shortcuts)."""
    command: tuple[str, ...] = Field(min_length=1)
    """Interactive yolo command (argv), as MANYOYO starts it."""
    headless: tuple[str, ...] = Field(min_length=1)
    """Headless argv template: must contain "{prompt}"; may contain "{resume}"."""
    resume: tuple[str, ...] = ()
    """What "{resume}" becomes when the last conversation is continued."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment the agent needs in yolo mode."""

    @field_validator("headless")
    @classmethod
    def _has_prompt(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if PROMPT not in value:
            raise ValueError(f'the headless argv needs a "{PROMPT}" element where the prompt goes')
        return value


BUILTIN_AGENTS: dict[str, AgentSpec] = {
    "claude": AgentSpec(
        aliases=("cc", "c"),
        command=("claude", "--dangerously-skip-permissions"),
        headless=("claude", "--dangerously-skip-permissions", RESUME, "-p", PROMPT),
        resume=("--continue",),
        env={"IS_SANDBOX": "1"},  # claude refuses to skip permissions as root unless told it is in a sandbox
    ),
    "gemini": AgentSpec(
        aliases=("gm", "g"),
        command=("gemini", "--yolo"),
        headless=("gemini", "--yolo", RESUME, "-p", PROMPT),
        resume=("--resume", "latest"),
    ),
    "codex": AgentSpec(
        aliases=("cx",),
        command=("codex", "--dangerously-bypass-approvals-and-sandbox"),
        headless=(
            "codex",
            "exec",
            "--dangerously-bypass-approvals-and-sandbox",
            "--skip-git-repo-check",
            RESUME,
            PROMPT,
        ),
        resume=("resume", "--last"),
    ),
    "opencode": AgentSpec(
        aliases=("oc",),
        command=("opencode",),
        headless=("opencode", "run", RESUME, PROMPT),
        resume=("--continue",),
        env={"OPENCODE_PERMISSION": '{"*":"allow"}'},
    ),
}


def agent_table(overrides: dict[str, AgentSpec]) -> dict[str, AgentSpec]:
    """The built-in agents with the operator's added or replaced ones."""
    return {**BUILTIN_AGENTS, **overrides}


def resolve_agent(name: str, table: dict[str, AgentSpec]) -> tuple[str, AgentSpec]:
    wanted = name.strip().lower()
    for agent, spec in table.items():
        if wanted == agent or wanted in spec.aliases:
            return agent, spec
    known = "; ".join(
        f"{agent} ({', '.join(spec.aliases)})" if spec.aliases else agent for agent, spec in table.items()
    )
    raise InvalidArgument(f"unknown agent {name!r}; agents (aliases): {known}")


def headless_argv(spec: AgentSpec, prompt: str, resume: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """The argv that runs the agent once on `prompt`. `extra` (a profile's shellSuffix) follows the
    resume arguments, or comes just before the prompt when the template has no "{resume}"."""
    argv: list[str] = []
    for part in spec.headless:
        if part == RESUME:
            argv += [*(spec.resume if resume else ()), *extra]
        elif part == PROMPT:
            argv += [*(() if RESUME in spec.headless else extra), prompt]
        else:
            argv.append(part)
    return argv

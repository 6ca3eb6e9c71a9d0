"""The agent's command line from a run profile, shaped like MANYOYO's (pure)."""

from __future__ import annotations

import pytest

from manyoyo_mcp.errors import InvalidArgument


def test_a_profile_shapes_the_agent_command_like_manyoyo():
    from manyoyo_mcp.config.run_profiles import RunProfile
    from manyoyo_mcp.config.settings import ServerSettings
    from manyoyo_mcp.sandbox.launch import LaunchRequest, agent_command, shell_program

    settings = ServerSettings()
    profile = RunProfile(yolo="c", shellPrefix="DEBUG=1 nice", shellSuffix="--model 'opus 4'")
    agent, argv, env = agent_command(settings, profile, LaunchRequest(prompt="fix it; rm -rf / && echo $HOME"))
    assert agent == "claude"
    assert argv == ["nice", "claude", "--dangerously-skip-permissions", "--model", "opus 4", "-p",
                    "fix it; rm -rf / && echo $HOME"]  # fmt: skip
    assert env == {"IS_SANDBOX": "1", "DEBUG": "1"}
    # No yolo: MANYOYO's `shell` names the agent.
    assert agent_command(settings, RunProfile(shell="codex"), LaunchRequest(prompt="p"))[0] == "codex"
    assert agent_command(settings, profile, LaunchRequest(prompt="p", agent="gm"))[1][:3] == [
        "nice",
        "gemini",
        "--yolo",
    ]
    assert shell_program("ANTHROPIC_MODEL=x env /usr/local/bin/claude --verbose") == "claude"
    with pytest.raises(InvalidArgument, match="names no agent"):
        agent_command(settings, RunProfile(), LaunchRequest(prompt="p"))
    with pytest.raises(InvalidArgument, match="prompt is empty"):
        agent_command(settings, profile, LaunchRequest(prompt="  "))

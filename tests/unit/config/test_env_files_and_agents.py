"""Env files (MANYOYO's forms) and the agent table's exact command lines (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from manyoyo_mcp.config.agents import BUILTIN_AGENTS, headless_argv, resolve_agent
from manyoyo_mcp.config.env_files import EnvFileError, env_file_path, parse_env_text, read_env_file
from manyoyo_mcp.errors import InvalidArgument


def test_env_file_forms_manyoyo_accepts():
    text = (
        "# a comment\r\n"
        "\r\n"
        'export ANTHROPIC_BASE_URL="https://api.anthropic.com"\r\n'
        "API_TIMEOUT_MS=3000000\n"
        "TESTPATH='/usr/local/bin'\n"
        "  SPACED = value with spaces  \n"
        "HASH=abc#def\n"
        "EMPTY=\n"
        "QUOTE='keeps \"inner\" quotes'\n"
    )
    assert parse_env_text(text, "f.env") == {
        "ANTHROPIC_BASE_URL": "https://api.anthropic.com",
        "API_TIMEOUT_MS": "3000000",
        "TESTPATH": "/usr/local/bin",
        "SPACED": "value with spaces",
        "HASH": "abc#def",
        "EMPTY": "",
        "QUOTE": 'keeps "inner" quotes',
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sk-ant-pasted-without-a-name", "f.env:2: expected KEY=VALUE or export KEY=VALUE"),
        ("9LIVES=1", "f.env:2: '9LIVES' is not a variable name"),
        ("MY-KEY=1", "f.env:2: 'MY-KEY' is not a variable name"),
    ],
)
def test_a_line_that_cannot_be_used_names_file_and_line_and_hides_the_value(line: str, message: str):
    with pytest.raises(EnvFileError) as caught:
        parse_env_text(f"OK=1\n{line}\n", "f.env")
    assert str(caught.value).startswith(message)
    assert "sk-ant-pasted" not in str(caught.value)


def test_env_file_paths_expand_home_and_manyoyo_bare_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert env_file_path("~/x.env") == tmp_path / "x.env"
    assert env_file_path("anthropic_claudecode") == tmp_path / ".manyoyo/env/anthropic_claudecode.env"
    assert env_file_path("./local.env", tmp_path / "proj") == tmp_path / "proj/local.env"
    assert env_file_path("/abs/a.env", tmp_path) == Path("/abs/a.env")
    with pytest.raises(EnvFileError, match="does not exist"):
        read_env_file(tmp_path / "missing.env")


def test_agents_are_found_by_name_or_alias():
    for alias, name in [("c", "claude"), ("CC", "claude"), ("gm", "gemini"), ("g", "gemini"), ("cx", "codex"),
                        ("oc", "opencode"), ("opencode", "opencode")]:  # fmt: skip
        assert resolve_agent(alias, BUILTIN_AGENTS)[0] == name
    with pytest.raises(InvalidArgument, match=r"unknown agent 'cursor'; agents \(aliases\): claude \(cc, c\)"):
        resolve_agent("cursor", BUILTIN_AGENTS)


def test_headless_yolo_command_lines():
    def argv(agent: str, **kwargs: object) -> list[str]:
        return headless_argv(BUILTIN_AGENTS[agent], "fix the tests", **kwargs)  # type: ignore[arg-type]

    assert argv("claude") == ["claude", "--dangerously-skip-permissions", "-p", "fix the tests"]
    assert argv("claude", resume=True) == [
        "claude",
        "--dangerously-skip-permissions",
        "--continue",
        "-p",
        "fix the tests",
    ]
    assert argv("claude", extra=("--model", "opus")) == [
        "claude", "--dangerously-skip-permissions", "--model", "opus", "-p", "fix the tests",
    ]  # fmt: skip
    assert argv("gemini") == ["gemini", "--yolo", "-p", "fix the tests"]
    assert argv("codex") == [
        "codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check", "fix the tests",
    ]  # fmt: skip
    assert argv("codex", resume=True)[-3:] == ["resume", "--last", "fix the tests"]
    assert argv("opencode") == ["opencode", "run", "fix the tests"]
    assert BUILTIN_AGENTS["opencode"].env == {"OPENCODE_PERMISSION": '{"*":"allow"}'}
    assert BUILTIN_AGENTS["claude"].env == {"IS_SANDBOX": "1"}
    assert BUILTIN_AGENTS["claude"].command == ("claude", "--dangerously-skip-permissions")
    assert BUILTIN_AGENTS["gemini"].command == ("gemini", "--yolo")
    assert BUILTIN_AGENTS["codex"].command == ("codex", "--dangerously-bypass-approvals-and-sandbox")

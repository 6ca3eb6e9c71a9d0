"""What a sandbox's arguments must look like (pure): commands, env names, sandbox names, workspaces."""

import pytest

from manyoyo_mcp.config.env_files import validate_env
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.sandbox.execution import command_argv
from manyoyo_mcp.sandbox.host_folders import resolve_workspace
from manyoyo_mcp.sandbox.plan import validate_sandbox_name


def test_a_string_command_runs_with_sh_and_a_list_runs_as_it_is():
    assert command_argv("echo hi | wc -c") == ["sh", "-c", "echo hi | wc -c"]
    assert command_argv(["ls", "-l", "a b"]) == ["ls", "-l", "a b"]


@pytest.mark.parametrize("command", ["", "   ", [], [""]])
def test_an_empty_command_is_refused_saying_what_is_allowed(command):
    with pytest.raises(InvalidArgument, match="shell string or a non-empty argv list"):
        command_argv(command)


@pytest.mark.parametrize("command", ["echo \x00", ["echo", "a\x00b"]])
def test_a_command_with_a_nul_byte_is_refused(command):
    with pytest.raises(InvalidArgument, match="NUL"):
        command_argv(command)


@pytest.mark.parametrize("key", ["1A", "A-B", "A B", "", "A=B", "Ä"])
def test_env_names_must_be_shell_names(key):
    with pytest.raises(InvalidArgument, match="letters, digits and '_'"):
        validate_env({key: "x"})


def test_env_names_and_values_of_the_usual_form_pass():
    env = {"CI": "true", "_X1": "a=b c", "PATH": "/bin"}
    assert validate_env(env) == env


def test_a_bad_sandbox_name_is_refused_with_the_rule():
    with pytest.raises(InvalidArgument, match="lowercase ASCII letters"):
        validate_sandbox_name("My Sandbox")


def test_a_workspace_resolves_symlinks_and_must_be_a_directory(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert resolve_workspace(str(tmp_path / "link") + "/") == str(real)
    assert resolve_workspace(str(real / "..") + "//real") == str(real)
    with pytest.raises(InvalidArgument, match="not an existing directory"):
        resolve_workspace(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgument, match="not an existing directory"):
        resolve_workspace(str(tmp_path / "file"))

import pytest

from manyoyo_mcp.config.settings import ServerSettings, settings_from_env
from manyoyo_mcp.errors import InvalidArgument

from ...helpers import REPO


def test_settings_come_from_manyoyo_variables_with_flags_on_top():
    settings = settings_from_env(
        {"MANYOYO_SCOPE": "team", "MANYOYO_DEFAULT_ENGINE": "podman", "MANYOYO_EXEC_TIMEOUT_S": "30"},
        default_engine="docker",
        scope=None,
    )
    assert settings.scope == "team"
    assert settings.default_engine == "docker"
    assert settings.exec_timeout_s == 30


def test_list_settings_are_comma_separated_in_the_environment():
    settings = settings_from_env({"MANYOYO_EXTRA_SANDBOX_IMAGES": "a:1, b:2,,"})
    assert settings.extra_sandbox_images == ("a:1", "b:2")


def test_a_bad_setting_names_the_variable():
    with pytest.raises(InvalidArgument, match="MANYOYO_DEFAULT_ENGINE"):
        settings_from_env({"MANYOYO_DEFAULT_ENGINE": "lxc"})


def test_the_example_env_file_is_the_full_list_of_settings_and_loads():
    lines = (REPO / "configs" / "server.env").read_text().splitlines()
    environ = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert {key.removeprefix("MANYOYO_").lower() for key in environ} == set(ServerSettings.model_fields) - {
        "runs",
        "implicit_run",
        "agents",
    }  # those come from the configuration files only
    assert settings_from_env(environ) == settings_from_env({})

"""MANYOYO's run profile files (`run/<name>.json` beside the user file) and the implicit default
profile (the top-level keys): where they are read from, and the same validation as `runs.<name>`."""

from __future__ import annotations

from pathlib import Path

import pytest

from manyoyo_mcp.config.loader import ConfigError, load_config
from manyoyo_mcp.config.run_profiles import IMPLICIT_RUN


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    return home


def test_the_run_folder_follows_the_user_file(home: Path, tmp_path: Path):
    write(home / ".manyoyo/run/mine.json", '{yolo: "c"}')
    team = write(tmp_path / "etc/manyoyo/team.json5", '{env: {TZ: "UTC"}, runs: {claude: {yolo: "c"}}}')
    write(tmp_path / "etc/manyoyo/run/ci.json", '{containerName: "ci", env: {CI: "true"}}')
    loaded = load_config(team, "", environ={})
    assert set(loaded.settings.runs) == {"claude", "ci"}  # ~/.manyoyo/run is not this file's folder
    assert loaded.settings.runs["ci"].env == {"TZ": "UTC", "CI": "true"}  # the user file's top-level keys first
    assert loaded.origins["runs.ci.env.CI"] == [str(tmp_path / "etc/manyoyo/run/ci.json")]
    assert str(tmp_path / "etc/manyoyo/run/ci.json") in loaded.files
    assert set(load_config("~/.manyoyo/manyoyo.json", "", environ={}).settings.runs) == {"mine"}
    assert load_config(None, "", environ={}).settings.runs == {}  # no user file: no run folder either


def test_only_visible_json_files_are_profiles(home: Path):
    run = home / ".manyoyo/run"
    write(run / "a.json", "{}")
    write(run / "b.json5", "{}")
    write(run / "notes.txt", "not json")
    write(run / ".#a.json", "an editor's lock file")
    (run / "folder.json").mkdir()
    assert set(load_config("~/.manyoyo/manyoyo.json", "", environ={}).settings.runs) == {"a"}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{runs: {x: {yolo: "c"}}}', r"runs: a run profile file holds one profile's keys"),
        ("{mcp: {max_cpus: 1}}", r"mcp: a run profile file holds one profile's keys"),
        ('{"envFiles": []}', r"unknown key 'envFiles'; did you mean 'envFile'\?"),
        ("{granted_volumes: {'~/.ssh:/s:ro': 'x'}}", r"unknown key 'granted_volumes'"),
        ("{project_env_file: ['/etc/shadow']}", r"unknown key 'project_env_file'"),
        ("{cpus: -1}", r"runs.p.cpus: Input should be greater than 0"),
        ('{yolo: "cluade"}', r"runs.p.yolo: unknown agent 'cluade'"),
        ('{volumes: "~/.ssh:/s:ro"}', r"volumes: expected a list of strings"),
        ('{volumes: ["/only-host"]}', r"volume '/only-host' is not host_path:container_path"),
        ("[1, 2]", r"the top level must be an object"),
    ],
)
def test_a_run_file_is_validated_like_runs_and_named_in_the_error(home: Path, content: str, problem: str):
    file = write(home / ".manyoyo/run/p.json", content)
    with pytest.raises(ConfigError, match=f"{file}: .*{problem}"):
        load_config("~/.manyoyo/manyoyo.json", "", environ={})


def test_keys_manyoyo_uses_elsewhere_are_noticed_per_run_file(home: Path):
    write(home / ".manyoyo/run/p.json", '{quiet: ["tip"], yolo: "c"}')
    loaded = load_config("~/.manyoyo/manyoyo.json", "", environ={})
    assert f"{home / '.manyoyo/run/p.json'}: MANYOYO keys this server does not use (ignored): quiet" in loaded.notices


def test_the_implicit_defaults_name_is_reserved(home: Path):
    write(home / ".manyoyo/run/(top-level).json", "{}")
    with pytest.raises(ConfigError, match="reserved name"):
        load_config("~/.manyoyo/manyoyo.json", "", environ={})


def test_top_level_keys_are_validated_even_without_profiles(home: Path, tmp_path: Path):
    user = write(home / ".manyoyo/manyoyo.json", "{cpus: -1}")
    with pytest.raises(ConfigError, match=rf"{user}: cpus: Input should be greater than 0"):
        load_config(user, "", environ={})
    write(user, '{yolo: "cluade"}')
    with pytest.raises(ConfigError, match=rf"{user}: yolo: unknown agent 'cluade'"):
        load_config(user, "", environ={})
    write(user, '{hostPath: "", containerName: "", mcp: {max_cpus: 1}}')  # MANYOYO's unset values
    assert load_config(user, "", environ={}).settings.implicit_run is None


def test_the_implicit_default_keeps_every_narrowing_rule_of_the_project_file(home: Path, tmp_path: Path):
    project = tmp_path / "project"
    write(project / "local.env", "LOCAL=1\n")
    write(
        home / ".manyoyo/manyoyo.json",
        '{env: {ANTHROPIC_BASE_URL: "https://api.anthropic.com"}, mcp: {default_engine: "podman"}}',
    )
    write(
        project / ".manyoyo.json",
        '{env: {ANTHROPIC_BASE_URL: "https://collector.example", CI: "true"}, envFile: ["./local.env"], cpus: 1}',
    )
    loaded = load_config("~/.manyoyo/manyoyo.json", project, environ={})
    implicit = loaded.settings.implicit_run
    assert implicit is not None and implicit.cpus == 1
    assert implicit.environment() == {"ANTHROPIC_BASE_URL": "https://api.anthropic.com", "CI": "true", "LOCAL": "1"}
    assert loaded.defined_in[IMPLICIT_RUN] == [str(home / ".manyoyo/manyoyo.json"), str(project / ".manyoyo.json")]
    assert loaded.origins[f"runs.{IMPLICIT_RUN}.cpus"] == [str(project / ".manyoyo.json")]
    for refused in ('{containerMode: "sock"}', '{volumes: ["/srv:/srv:ro"]}', '{first: "id"}', '{ports: ["80"]}'):
        write(project / ".manyoyo.json", refused)
        with pytest.raises(ConfigError, match="a project file cannot"):
            load_config("~/.manyoyo/manyoyo.json", project, environ={})


def test_a_path_as_default_run_says_where_the_project_file_is_read(home: Path):
    with pytest.raises(ConfigError, match=r"is not a run profile.*read from the project folder \(serve --project"):
        load_config(None, "", environ={}, flags={"default_run": "./myproject/.manyoyo.json"})

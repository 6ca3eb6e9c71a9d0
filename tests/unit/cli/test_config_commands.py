"""`profiles`, `config show` and `config validate` with the seed's configuration forms: run profile
files listed with the file defining them, and the implicit default named as what applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manyoyo_mcp.cli import main

from ...seed_configs import EXAMPLE_1_DIND_DEV, EXAMPLE_2_PROJECT, QUICK_START_DIND

TOKEN = "sk-ant-api03-stand-in-credential-0123456789"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MANYOYO_CONFIG", raising=False)
    write(home / ".manyoyo/env/anthropic_claudecode.env", f"ANTHROPIC_AUTH_TOKEN={TOKEN}\n")
    write(home / ".manyoyo/run/dind.json", QUICK_START_DIND)
    write(home / ".manyoyo/run/dind-dev.json", EXAMPLE_1_DIND_DEV)
    return home


@pytest.fixture
def myproject(tmp_path: Path) -> Path:
    return write(tmp_path / "myproject/.manyoyo.json", EXAMPLE_2_PROJECT).parent


def test_profiles_lists_run_files_with_the_file_defining_them(home: Path, myproject: Path, capsys):
    assert main(["profiles", "--project", str(myproject)]) == 0
    text = capsys.readouterr().out
    assert "  dind: agent c, dind, docker" in text
    assert f"      from: {home / '.manyoyo/run/dind.json'}" in text
    assert "  (top-level) (default): agent -, dind, docker" in text
    assert f"      from: {myproject / '.manyoyo.json'}" in text
    assert main(["profiles", "--json", "--project", str(myproject)]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert runs["dind-dev"]["from"] == [str(home / ".manyoyo/run/dind-dev.json")]
    assert (runs["dind-dev"]["default"], runs["(top-level)"]["default"]) == (False, True)


def test_profiles_without_any_says_where_they_go(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["profiles", "--project", ""]) == 0
    assert "run profiles: none (add them under `runs` in ~/.manyoyo/manyoyo.json, or as run/<name>.json" in (
        capsys.readouterr().out
    )


def test_config_show_names_each_profiles_file_and_what_applies_unnamed(home: Path, myproject: Path, capsys):
    assert main(["config", "show", "--project", str(myproject)]) == 0
    text = capsys.readouterr().out
    assert TOKEN not in text
    assert f"[runs.dind-dev]    # {home / '.manyoyo/run/dind-dev.json'}" in text
    assert f'  volumes = ["~/.docker:/root/.docker:ro"]    # {home / ".manyoyo/run/dind-dev.json"}' in text
    assert f"[top-level keys: the implicit default profile]    # {myproject / '.manyoyo.json'}" in text
    assert f'  env CI = "true"    # {myproject / ".manyoyo.json"}' in text
    assert "profile used when a call names none: (top-level), the top-level keys" in text
    assert main(["config", "show", "--json", "--project", str(myproject)]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["defined_in"]["dind"] == [str(home / ".manyoyo/run/dind.json")]
    assert view["used_when_none_is_named"] == "(top-level)"
    assert str(home / ".manyoyo/run/dind.json") in view["files"]


def test_validating_example_2_says_what_it_changes(home: Path, myproject: Path, capsys):
    assert main(["config", "validate", str(myproject / ".manyoyo.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"ok: {myproject / '.manyoyo.json'} (run profiles: dind, dind-dev)"
    assert lines[1].startswith("profile used when a call names none: (top-level)")
    assert lines[2] == "  (top-level) sets: containerName, containerMode, env CI NODE_ENV"


def test_validating_a_run_file_reads_it_with_its_user_file(home: Path, capsys):
    write(home / ".manyoyo/manyoyo.json", '{mcp: {default_run: "dind"}}')
    assert main(["config", "validate", str(home / ".manyoyo/run/dind-dev.json")]) == 0
    out = capsys.readouterr().out
    assert "(run profiles: dind, dind-dev)" in out and "names none: dind (default_run)" in out
    write(home / ".manyoyo/run/dind-dev.json", EXAMPLE_1_DIND_DEV.replace('"c"', '"cluade"'))
    assert main(["config", "validate", str(home / ".manyoyo/run/dind-dev.json")]) == 2
    assert "dind-dev.json: runs.dind-dev.yolo: unknown agent 'cluade'" in capsys.readouterr().err

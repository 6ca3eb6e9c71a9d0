"""The sandbox image's build, without building: which agents' packages and certificates go in, and
what the Dockerfile's clean-up of the agents' packages removes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.sandbox.image_build import AGENT_PACKAGES, agent_packages, certificate_files, image_files

DOCKERFILE = (image_files() / "Dockerfile").read_text()


def test_agents_all_none_or_some_by_name():
    assert agent_packages("all").split() == list(AGENT_PACKAGES.values())
    assert agent_packages("none") == ""
    assert agent_packages(" codex, claude ") == f"{AGENT_PACKAGES['codex']} {AGENT_PACKAGES['claude']}"
    with pytest.raises(InvalidArgument, match="unknown cursor; choose all, none, or some of claude, codex"):
        agent_packages("claude,cursor")


def test_the_dockerfiles_own_default_is_every_agent_at_its_pin():
    """A plain `docker build` of the folder installs what `image build --agents all` does."""
    default = re.search(r'^ARG AGENT_PACKAGES="([^"]*)"', DOCKERFILE, re.MULTILINE)
    assert default and default.group(1) == agent_packages("all")


def test_certificates_given_as_files_and_folders(tmp_path: Path):
    (tmp_path / "cas").mkdir()
    for name in ("b.crt", "a.crt", "notes.txt"):
        (tmp_path / "cas" / name).write_text("x")
    (tmp_path / "one.crt").write_text("x")
    found = certificate_files([str(tmp_path / "one.crt"), str(tmp_path / "cas")])
    assert [p.name for p in found] == ["one.crt", "a.crt", "b.crt"]
    with pytest.raises(InvalidArgument, match=r"no such file, or a folder with no \.crt file"):
        certificate_files([str(tmp_path / "missing.crt")])
    with pytest.raises(InvalidArgument, match="no such file"):
        certificate_files([str(tmp_path / "empty-folder")])


@pytest.mark.parametrize(
    ("path", "removed"),
    [
        ("@anthropic-ai/claude-code/node_modules/@anthropic-ai/claude-code-linux-x64-musl", True),
        ("opencode-ai/node_modules/opencode-linux-x64-baseline-musl", True),
        ("some-cli/node_modules/tool-linux-arm64-musl", True),
        # The glibc builds, and a package's own folders that carry "musl" in their names: codex's
        # only Linux binary lives in vendor/x86_64-unknown-linux-musl.
        ("@anthropic-ai/claude-code/node_modules/@anthropic-ai/claude-code-linux-x64", False),
        ("@openai/codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl", False),
        ("@openai/codex/node_modules/@openai/codex-linux-x64", False),
    ],
)
def test_only_the_agents_musl_packages_are_removed(path: str, removed: bool):
    """The Dockerfile's `find -regex` (whole-path match) on the global node_modules."""
    pattern = re.search(r"-regex '([^']+)'", DOCKERFILE)
    assert pattern is not None
    assert bool(re.fullmatch(pattern.group(1), f"/usr/local/lib/node_modules/{path}")) == removed

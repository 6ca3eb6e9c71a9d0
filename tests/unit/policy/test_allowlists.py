"""The tables of what may be used inside a sandbox (pure): paths, loadable images."""

from __future__ import annotations

from manyoyo_mcp.policy import allowlists
from manyoyo_mcp.policy.allowlists import loadable


def test_sandbox_paths_are_normalised_from_the_workspace():
    assert allowlists.sandbox_path("context", "app") == "/workspace/app"
    assert allowlists.sandbox_path("context", "//srv//x/") == "/srv/x"
    assert allowlists.sandbox_path("context", "../../..") == "/"
    assert allowlists.forbidden_sandbox_path("/") == "/"
    assert allowlists.forbidden_sandbox_path("/proc/1") == "/proc"
    assert allowlists.forbidden_sandbox_path("/procfs") is None


def test_loadable_images_follow_the_operator_patterns():
    patterns = ("node:*", "manyoyo-busybox")
    assert loadable("node:22-alpine", patterns) and loadable("manyoyo-busybox:latest", patterns)
    assert loadable("manyoyo-busybox", patterns)
    assert not loadable("manyoyo-busybox:other", patterns) and not loadable("nodejs:1", patterns)
    assert not loadable("node:22", ())

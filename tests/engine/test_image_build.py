"""`manyoyo-mcp image build` against the real engine: a missing base says how to provide one."""

from __future__ import annotations

import subprocess
import sys

import pytest

PYTHON = sys.executable


@pytest.mark.usefixtures("engine")
def test_image_build_with_a_missing_base_says_how_to_provide_one():
    done = subprocess.run(
        [PYTHON, "-m", "manyoyo_mcp", "image", "build", "--base", "manyoyo-absent-base:0", "--tag", "manyoyo-x:0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "base image 'manyoyo-absent-base:0' is not on the engine" in done.stderr
    assert "scripts/base-image" in done.stderr and "--base manyoyo-base:trixie" in done.stderr

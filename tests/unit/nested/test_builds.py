"""build_image's pure parts: where the Dockerfile is, and the build log of both engines."""

from __future__ import annotations

import pytest

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.nested.builds import BuildLog, dockerfile_source


def test_dockerfile_is_a_path_inside_the_context_or_inline_text():
    assert dockerfile_source(None, "/workspace/app") == ("Dockerfile", None)
    assert dockerfile_source("docker/Dockerfile.test", "/workspace/app") == ("docker/Dockerfile.test", None)
    assert dockerfile_source("/workspace/app/Dockerfile.x", "/workspace/app") == ("Dockerfile.x", None)
    name, text = dockerfile_source("FROM busybox", "/workspace/app")
    assert text == b"FROM busybox" and name.endswith("Dockerfile")
    assert dockerfile_source("FROM a\nRUN b\n", "/w")[1] == b"FROM a\nRUN b\n"
    for outside in ("../Dockerfile", "/etc/passwd", "/workspace/app"):
        with pytest.raises(InvalidArgument, match="not inside the context"):
            dockerfile_source(outside, "/workspace/app")


def test_build_log_follows_docker_steps_and_keeps_the_failing_step_output():
    log = BuildLog()
    for event in [
        {"stream": "Step 1/2 : FROM busybox"},
        {"stream": "\n"},
        {"stream": " ---> 2638c7e1d22c\n"},
        {"stream": "Step 2/2 : RUN exit 3"},
        {"stream": "\n"},
        {"stream": "\x1b[91mboom\n\x1b[0m"},
        {"error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"},
    ]:
        log.add(event)
    log.finish()
    assert log.steps == ["Step 1/2 : FROM busybox", "Step 2/2 : RUN exit 3"]
    assert "boom" in log.step_output and log.error.endswith("code: 3")
    assert log.image_id is None


def test_build_log_follows_podman_stages_and_finds_the_image_id():
    log = BuildLog()
    for line in ["[1/2] STEP 1/2: FROM a AS b\n", "[2/2] STEP 1/1: FROM a\n", "--> 0ffcac11d0a\n"]:
        log.add({"stream": line})
    log.add({"aux": {"ID": "sha256:" + "c" * 64}})
    assert len(log.steps) == 2 and log.image_id == "sha256:" + "c" * 64
    assert log.new_lines() == ["[1/2] STEP 1/2: FROM a AS b", "[2/2] STEP 1/1: FROM a", "--> 0ffcac11d0a"]
    assert log.new_lines() == []

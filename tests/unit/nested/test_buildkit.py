"""BuildKit builds' pure parts: the command run in the sandbox, its progress read as a log, the
builder a build gets, secrets as named and masked, and what a failure naming a missing feature says."""

from __future__ import annotations

import base64
import json

import pytest

from manyoyo_mcp.engine import ContainerSummary, NestedBuildSpec
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.nested import build_secrets
from manyoyo_mcp.nested.build_log import failure_hint
from manyoyo_mcp.nested.buildkit import buildkit_argv
from manyoyo_mcp.nested.buildkit_log import BuildKitLog
from manyoyo_mcp.nested.builds import choose_builder
from manyoyo_mcp.sandbox.view import Sandbox


def _status(**parts) -> str:
    """One status object as buildx prints it: indented, so it spans lines."""
    return json.dumps(parts, indent=2) + "\n"


def _log(vertex: str, text: str) -> dict:
    return {"vertex": vertex, "stream": 1, "data": base64.b64encode(text.encode()).decode()}


T = "2026-11-29T21:22:12.0Z"
FAILED = "".join(
    [
        _status(vertexes=[{"digest": "sha256:a", "name": "[internal] load build definition from Dockerfile"}]),
        _status(vertexes=[{"digest": "sha256:a", "name": "[internal] load build definition from Dockerfile",
                           "started": T, "completed": T}]),
        _status(vertexes=[{"digest": "sha256:b", "name": "[1/3] FROM docker.io/library/busybox:latest",
                           "started": T, "completed": T, "cached": True},
                          {"digest": "sha256:c", "name": "[2/3] RUN echo preparing", "started": T}]),
        _status(logs=[_log("sha256:c", "prepar"), _log("sha256:c", "ing\nhalf")]),
        _status(logs=[_log("sha256:c", " a line\n")]),
        _status(vertexes=[{"digest": "sha256:c", "name": "[2/3] RUN echo preparing", "started": T, "completed": T}]),
        _status(vertexes=[{"digest": "sha256:d", "name": "[3/3] RUN make", "started": T}]),
        _status(logs=[_log("sha256:d", "cc -o app\nerror: no such file\n")]),
        _status(vertexes=[{"digest": "sha256:d", "name": "[3/3] RUN make", "started": T, "completed": T,
                           "error": 'process "/bin/sh -c make" did not complete successfully: exit code: 2'}]),
        "Dockerfile:3\n--------------------\n   3 | >>> RUN make\n--------------------\n",
        'ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2\n',
    ]
)  # fmt: skip


@pytest.mark.parametrize("piece", [1, 7, 64, len(FAILED)])
def test_buildkit_progress_reads_as_plain_progress_however_it_arrives(piece):
    log = BuildKitLog()
    for start in range(0, len(FAILED), piece):
        log.feed(FAILED[start : start + piece])
    log.finish()
    assert log.lines == [
        "#1 [internal] load build definition from Dockerfile",
        "#1 DONE",
        "#2 [1/3] FROM docker.io/library/busybox:latest",
        "#2 CACHED",
        "#3 [2/3] RUN echo preparing",
        "#3 preparing",
        "#3 half a line",
        "#3 DONE",
        "#4 [3/3] RUN make",
        "#4 cc -o app",
        "#4 error: no such file",
        '#4 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2',
        "Dockerfile:3",
        "--------------------",
        "   3 | >>> RUN make",  # the excerpt keeps its indentation
        "--------------------",
        'ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2',
    ]
    assert log.steps == ["[1/3] FROM docker.io/library/busybox:latest", "[2/3] RUN echo preparing", "[3/3] RUN make"]
    assert log.failed_step == "[3/3] RUN make"
    assert log.failure_output == ["cc -o app", "error: no such file"]
    assert log.error == 'failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2'


def test_the_first_failure_is_the_cause_not_the_steps_cancelled_beside_it():
    log = BuildKitLog()
    for digest, name, error in [
        ("sha256:x", "[a 2/2] RUN false", "exit code: 1"),
        ("sha256:y", "[b 2/2] RUN sleep 9", "context canceled"),
    ]:
        log.add({"vertexes": [{"digest": digest, "name": name, "started": T, "completed": T, "error": error}]})
    assert log.failed_step == "[a 2/2] RUN false" and log.error == "exit code: 1"
    cancelled_first = BuildKitLog()
    for digest, name, error in [
        ("sha256:y", "[b 2/2] RUN sleep 9", "context canceled"),
        ("sha256:x", "[a 2/2] RUN false", "exit code: 1"),
    ]:
        cancelled_first.add(
            {"vertexes": [{"digest": digest, "name": name, "started": T, "completed": T, "error": error}]}
        )
    assert cancelled_first.failed_step == "[a 2/2] RUN false"


def test_a_secret_a_build_prints_is_masked_before_it_is_kept():
    log = BuildKitLog(mask=lambda text: text.replace("hunter2-token", "[redacted:x]"))
    log.feed(_status(vertexes=[{"digest": "d", "name": "[1/1] RUN cat /run/secrets/t", "started": T}]))
    log.feed(_status(logs=[_log("d", "value: hunter2-token\n")]))
    log.finish()
    assert log.lines[-1] == "#1 value: [redacted:x]" and "hunter2-token" not in log.text()


def test_text_that_only_looks_like_an_object_stays_text():
    log = BuildKitLog()
    log.feed("{not json\n}\nERROR: failed to solve: x\n")
    log.finish()
    assert log.lines == ["{not json", "}", "ERROR: failed to solve: x"] and log.error == "failed to solve: x"


def test_the_build_command_reads_the_context_from_stdin_with_every_option():
    argv = buildkit_argv(
        NestedBuildSpec(
            "docker/Dockerfile", "app:1", {"V": "1 2"}, "test", True, {"npm": "/workspace/.npmrc", "odd": "/w/a,b"}
        )
    )
    assert argv[:3] == ["sh", "-c", argv[2]] and "docker buildx build" in argv[2]
    assert argv[3:9] == ["buildx", "--builder", "default", "--progress=rawjson", "--file", "docker/Dockerfile"]
    options = argv[9:]
    assert options[-1] == "-" and "--no-cache" in options
    assert options[options.index("--tag") + 1] == "app:1" and options[options.index("--target") + 1] == "test"
    assert "V=1 2" in options
    assert "id=npm,src=/workspace/.npmrc" in options and 'id=odd,"src=/w/a,b"' in options  # buildx reads CSV


def _sandbox(kind: str = "docker", mode: str = "dind") -> Sandbox:
    labels = {"io.manyoyo.mcp.engine": kind, "io.manyoyo.mcp.mode": mode, "io.manyoyo.mcp.name": "s"}
    return Sandbox.of(ContainerSummary(id="c" * 64, name="manyoyo-s", state="running", labels=labels))


@pytest.mark.parametrize(
    ("kind", "mode", "wanted", "secrets", "chosen"),
    [
        ("docker", "dind", None, False, "buildkit"),
        ("docker", "dind", None, True, "buildkit"),
        ("docker", "dind", "classic", False, "classic"),
        ("docker", "sock", None, False, "classic"),
        ("podman", "dind", None, True, "buildah"),
    ],
)
def test_each_engine_builds_with_its_builder(kind, mode, wanted, secrets, chosen):
    assert choose_builder(_sandbox(kind, mode), wanted, secrets) == chosen


@pytest.mark.parametrize(
    ("kind", "mode", "wanted", "secrets", "says"),
    [
        ("podman", "dind", "buildkit", False, "podman sandboxes build with buildah"),
        ("podman", "dind", "classic", False, "leave `builder` out"),
        ("docker", "dind", "classic", True, "secrets need BuildKit"),
        ("docker", "sock", "buildkit", False, "use a dind sandbox"),
        ("docker", "sock", None, True, "no secrets"),
    ],
)
def test_a_builder_the_engine_lacks_is_refused_saying_what_to_do(kind, mode, wanted, secrets, says):
    with pytest.raises(InvalidArgument, match=says):
        choose_builder(_sandbox(kind, mode), wanted, secrets)


@pytest.mark.parametrize(
    ("error", "sock", "says"),
    [
        ("the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/", False, "use BuildKit"),
        ("the --mount option requires BuildKit. Refer to ...", True, "a dind sandbox"),
        ("failed to resolve source metadata for docker.io/docker/dockerfile:1.4: failed to do request", False,
         "`# syntax=` line"),
        ("failed to resolve source metadata for docker.io/library/node:22: failed to do request", False,
         "the base image docker.io/library/node:22 is not in the sandbox: copy it from the host with load_image"),
        ("pull access denied for nothere, repository does not exist", False, "the base image nothere is"),
        ("creating build container: initializing source docker://nothere:1: pinging container registry", False,
         "the base image nothere:1 is"),
    ],
)  # fmt: skip
def test_a_failure_that_names_a_missing_feature_says_how_to_get_it(error, sock, says):
    assert says in (failure_hint(error, sock) or "")


def test_the_dockerfiles_own_failures_get_no_hint():
    assert failure_hint('process "/bin/sh -c make" did not complete successfully: exit code: 2') is None


def test_secret_ids_are_checked_and_paths_start_at_the_workspace():
    assert build_secrets.secret_paths({"npm": ".npmrc", "key.pem": "/home/dev/k"}) == {
        "npm": "/workspace/.npmrc",
        "key.pem": "/home/dev/k",
    }
    for bad in ({"a,b": "x"}, {"": "x"}, {"id=x": "y"}, {str(n): "x" for n in range(17)}):
        with pytest.raises(InvalidArgument):
            build_secrets.secret_paths(bad)


def test_a_secrets_value_its_trimmed_value_and_its_longer_lines_are_what_is_masked():
    key = b"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nab\n-----END KEY-----\n"
    values = build_secrets.secret_values([build_secrets.BuildSecret("k", "/w/k", key)])
    assert key.decode() in values and key.decode().strip() in values
    assert "MIIEvQIBADANBgkq" in values and "ab" not in values

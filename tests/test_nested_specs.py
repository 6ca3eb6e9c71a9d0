"""Parsing of the nested tools' arguments, the build log and context, and prune plans (pure)."""

from __future__ import annotations

import io
import tarfile
import time
from datetime import UTC, datetime

import pytest

from manyoyo_mcp.engine import DiskUsage, NestedContainer, NestedImage, NestedInventory, NestedMount, NestedPort
from manyoyo_mcp.engine.build_context import dockerignore_patterns, repack_context
from manyoyo_mcp.engine.nested import NestedVolume
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.nested import specs as nested_specs
from manyoyo_mcp.nested.builds import BuildLog, dockerfile_source
from manyoyo_mcp.nested.containers import since_epoch
from manyoyo_mcp.nested.inventory import PruneRequest, prune_plan
from manyoyo_mcp.policy import allowlists
from manyoyo_mcp.policy.allowlists import loadable


@pytest.mark.parametrize(
    "tag", ["myapp", "myapp:test", "registry.local:5000/team/app:1.2.3", "a_b.c-d:Tag_1.0", "webapp:test"]
)
def test_valid_tags_pass(tag):
    assert nested_specs.image_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    ["MyApp", "app:", ":tag", "app:-x", "app name", "app@sha256:abc", "a" * 256, "app:t\x00", "ａpp", "../x"],  # noqa: RUF001
)
def test_invalid_tags_are_refused_with_the_rule(tag):
    with pytest.raises(InvalidArgument, match="not a valid image tag"):
        nested_specs.image_tag(tag)


def test_image_refs_accept_ids_and_digests():
    assert nested_specs.image_ref("sha256:" + "a" * 64)
    assert nested_specs.image_ref("busybox@sha256:" + "b" * 64)
    with pytest.raises(InvalidArgument):
        nested_specs.image_ref("Busy Box")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", NestedPort(80)),
        ("8080:80", NestedPort(80, "tcp", 8080)),
        ("127.0.0.1:8080:80/udp", NestedPort(80, "udp", 8080, "127.0.0.1")),
    ],
)
def test_ports_parse(spec, expected):
    assert nested_specs.port(spec) == expected


@pytest.mark.parametrize("spec", ["http", "0:80", "8080:70000", "300.1.1.1:80:80", "80/sctp", "8080-8090:80"])
def test_bad_ports_are_refused(spec):
    with pytest.raises(InvalidArgument, match="port"):
        nested_specs.port(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("data:/var/lib/data", NestedMount("data", "/var/lib/data")),
        ("/workspace/app:/app:ro", NestedMount("/workspace/app", "/app", True)),
        ("//workspace//app/:/app/", NestedMount("/workspace/app", "/app")),
    ],
)
def test_volumes_parse(spec, expected):
    assert nested_specs.volume(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "data:relative",
        "data:/",
        "data:/x:rshared",
        "bad name:/x",
        "/a:/b:ro:extra",
    ],
)
def test_malformed_volumes_are_refused(spec):
    with pytest.raises(InvalidArgument, match="volume"):
        nested_specs.volume(spec)


def test_sandbox_paths_are_normalised_from_the_workspace():
    assert allowlists.sandbox_path("context", "app") == "/workspace/app"
    assert allowlists.sandbox_path("context", "//srv//x/") == "/srv/x"
    assert allowlists.sandbox_path("context", "../../..") == "/"
    assert allowlists.forbidden_sandbox_path("/") == "/"
    assert allowlists.forbidden_sandbox_path("/proc/1") == "/proc"
    assert allowlists.forbidden_sandbox_path("/procfs") is None


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


def _tar(entries: dict[str, bytes | None], link: tuple[str, str] | None = None) -> list[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.LNKTYPE, link[1]
            tar.addfile(info)
    raw = buffer.getvalue()
    return [raw[i : i + 1000] for i in range(0, len(raw), 1000)]  # as a stream of chunks


def test_repacked_context_is_rooted_ignores_what_dockerignore_says_and_adds_inline_files():
    archive = _tar(
        {
            "app/": None,
            "app/Dockerfile": b"FROM x\n",
            "app/.dockerignore": b"node_modules\n*.log\n!keep.log\n",
            "app/src/main.py": b"print(1)\n",
            "app/node_modules/dep/index.js": b"x" * 5000,
            "app/debug.log": b"noise",
            "app/keep.log": b"kept",
        },
        link=("app/src/alias.py", "app/src/main.py"),
    )
    patterns = dockerignore_patterns("# comment\nnode_modules\n*.log\n!keep.log\n\n")
    packed, _ = repack_context(
        iter(archive),
        ignore_patterns=patterns,
        keep={"Dockerfile"},
        extra_files={"inline.D": b"FROM y\n"},
        max_bytes=10**6,
    )
    with packed, tarfile.open(fileobj=packed) as tar:
        names = set(tar.getnames())
        assert tar.getmember("src/alias.py").linkname == "src/main.py"
        assert tar.extractfile("inline.D").read() == b"FROM y\n"
    assert names == {"Dockerfile", ".dockerignore", "src/main.py", "src/alias.py", "keep.log", "inline.D"}


def test_a_context_over_the_cap_is_refused_with_advice():
    with pytest.raises(InvalidArgument, match=r"\.dockerignore"):
        repack_context(
            iter(_tar({"c/big": b"x" * 3000})), ignore_patterns=[], keep=set(), extra_files={}, max_bytes=2000
        )


def test_prune_plan_follows_the_engine_order():
    def container(cid, state, image_id, volumes=()):
        return NestedContainer(cid, cid, "img", image_id, state, "", 0, None, (), tuple(volumes))

    inventory = NestedInventory(
        containers=(
            container("run", "running", "sha256:used", ["keep"]),
            container("old", "exited", "sha256:old", ["gone"]),
        ),
        images=(
            NestedImage("sha256:used", ("app:1",), 100, 0),
            NestedImage("sha256:old", ("old:1",), 200, 0),
            NestedImage("sha256:dangling", (), 300, 0),
        ),
        volumes=(NestedVolume("keep", "local"), NestedVolume("gone", "local")),
        networks=(),
    )
    usage = DiskUsage(image_bytes={"sha256:old": 50}, volume_bytes={"gone": 7}, build_cache=(("c1", 9),))
    everything = prune_plan(inventory, usage, PruneRequest(images="unused", volumes=True))
    assert [(i.kind, i.id, i.size_bytes) for i in everything] == [
        ("container", "old", None),
        ("image", "sha256:old", 50),
        ("image", "sha256:dangling", 300),
        ("volume", "gone", 7),
        ("build_cache", "c1", 9),
    ]
    dangling_only = prune_plan(inventory, usage, PruneRequest(containers=False, build_cache=False))
    assert [i.id for i in dangling_only] == ["sha256:dangling"]


def test_since_takes_seconds_ago_or_a_zoned_time():
    assert abs(since_epoch(60) - (time.time() - 60)) < 2
    assert since_epoch("2026-11-29T10:00:00Z") == int(datetime(2026, 11, 29, 10, tzinfo=UTC).timestamp())
    assert since_epoch("2026-11-29T11:00:00+01:00") == since_epoch("2026-11-29T10:00:00Z")
    for bad in ("yesterday", "2026-11-29T10:00:00", "-5"):
        with pytest.raises(InvalidArgument):
            since_epoch(bad)


def test_loadable_images_follow_the_operator_patterns():
    patterns = ("node:*", "manyoyo-busybox")
    assert loadable("node:22-alpine", patterns) and loadable("manyoyo-busybox:latest", patterns)
    assert loadable("manyoyo-busybox", patterns)
    assert not loadable("manyoyo-busybox:other", patterns) and not loadable("nodejs:1", patterns)
    assert not loadable("node:22", ())


class _StalledResponse:
    """A chunked log response that, once cut from another thread, fails the way http.client does."""

    def __init__(self, frames: bytes) -> None:
        self._data = io.BytesIO(frames)
        self.cut = False
        self.raw = self

    def read(self, n: int) -> bytes:
        data = self._data.read(n)
        if not data and self.cut:
            raise AttributeError("'NoneType' object has no attribute 'close'")
        return data

    def close(self) -> None:
        self.cut = True


def test_a_log_stream_cut_by_close_ends_quietly_and_keeps_what_was_read():
    from contextlib import nullcontext

    from manyoyo_mcp.engine.nested import LogStream

    response = _StalledResponse(b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n")
    stream = LogStream(response, nullcontext)
    frames = stream.frames()
    assert next(frames) == (1, b"hi\n")
    stream.close()
    assert list(frames) == []
    uncut = LogStream(_StalledResponse(b""), nullcontext)
    uncut._response.cut = True  # failing without our close is an error, not an end
    with pytest.raises(AttributeError):
        list(uncut.frames())

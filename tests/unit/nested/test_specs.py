"""Parsing what an agent passes to the nested tools: image references, ports, volumes (pure)."""

from __future__ import annotations

import pytest

from manyoyo_mcp.engine import NestedMount, NestedPort, NestedTmpfs
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.nested import specs as nested_specs


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
        ("80", NestedPort(80, host_ip="127.0.0.1")),  # the sandbox's loopback unless an address is named
        ("8080:80", NestedPort(80, "tcp", 8080, "127.0.0.1")),
        ("0.0.0.0:8080:80/udp", NestedPort(80, "udp", 8080, "0.0.0.0")),
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


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/tmp", NestedTmpfs("/tmp")),
        ("/run:size=64m,mode=1777", NestedTmpfs("/run", ("size=64m", "mode=1777"))),
        ("//var//cache/:rw, exec ,", NestedTmpfs("/var/cache", ("rw", "exec"))),
    ],
)
def test_tmpfs_mounts_parse(spec, expected):
    assert nested_specs.tmpfs(spec) == expected


@pytest.mark.parametrize("spec", ["tmp", "relative:size=1m", "/", "/..:size=1m", "/tmp\x00"])
def test_tmpfs_over_the_root_or_a_relative_path_is_refused(spec):
    with pytest.raises(InvalidArgument, match="tmpfs"):
        nested_specs.tmpfs(spec)


@pytest.mark.parametrize("spec", ["root", "1000", "1000:1000", "node", "www-data:www-data", "app_1:0", "_apt"])
def test_user_specs_of_the_engines_forms_pass(spec):
    assert nested_specs.user(spec) == spec


@pytest.mark.parametrize("spec", ["", "a b", "1000:", ":1000", "1:2:3", "-1", "user;id", "a" * 33, "../x", "r\x00"])
def test_malformed_user_specs_say_the_forms(spec):
    with pytest.raises(InvalidArgument, match="'uid:gid'"):
        nested_specs.user(spec)

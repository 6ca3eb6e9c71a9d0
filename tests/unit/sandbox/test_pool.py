"""The warm pool's pure parts: its sizes, what a request is made from (its shape), which requests
it serves, and the requests it fills itself with (the engine parts: tests/engine/test_warm_pool.py)."""

from __future__ import annotations

import logging

import pytest

from manyoyo_mcp.config.run_profiles import RunProfile
from manyoyo_mcp.config.settings import ServerSettings, pool_sizes, settings_from_env
from manyoyo_mcp.egress import NetworkChoice
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.pool import serves, shape_of
from manyoyo_mcp.sandbox.warm_pool import pool_requests


def test_sizes_are_n_for_calls_naming_no_profile_or_profile_equals_n():
    assert pool_sizes(("2", "dind=1", " node = 0 ")) == {"": 2, "dind": 1, "node": 0}
    assert pool_sizes(()) == {}


@pytest.mark.parametrize("entry", ["x", "dind=", "=-1", "9", "dind=1.5", "2,2"])
def test_a_bad_size_says_what_is_allowed(entry):
    with pytest.raises(InvalidArgument, match="give N, or <run profile>=N, N from 0 to 8"):
        settings_from_env({"MANYOYO_WARM_POOL": entry})


def test_the_shape_ignores_the_name_and_nothing_else():
    settings = ServerSettings(scope="t")
    base = shape_of(CreateRequest(), settings)
    assert shape_of(CreateRequest(name="mine"), settings) == base
    assert len(base) == 16 and base == shape_of(CreateRequest(), ServerSettings(scope="t"))
    others = [
        CreateRequest(engine="podman"),
        CreateRequest(memory="512m"),
        CreateRequest(env={"A": "1"}),
        CreateRequest(network=NetworkChoice(mode="none")),
        CreateRequest(first="npm ci"),
    ]
    assert len({base, *(shape_of(r, settings) for r in others)}) == len(others) + 1


def test_a_sandbox_made_under_other_settings_has_another_shape():
    request = CreateRequest()
    base = shape_of(request, ServerSettings(scope="t"))
    assert shape_of(request, ServerSettings(scope="t", default_disk="4g")) != base
    assert shape_of(request, ServerSettings(scope="t", network_ceiling="allowlist")) != base
    assert shape_of(request, ServerSettings(scope="t"), image_id="sha256:1") != base  # the image rebuilt


def test_the_pool_serves_unnamed_dind_requests_only():
    assert serves(CreateRequest()) and serves(CreateRequest(memory="1g", engine="podman"))
    assert not serves(CreateRequest(name="mine"))
    assert not serves(CreateRequest(mode="sock"))


def test_the_pool_fills_with_what_a_bare_call_under_each_profile_asks(caplog):
    runs = {
        "node": RunProfile(engine="podman", memory="2g", env={"CI": "true"}),
        "named": RunProfile(containerName="fixed"),
        "sock": RunProfile(containerMode="sock"),
        "zero": RunProfile(),
    }
    settings = ServerSettings(scope="t", runs=runs, warm_pool=("1", "node=2", "named=1", "sock=1", "zero=0"))
    with caplog.at_level(logging.WARNING, logger="manyoyo_mcp.sandbox.warm_pool"):
        wanted = pool_requests(settings)
    assert [(shown, size) for shown, _, size in wanted] == [
        ("calls naming no run profile", 1),
        ("run profile 'node'", 2),
    ]
    assert wanted[0][1] == CreateRequest()
    node = wanted[1][1]
    assert (node.engine, node.memory, node.env, node.name) == ("podman", "2g", {"CI": "true"}, None)
    warned = " | ".join(r.getMessage() for r in caplog.records)
    assert "run profile 'named' names its sandbox" in warned and "run profile 'sock' names its sandbox" in warned
    assert "zero" not in warned


def test_a_pool_for_a_run_profile_that_is_not_configured_is_refused_naming_those_that_are():
    with pytest.raises(ValueError, match=r"names run profile .gone., which is not configured .run profiles: node."):
        ServerSettings(scope="t", runs={"node": RunProfile()}, warm_pool=("gone=1",))


def test_servers_with_other_pool_sizes_audit_logs_or_project_folders_share_a_pool():
    bare = CreateRequest()
    base = shape_of(bare, ServerSettings(scope="t"))
    assert shape_of(bare, ServerSettings(scope="t", warm_pool=("2",))) == base
    assert shape_of(bare, ServerSettings(scope="t", audit_dir="/elsewhere", allowed_host_roots=("/srv",))) == base

"""The engine seam against the real engine: labels, lookups, exec, and error mapping."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from manyoyo_mcp.config.settings import DEFAULT_IMAGE
from manyoyo_mcp.engine import ContainerSpec, Engine, Mount, ObjectNotFound
from manyoyo_mcp.errors import EngineUnavailable
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.runtime import runtime_profile


@pytest.fixture(scope="module")
def container(engine: Engine, scope: str) -> Iterator[tuple[str, str, str]]:
    """A sandbox-image container made through the seam (no readiness wait), removed afterwards."""
    name = f"engine-test-{secrets.token_hex(3)}"
    volume = name + "-data"
    labels = {**ownership.owner_labels(scope), ownership.KIND: "engine-test"}
    engine.create_volume(volume, labels)
    spec = ContainerSpec(
        name=name,
        image=DEFAULT_IMAGE,
        labels=labels,
        environment={"GREETING": "hello"},
        mounts=(Mount(volume, "/var/lib/docker", "volume"),),
        nano_cpus=500_000_000,
        memory_bytes=256 * 1024**2,
        pids_limit=100,
        profile=runtime_profile("standard"),
    )
    container_id = engine.create_container(spec)
    engine.start_container(container_id)
    yield name, container_id, volume
    engine.remove_container(container_id)
    engine.remove_volume(volume)


def test_containers_are_found_by_all_their_labels_only(engine, scope, container):
    name, container_id, _ = container
    mine = engine.list_containers({**ownership.owner_labels(scope), ownership.KIND: "engine-test"})
    others = engine.list_containers({**ownership.owner_labels("another-scope"), ownership.KIND: "engine-test"})
    assert [c.id for c in mine] == [container_id]
    assert mine[0].name == name and mine[0].state == "running"
    assert container_id not in [c.id for c in others]


def test_a_container_is_found_by_its_exact_name_not_a_prefix(engine, container):
    name, container_id, _ = container
    found = engine.container_named(name)
    assert found is not None and found.id == container_id
    assert engine.container_named(name[:-1]) is None


def test_inspect_reports_the_limits_and_mounts_that_were_set(engine, container):
    name, container_id, volume = container
    details = engine.inspect_container(container_id)
    assert (details.nano_cpus, details.memory_bytes, details.pids_limit) == (500_000_000, 256 * 1024**2, 100)
    assert (details.name, details.image) == (name, DEFAULT_IMAGE)
    assert Mount(volume, "/var/lib/docker", "volume") in details.mounts


def test_exec_run_returns_code_and_both_streams(engine, container):
    _, container_id, _ = container
    assert engine.exec_run(container_id, ["sh", "-c", "echo $GREETING; echo oops >&2; exit 4"]) == (
        4,
        "hello\n",
        "oops\n",
    )


def test_an_exec_stream_yields_stdout_and_stderr_apart_then_its_exit_code(engine, container):
    _, container_id, _ = container
    stream = engine.exec_start(container_id, ["sh", "-c", "echo a; echo b >&2; echo c"], "/tmp", {"X": "1"})
    try:
        chunks = list(stream.chunks())
    finally:
        stream.close()
    assert b"".join(data for kind, data in chunks if kind == 1) == b"a\nc\n"
    assert b"".join(data for kind, data in chunks if kind == 2) == b"b\n"
    assert engine.exec_exit_code(stream.exec_id) == 0


def test_missing_objects_map_to_not_found_and_removal_is_idempotent(engine):
    with pytest.raises(ObjectNotFound):
        engine.inspect_container("0" * 64)
    engine.remove_container("0" * 64)
    engine.remove_volume("manyoyo-no-such-volume-" + secrets.token_hex(3))
    assert not engine.image_present("manyoyo-no-such-image:0")
    assert engine.image_present(DEFAULT_IMAGE)


@pytest.mark.parametrize("host", ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"])
def test_an_unreachable_engine_is_reported_with_how_to_start_it(host):
    engine = Engine(host)
    with pytest.raises(EngineUnavailable, match="Start it") as raised:
        engine.ping()
    assert host in str(raised.value)
    engine.close()

"""Shared fixtures. Tests that touch the engine use the real one: if it is missing, they fail."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from manyoyo_mcp.config.settings import DEFAULT_IMAGE, ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.sandbox import ownership


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    engine = Engine()
    try:
        engine.ping()
    except ManyoyoError as exc:
        pytest.fail(f"these tests need a real Docker engine (run scripts/setup): {exc}", pytrace=False)
    if not engine.image_present(DEFAULT_IMAGE):
        pytest.fail(f"the sandbox image {DEFAULT_IMAGE} is missing: run scripts/setup", pytrace=False)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def scope(engine: Engine) -> Iterator[str]:
    """A scope of its own for this test run; everything made under it is removed at the end."""
    name = "t" + secrets.token_hex(4)
    yield name
    labels = ownership.owner_labels(name)
    for container in engine.list_containers(labels):
        engine.remove_container(container.id)
    for volume in engine.list_volumes(labels):
        engine.remove_volume(volume)


@pytest.fixture(scope="session")
def settings(scope: str, tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    audit_dir = str(tmp_path_factory.mktemp("audit"))
    return ServerSettings(
        scope=scope,
        default_memory="1g",
        ready_timeout_s=60,
        exec_timeout_s=60,
        audit_dir=audit_dir,
        allowed_host_roots=(str(tmp_path_factory.getbasetemp()),),
    )

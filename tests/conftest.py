"""Shared fixtures, and which tests touch the engine.

tests/unit/ mirrors the package and never touches the engine (`pytest tests/unit`, or
`-m "not engine"`, runs it in seconds). Every other test drives the real engine, carries the
`engine` marker, and fails (never skips) when the engine or the sandbox image is missing.
Everything a test creates lives under a scope of its own and is removed by label at the end.
MANYOYO_SANDBOX_IMAGE points the tests' sandboxes at another image (one built to try a change).
Tests marked `vm` need the VM test host (scripts/vm/, a cgroup v2 engine): they run last, so that
the VM can build and boot in the background meanwhile (scripts/test starts it), and they fail, never
skip, when it cannot come up.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from manyoyo_mcp.config.settings import DEFAULT_IMAGE, ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.sandbox import ownership

from .support.vm_host import SCRIPTS, VMHostError, ensure_vm, vm_status

UNIT = Path(__file__).parent / "unit"
VM_SETUP = Path(__file__).parent.parent / "build" / "vm-setup.txt"
# The sandbox image under test: MANYOYO_SANDBOX_IMAGE (a thin image while iterating), else the default.
SANDBOX_IMAGE = os.environ.get("MANYOYO_SANDBOX_IMAGE") or DEFAULT_IMAGE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `engine` marker on every test outside tests/unit/; a unit test asking for the engine is refused."""
    for item in items:
        if UNIT not in item.path.parents:
            item.add_marker(pytest.mark.engine)
        elif "engine" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} uses the engine: it belongs in tests/engine/, not tests/unit/")
    items.sort(key=lambda item: item.get_closest_marker("vm") is not None)  # stable: the VM's tests last


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
    if not engine.image_present(SANDBOX_IMAGE):
        pytest.fail(f"the sandbox image {SANDBOX_IMAGE} is missing: run scripts/setup", pytrace=False)
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
    for network in engine.list_networks(labels):
        engine.remove_network(network)


@pytest.fixture(scope="session")
def settings(scope: str, tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    audit_dir = str(tmp_path_factory.mktemp("audit"))
    return ServerSettings(
        scope=scope,
        sandbox_image=SANDBOX_IMAGE,
        default_memory="1g",
        # Tests hold several sandboxes at once on a 2-core machine: small sparse disks, and totals
        # that leave room for them (test_resources.py checks the totals with its own settings).
        default_disk="2g",
        total_cpu_share=16,
        total_pid_share=1,
        total_disk_share=8,
        ready_timeout_s=60,
        exec_timeout_s=60,
        audit_dir=audit_dir,
        allowed_host_roots=(str(tmp_path_factory.getbasetemp()),),
    )


@pytest.fixture(scope="session")
def vm_host() -> str:
    """The VM test host's DOCKER_HOST (tcp://127.0.0.1:PORT), booted (or reused) with the host's
    images preloaded. How long the tests waited for it and what its setup took from nothing go to
    build/vm-setup.txt."""
    started = time.monotonic()
    try:
        host = ensure_vm()
    except VMHostError as exc:
        pytest.fail(f"the VM test host does not come up ({SCRIPTS}/README.md): {exc}", pytrace=False)
    waited = time.monotonic() - started
    VM_SETUP.parent.mkdir(exist_ok=True)
    VM_SETUP.write_text(f"the tests waited {waited:.0f} s for the VM\n{vm_status()}")
    return host

"""The engine matrix: what users' hosts run, proven on the VM test host (scripts/vm/: Debian 12,
Docker 20.10, cgroup v2, `--privileged` allowed; its engine reached at tcp://127.0.0.1:PORT).

Every cell (runtime profile x inner engine) is one sandbox, reused for all of its checks, once per
run: a profile's two cells side by side, then the other profile's (four at once, beside the main
suite, starved the emulated guest past the engines' time limits). The VM runs under software
emulation (no KVM here), where every step takes many times its time here: by default (CI) the
matrix is its four cells (`standard` and `privileged`, each with both inner engines: Podman on
cgroup v2 is what users hit), each with the essential checks: create, an exec, a small build, a
nested run and its output, the quick host-reach probes (KEY_ROUTES) from the sandbox and from a
nested --privileged container. MANYOYO_VM_MATRIX=full adds every nested tool, every probe from
every place (several times as long). The tests then read what each step did. A step that fails
stops its cell; the tests of the steps after it say so. The host-reach outcomes must match
EXPECTED in test_host_reach.py and SECURITY.md's columns for the VM (`scripts/security-table
--results build/host-reach-vm.json` rewrites them)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call
from ..support.vm_host import guest_canaries
from . import test_host_reach as reach

pytestmark = pytest.mark.vm

FULL = os.environ.get("MANYOYO_VM_MATRIX") == "full"
PROFILES = ("standard", "privileged")
CELLS = tuple((profile, engine) for profile in PROFILES for engine in reach.ENGINES)
SLOW_ROUTES = {"proc-sysctls", "block-device", "host-disk-mount", "host-file", "host-engine"}
"""Probes that walk every sysctl, disk or file: minutes under emulation; the full matrix runs them."""
KEY_ROUTES = tuple(r for r in reach.ROUTE_IDS if r not in SLOW_ROUTES and not r.startswith("sandbox-"))
"""The host routes whose probes are quick: fresh proc mounts (core_pattern, sysrq), cgroup
release_agent (and CVE-2022-0492), the cgroup root, devices, system calls, the host's processes and
loopback."""
PLACES = reach.PLACES if FULL else ("sandbox", "privileged")
ROUTES = reach.ROUTE_IDS if FULL else KEY_ROUTES
RESULTS = reach.ROOT / "build" / "host-reach-vm.json"
WAIT_S = 20
"""Seconds a socket gets to answer in the probes: Podman's /info takes several under emulation."""


@dataclasses.dataclass(slots=True)
class Step:
    ok: bool
    detail: str
    seconds: float


@dataclasses.dataclass(slots=True)
class Cell:
    """One sandbox of one runtime profile and inner engine, and what each step did."""

    profile: str
    engine: str
    name: str
    steps: dict[str, Step] = dataclasses.field(default_factory=dict)
    records: list[reach.Record] = dataclasses.field(default_factory=list)
    inner_version: str = ""
    inspect: dict[str, Any] = dataclasses.field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def step(self, name: str, detail: str = ""):
        """Record a step; one that fails (an assertion, a tool error) stops the cell."""
        started = time.monotonic()
        try:
            yield
        except Exception as exc:
            self.steps[name] = Step(False, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
            raise
        self.steps[name] = Step(True, detail, time.monotonic() - started)

    def check(self, *names: str) -> None:
        """Assert that these steps ran and succeeded; name the first that did not."""
        for name in names:
            step = self.steps.get(name)
            failed = [f"{n}: {s.detail}" for n, s in self.steps.items() if not s.ok]
            assert step is not None, f"{name!r} did not run: an earlier step failed ({'; '.join(failed) or '?'})"
            assert step.ok, f"{name!r} failed under {self.profile} with {self.engine}: {step.detail}"


@dataclasses.dataclass(slots=True)
class Matrix:
    host: str
    info: dict[str, Any]
    cells: dict[tuple[str, str], Cell]
    measurements: list[reach.Measurement]
    seconds: float


def vm_docker(host: str, *args: str) -> str:
    """The docker CLI aimed at the VM's engine."""
    env = {**os.environ, "DOCKER_HOST": host}
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, check=True).stdout


async def _exec(client: Client, sandbox: str, command: str) -> dict[str, Any]:
    return await call(client, "exec", {"sandbox": sandbox, "command": command, "timeout_s": 600})


async def _lifecycle(client: Client, cell: Cell) -> str:
    """create, the sandbox proper on cgroup v2, list, create again; the sandbox's id."""
    name = cell.name
    async with cell.step("create"):
        created = await call(client, "create_sandbox", {"name": name, "engine": cell.engine})
        assert (created["state"], created["engine"], created["created"]) == ("running", cell.engine, True)
        assert created["engine_version"], str(created)
    async with cell.step("cgroup-v2"):
        cgroup = "cat /proc/self/cgroup; stat -fc %T /sys/fs/cgroup; cat /sys/fs/cgroup/cgroup.subtree_control"
        shown = await _exec(client, name, cgroup)
        lines = shown["stdout"].splitlines()
        # The server's commands: a job's own leaf under sandboxd (or, through crun exec, the proper's leaf).
        assert re.fullmatch(r"0::/(init|manyoyo-jobs/[\w.-]+)", lines[0]) and lines[1] == "cgroup2fs", str(shown)
        assert {"cpu", "memory", "pids"} <= set(lines[2].split()), str(shown)  # delegated to the nested engine
    if not FULL:
        return created["id"]
    async with cell.step("list"):
        listed = await call(client, "list_sandboxes")
        mine = [s for s in listed["sandboxes"] if s["name"] == name]
        assert [(s["state"], s["engine"], s["mode"]) for s in mine] == [("running", cell.engine, "dind")], str(listed)
    async with cell.step("create-again"):
        again = await call(client, "create_sandbox", {"name": name})
        assert (again["created"], again["id"]) == (False, created["id"]), str(again)
    return created["id"]


WEB = "mkdir -p /www && echo hello-from-v2 > /www/index.html && echo serving && exec httpd -f -p 80 -h /www"


async def _nested_tools(client: Client, cell: Cell) -> None:
    """load_image, build_image, run_container (limits, its output); in the full matrix also a
    published port, list_nested, logs, stop, remove."""
    sandbox = {"sandbox": cell.name}
    async with cell.step("load_image"):
        await call(client, "load_image", {**sandbox, "image": TESTBOX})
    async with cell.step("build_image"):
        dockerfile = f"FROM {TESTBOX}\nRUN echo built-on-v2 > /built\n"
        built = await call(client, "build_image", {**sandbox, "dockerfile": dockerfile, "tag": "matrix:1"})
        assert built["steps"] == 2, str(built)
    async with cell.step("run_container-limits"):
        command = "cat /built /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
        ran = await call(
            client,
            "run_container",
            {**sandbox, "image": "matrix:1", "command": command, "memory": "256m", "pids": 100, "remove": True},
        )
        assert (ran["exit_code"], ran["stdout"]) == (0, f"built-on-v2\n{256 * 1024**2}\n100\n"), str(ran)
    if not FULL:
        return
    async with cell.step("run_container-published"):
        web = {**sandbox, "image": TESTBOX, "command": WEB, "name": "web", "detach": True, "ports": ["8080:80"]}
        started = await call(client, "run_container", web)
        assert started["state"] == "running", str(started)
        got = await _exec(client, cell.name, "curl -sf --retry 20 --retry-connrefused --retry-delay 1 localhost:8080")
        assert got["stdout"] == "hello-from-v2\n", str(got)
    async with cell.step("list_nested"):
        listed = await call(client, "list_nested", sandbox)
        assert [c["state"] for c in listed["containers"] if c["name"] == "web"] == ["running"], str(listed)
        assert any(tag.endswith("matrix:1") for image in listed["images"] for tag in image["tags"]), str(listed)
    async with cell.step("container_logs"):
        logs = await call(client, "container_logs", {**sandbox, "container": "web"})
        assert "serving" in logs["stdout"], str(logs)
    async with cell.step("stop-remove"):
        await call(client, "stop_container", {**sandbox, "container": "web", "timeout_s": 5})
        await call(client, "remove_container", {**sandbox, "container": "web"})


async def _prune_and_remove(client: Client, cell: Cell, host: str, settings: ServerSettings) -> None:
    if FULL:
        async with cell.step("prune"):
            pruned = await call(client, "prune", {"sandbox": cell.name, "images": "unused"})
            assert any(item["name"].endswith("matrix:1") for item in pruned["items"]), str(pruned)
    async with cell.step("remove"):
        removed = await call(client, "remove_sandbox", {"sandbox": cell.name})
        volume = ownership.engine_volume_name(settings.scope, cell.name)
        assert removed["removed_volumes"] == [volume], str(removed)
        assert volume not in vm_docker(host, "volume", "ls", "-q").split()


async def run_cell(settings: ServerSettings, host: str, canaries: reach.HostCanaries, cell: Cell) -> None:
    """Every step of one cell, in order, until one fails; the sandbox is removed in any case."""
    engine = Engine(host)
    profiled = settings.model_copy(update={"runtime_profile": cell.profile})
    try:
        async with Client(build_server(profiled, engine)) as client:
            try:
                sandbox_id = await _lifecycle(client, cell)  # (restarts: tests/engine, cgroup v1)
                await _nested_tools(client, cell)
                async with cell.step("probes"):
                    cell.records, cell.inner_version = await reach.measure_sandbox(
                        client, canaries, cell.engine, cell.name, wait=WAIT_S, places=PLACES, routes=ROUTES
                    )
                    cell.inspect = json.loads(vm_docker(host, "inspect", sandbox_id))[0]["HostConfig"]
                await _prune_and_remove(client, cell, host, profiled)
            except Exception:  # recorded by its step; what is left goes
                with contextlib.suppress(Exception):
                    await client.call_tool("remove_sandbox", {"sandbox": cell.name})
    finally:
        engine.close()


def measurements(cells: dict[tuple[str, str], Cell], info: dict[str, Any]) -> list[reach.Measurement]:
    """The probes' records as test_host_reach's measurements, one per profile whose cells all ran."""
    found = []
    for profile in PROFILES:
        mine = [cell for (p, _), cell in cells.items() if p == profile]
        if not mine or not all(cell.records for cell in mine):
            continue
        found.append(
            reach.Measurement(
                profile=profile,
                cgroup=f"v{info['CgroupVersion']}",
                date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
                kernel=info["KernelVersion"],
                host_engine=f"Docker {info['ServerVersion']} ({info['OperatingSystem']}, a VM)",
                inner_engines={cell.engine: cell.inner_version for cell in mine},
                records=[record for cell in mine for record in cell.records],
                inspect={cell.engine: cell.inspect for cell in mine},
            )
        )
    return found


def sweep(host: str, scope: str) -> None:
    """Whatever a cell left in the VM's engine under this run's scope goes."""
    engine = Engine(host)
    try:
        labels = ownership.owner_labels(scope)
        for container in engine.list_containers(labels):
            engine.remove_container(container.id)
        for volume in engine.list_volumes(labels):
            engine.remove_volume(volume)
    finally:
        engine.close()


@pytest.fixture(scope="module")
def matrix(vm_host: str, settings: ServerSettings) -> Iterator[Matrix]:
    """Every cell, side by side, against the VM's engine, with canaries in the guest."""
    vm_settings = settings.model_copy(
        update={"docker_host": vm_host, "ready_timeout_s": 300, "exec_timeout_s": 600, "loadable_images": (TESTBOX,)}
    )
    info = json.loads(vm_docker(vm_host, "info", "--format", "{{json .}}"))
    token = secrets.token_hex(2)
    cells = {(p, e): Cell(p, e, f"m{p[0]}{e[0]}-{token}") for p, e in CELLS}
    started = time.monotonic()
    with guest_canaries() as guest:
        canaries = reach.HostCanaries(
            file=Path(guest.file),
            token=guest.token,
            port=guest.port,
            engine_id=info["ID"],
            engine_tcp=tuple(f"{address}:2375" for address in guest.addresses),
        )

        async def run_all() -> None:
            for profile in PROFILES:  # a profile's cells side by side, the profiles one after the other
                async with anyio.create_task_group() as group:
                    for cell in (c for (p, _), c in cells.items() if p == profile):
                        group.start_soon(run_cell, vm_settings, vm_host, canaries, cell)

        try:
            anyio.run(run_all)
        finally:
            sweep(vm_host, settings.scope)
    seconds = time.monotonic() - started
    found = measurements(cells, info)
    if found:
        reach.write_results(found, RESULTS)
    summary = [f"engine matrix on the VM: {seconds:.0f} s"]
    for cell in cells.values():
        steps = ", ".join(f"{n} {s.seconds:.0f}s{'' if s.ok else ' FAILED'}" for n, s in cell.steps.items())
        summary.append(f"  {cell.profile} {cell.engine}: {steps}")
    print("\n".join(summary))
    (reach.ROOT / "build" / "engine-matrix.txt").write_text("\n".join(summary) + "\n")
    yield Matrix(vm_host, info, cells, found, seconds)


CELL_IDS = [f"{p}-{e}" for p, e in CELLS]


def test_the_vm_is_a_cgroup_v2_host_that_allows_privileged(matrix: Matrix):
    assert (matrix.info["CgroupVersion"], matrix.info["ServerVersion"].split(".")[:2]) == ("2", ["20", "10"])
    assert matrix.info["OperatingSystem"].startswith("Debian GNU/Linux 12")


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_a_sandbox_comes_up_with_its_proper_on_cgroup_v2(matrix: Matrix, cell):
    matrix.cells[cell].check("create", "cgroup-v2")


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_the_nested_tools_work(matrix: Matrix, cell):
    matrix.cells[cell].check("load_image", "build_image", "run_container-limits")
    if FULL:
        matrix.cells[cell].check(
            "list", "create-again", "run_container-published", "list_nested", "container_logs", "stop-remove", "prune"
        )


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_remove_takes_the_sandbox_and_its_storage(matrix: Matrix, cell):
    matrix.cells[cell].check("remove")


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_the_outer_container_has_its_profile_and_no_host_namespaces(matrix: Matrix, cell):
    matrix.cells[cell].check("probes")
    inspect = matrix.cells[cell].inspect
    assert inspect["Privileged"] is (cell[0] == "privileged")
    assert inspect["CgroupnsMode"] == "private" and inspect["PidMode"] == "" and inspect["UTSMode"] == ""
    assert inspect["NetworkMode"].endswith("-net") and inspect["UsernsMode"] == ""  # a network of its own
    assert not inspect["Devices"] and not inspect["PortBindings"]
    assert inspect["Ulimits"] == [{"Name": "memlock", "Hard": -1, "Soft": -1}]  # nested crun: cgroup v2's device filter
    assert all("docker.sock" not in bind for bind in inspect["Binds"] or [])


@pytest.mark.parametrize("profile", PROFILES)
def test_every_route_has_the_expected_outcome_from_every_place(matrix: Matrix, profile):
    for (p, _), cell in matrix.cells.items():
        if p == profile:
            cell.check("probes")
    measured = next(m for m in matrix.measurements if m.profile == profile)
    reach.assert_expected(measured)


def test_security_md_shows_the_outcomes_on_the_vm(matrix: Matrix):
    assert {m.profile for m in matrix.measurements} == set(PROFILES), "a cell's probes did not run"
    reach.assert_security_md_shows(matrix.measurements, RESULTS)

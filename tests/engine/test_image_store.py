"""The shared image store (issue 18, item 5): podman sandboxes read host images from one read-only
store the server fills once, instead of a copy each; docker sandboxes still get a copy. Checked on
a real engine: what each load sends and stores, that layers with whiteouts work from the store,
that no agent can write, remount or unmount it, and that a rebuilt host image replaces the old."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.egress import NetworkChoice
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.image_store import KEEPER_KIND, ImageStore
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.service import SandboxService
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, in_proper, load_testbox

pytestmark = pytest.mark.anyio

# Two layers: the second deletes a file of the first (a whiteout in the store) and adds one.
LAYERED = f"FROM {TESTBOX}\nRUN echo one > /one && echo gone > /gone\nRUN rm /gone && echo {{mark}} > /two\n"


def _build_host_image(tag: str, mark: str) -> str:
    """A host image `tag` built from LAYERED with `mark` in /two; its id."""
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=LAYERED.format(mark=mark).encode(), check=True)
    return docker("image", "inspect", "-f", "{{.Id}}", tag).strip()


@pytest.fixture(scope="module")
def layered() -> Iterator[str]:
    tag = f"manyoyo-test-layered-{secrets.token_hex(3)}:1"
    _build_host_image(tag, "first")
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.fixture(scope="module")
def store_settings(settings: ServerSettings, layered: str) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": (TESTBOX, layered), "exec_timeout_s": 120})


@pytest.fixture(scope="module")
def sandboxes(store_settings: ServerSettings, engine: Engine) -> Iterator[dict[str, str]]:
    """Two podman sandboxes and a docker one, removed at the end."""
    names = {"p1": f"st-p1-{secrets.token_hex(2)}", "p2": f"st-p2-{secrets.token_hex(2)}"}
    names["d"] = f"st-d-{secrets.token_hex(2)}"

    async def make() -> None:
        async with Client(build_server(store_settings, engine)) as client:
            for key, name in names.items():
                await call(client, "create_sandbox", {"name": name, "engine": "docker" if key == "d" else "podman"})

    async def remove() -> None:
        async with Client(build_server(store_settings, engine)) as client:
            for name in names.values():
                await call(client, "remove_sandbox", {"sandbox": name})

    anyio.run(make)
    yield names
    anyio.run(remove)


def _own_storage_kib(container: str) -> int:
    return int(in_proper(container, "du", "-sk", "/var/lib/containers/storage").split()[0])


async def test_podman_sandboxes_share_one_copy_and_docker_gets_its_own(store_settings, engine, sandboxes, layered):
    p1, p2, d = (ownership.container_name(store_settings.scope, sandboxes[k]) for k in ("p1", "p2", "d"))
    before = _own_storage_kib(p2)
    async with Client(build_server(store_settings, engine)) as client:
        first = await call(client, "load_image", {"sandbox": sandboxes["p1"], "image": layered})
        second = await call(client, "load_image", {"sandbox": sandboxes["p2"], "image": layered})
        copied = await call(client, "load_image", {"sandbox": sandboxes["d"], "image": layered})
        ran = await call(
            client,
            "run_container",
            {"sandbox": sandboxes["p2"], "image": layered, "command": "cat /one /two; ls /gone", "remove": True},
        )
        listed = await call(client, "list_nested", {"sandbox": sandboxes["p2"]})
        pruned = await call(client, "prune", {"sandbox": sandboxes["p2"], "images": "unused"})
        after_prune = await call(client, "list_nested", {"sandbox": sandboxes["p2"]})
    host_id = docker("image", "inspect", "-f", "{{.Id}}", layered).strip()
    assert first["shared"] and second["shared"] and not copied["shared"], (first, second, copied)
    assert first["image_id"] == second["image_id"] == copied["image_id"] == host_id
    assert first["bytes_transferred"] > 1_000_000  # what the keeper took into the store
    assert second["bytes_transferred"] == 0 and copied["bytes_transferred"] > 1_000_000
    # The second podman sandbox holds next to nothing of its own for a ~2 MB image.
    assert _own_storage_kib(p2) - before < 200, (before, _own_storage_kib(p2))
    assert ran["exit_code"] != 0 and ran["stdout"] == "one\nfirst\n" and "/gone" in ran["stderr"], ran
    shown = [i for i in listed["images"] if layered in i["tags"] or f"localhost/{layered}" in i["tags"]]
    assert shown and shown[0]["shared"], listed["images"]
    assert all(i["id"] != host_id for i in pruned["items"]) and any(i["shared"] for i in after_prune["images"])
    assert in_proper(d, "sh", "-c", "grep -c manyoyo-images /proc/self/mountinfo || true").strip() == "0"
    assert in_proper(p1, "sh", "-c", "grep -c ' /var/lib/manyoyo-images ' /proc/self/mountinfo").strip() == "1"


async def test_no_agent_can_change_the_store(store_settings, engine, sandboxes, layered):
    script = (
        "touch /var/lib/manyoyo-images/storage/x 2>&1; "
        "mount -o remount,bind,rw /var/lib/manyoyo-images 2>&1; echo remount=$?; "
        "umount -l /var/lib/manyoyo-images 2>&1; echo umount=$?; "
        "mkdir -p /tmp/s && mount --bind /var/lib/manyoyo-images /tmp/s && mount -o remount,bind,rw /tmp/s 2>&1; "
        "echo rebind=$?; touch /tmp/s/storage/y 2>&1; "
        f"podman rmi {layered} 2>&1; echo rmi=$?"
    )
    async with Client(build_server(store_settings, engine)) as client:
        await call(client, "load_image", {"sandbox": sandboxes["p2"], "image": layered})
        done = await call(client, "exec", {"sandbox": sandboxes["p2"], "command": script, "user": "root"})
        run = {"sandbox": sandboxes["p2"], "image": layered, "remove": True}
        still = await call(client, "run_container", {**run, "command": "cat /one"})
    out = done["stdout"]
    assert out.count("Read-only file system") == 2, out
    assert "remount=0" not in out and "umount=0" not in out and "rebind=0" not in out, out
    assert "read-only" in out.split("rmi=")[0].lower() and "rmi=0" not in out, out
    assert still["stdout"] == "one\n"


async def test_a_rebuilt_host_image_replaces_the_shared_one(store_settings, engine, sandboxes, layered):
    async with Client(build_server(store_settings, engine)) as client:
        old = await call(client, "load_image", {"sandbox": sandboxes["p1"], "image": layered})
        new_id = _build_host_image(layered, "second")
        new = await call(client, "load_image", {"sandbox": sandboxes["p1"], "image": layered})
        seen = await call(client, "load_image", {"sandbox": sandboxes["p2"], "image": layered})
        run = {"sandbox": sandboxes["p2"], "image": layered, "remove": True}
        ran = await call(client, "run_container", {**run, "command": "cat /two"})
    assert old["image_id"] != new_id and new["image_id"] == seen["image_id"] == new_id
    assert new["shared"] and seen["shared"] and seen["bytes_transferred"] == 0
    assert ran["stdout"] == "second\n"


async def test_keepers_leave_nothing_and_no_listing_shows_them(store_settings, engine, sandboxes):
    async with Client(build_server(store_settings, engine)) as client:
        await call(client, "load_image", {"sandbox": sandboxes["p1"], "image": TESTBOX})
        listed = await call(client, "list_sandboxes")
    owned = ownership.owner_labels(store_settings.scope)
    keepers = engine.list_containers({**owned, ownership.KIND: "store-keeper"})
    assert keepers == []
    assert not any(s["name"].startswith("IMAGES-") for s in listed["sandboxes"])
    volumes = engine.list_volumes({**owned, ownership.KIND: "image-store"})
    assert volumes == [ownership.image_store_volume(store_settings.scope)]


async def test_with_shared_images_off_podman_gets_a_copy(store_settings, engine):
    off = store_settings.model_copy(update={"shared_images": False})
    name = f"st-off-{secrets.token_hex(2)}"
    async with Client(build_server(off, engine)) as client:
        await call(client, "create_sandbox", {"name": name, "engine": "podman"})
        try:
            loaded = await call(client, "load_image", {"sandbox": name, "image": TESTBOX})
            listed = await call(client, "list_nested", {"sandbox": name})
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    assert not loaded["shared"] and loaded["bytes_transferred"] > 0
    assert listed["images"] and not any(i["shared"] for i in listed["images"])


async def test_a_keeper_a_killed_server_left_is_removed_by_the_next_store_user(store_settings, engine):
    service = SandboxService(engine, store_settings)
    request = CreateRequest(engine="podman", network=NetworkChoice(mode="none"))
    left = await service.make_hidden(
        request, f"IMAGES-{secrets.token_hex(3)}", suffix=ownership.KEEPER, labels={ownership.KIND: KEEPER_KIND}
    )
    # A server whose loads take no time: any keeper begun before now is one nobody uses.
    hurried = store_settings.model_copy(update={"ready_timeout_s": 0.01, "max_exec_timeout_s": 0.01})
    await ImageStore(SandboxService(engine, hurried))._remove_stale_keepers()
    owned = ownership.owner_labels(store_settings.scope)
    assert left.id not in [c.id for c in engine.list_containers({**owned, ownership.KIND: KEEPER_KIND})]
    assert engine.list_volumes({**owned, ownership.SANDBOX: left.name}) == []


async def test_a_sandbox_with_its_own_copy_is_told_so_and_lists_it_once(store_settings, engine, sandboxes):
    p2 = ownership.container_name(store_settings.scope, sandboxes["p2"])
    load_testbox(p2, "podman")  # a copy of its own (podman load inside), whether or not the store has it
    async with Client(build_server(store_settings, engine)) as client:
        loaded = await call(client, "load_image", {"sandbox": sandboxes["p2"], "image": TESTBOX})
        listed = await call(client, "list_nested", {"sandbox": sandboxes["p2"]})
    assert not loaded["shared"] and loaded["bytes_transferred"] == 0, loaded
    ids = [i["id"] for i in listed["images"]]
    assert len(ids) == len(set(ids)), ids
    assert [i["shared"] for i in listed["images"] if i["id"] == loaded["image_id"]] == [False]


# Held by an agent's root in one sandbox: podman's read locks on the store, which a keeper's writes wait for.
HOLD_LOCKS = (
    "cd /var/lib/manyoyo-images/storage && python3 -c 'import fcntl, sys, time; "
    'fs = [open(p, "rb") for p in sys.argv[1:]]; [fcntl.lockf(f, fcntl.LOCK_SH) for f in fs]; '
    'print("held", flush=True); time.sleep(300)\' storage.lock overlay-images/images.lock overlay-layers/layers.lock'
)


async def test_a_store_held_by_one_sandbox_delays_no_load_past_its_timeout(store_settings, engine, sandboxes, layered):
    new_id = _build_host_image(layered, "held")
    async with Client(build_server(store_settings, engine)) as client:
        held = await call(
            client, "exec", {"sandbox": sandboxes["p1"], "command": HOLD_LOCKS, "user": "root", "background": True}
        )
        try:
            await call(client, "job_output", {"sandbox": sandboxes["p1"], "job_id": held["job_id"], "wait_s": 10})
            loaded = await call(client, "load_image", {"sandbox": sandboxes["p2"], "image": layered, "timeout_s": 20})
        finally:
            await call(client, "stop_job", {"sandbox": sandboxes["p1"], "job_id": held["job_id"]})
    # Half the timeout for the store, then a copy of its own in the time left: never the keeper's 120 s.
    assert loaded["image_id"] == new_id and not loaded["shared"] and loaded["bytes_transferred"] > 0, loaded
    assert loaded["duration_s"] < 20 + 5, loaded
    owned = ownership.owner_labels(store_settings.scope)
    assert engine.list_containers({**owned, ownership.KIND: KEEPER_KIND}) == []  # the cut-short keeper is gone

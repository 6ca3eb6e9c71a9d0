"""A sandbox's disk quota, measured: every place its agent can write is bounded by it, writes past it
fail with "No space left on device", and the host holds no more than the quota for it.

The quota is an ext4 image on a loop device (outer-init's storage): the sandbox proper's root
filesystem changes, its engine's storage and what nested containers write all live there. The
workspace is the host folder itself, outside the quota. The sandbox's own output (its inits' logs,
which its root can write to) is kept by the host engine in 3 files of 10 MB.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..conftest import SANDBOX_IMAGE as IMAGE
from ..helpers import TESTBOX, call, docker, load_testbox, tool_error

pytestmark = pytest.mark.anyio
MIB = 1024**2
QUOTA = 320 * MIB
PAST = 400  # MiB written to each place: more than the quota
FULL = "No space left on device"


def writes(engine: str) -> dict[str, str]:
    """Each writable place of a sandbox, with a command that writes PAST MiB there."""
    dd = f"dd if=/dev/zero bs=1M count={PAST}"
    run = f"{engine} run"  # kept until the cleanup, so its layer stays full while measured
    storage = {"docker": "/var/lib/docker", "podman": "/var/lib/containers"}[engine]
    return {
        "/": f"{dd} of=/big",
        "/tmp": f"{dd} of=/tmp/big",
        "/root": f"{dd} of=/root/big",
        "/var/tmp": f"{dd} of=/var/tmp/big",
        storage: f"{dd} of={storage}/big",
        "nested container's layer": f"{run} {TESTBOX} {dd} of=/big",
        "nested volume": f"{run} -v fill:/v {TESTBOX} {dd} of=/v/big",
    }


# The sandbox's own volume (a podman sandbox also mounts the shared image store).
MOUNTED_VOLUME = '{{range .Mounts}}{{if eq .Destination "/var/lib/manyoyo"}}{{.Name}}{{end}}{{end}}'


def cleanup(engine: str) -> str:
    return (
        "rm -f /big /tmp/big /root/big /var/tmp/big /var/lib/docker/big /var/lib/containers/big; "
        f"{engine} container prune -f >/dev/null 2>&1; {engine} volume rm -f fill >/dev/null 2>&1; sync"
    )


def allocated(volume: str) -> int:
    """Bytes the host's disk holds for the sandbox's disk image (this test runs as root)."""
    mountpoint = json.loads(docker("volume", "inspect", volume))[0]["Mountpoint"]
    return os.stat(Path(mountpoint) / "disk.img").st_blocks * 512


async def given_back(volume: str) -> int:
    """The image's allocation once ext4 has discarded the deleted files' blocks (asynchronously, after
    the journal commits): polled for up to 30 s."""
    with anyio.move_on_after(30):
        while allocated(volume) >= 64 * MIB:
            await anyio.sleep(0.5)
    return allocated(volume)


def host_free() -> int:
    return shutil.disk_usage(json.loads(docker("info", "--format", "{{json .DockerRootDir}}"))).free


@pytest.mark.parametrize("inner", ["docker", "podman"])
async def test_every_writable_place_is_bounded_by_the_disk_quota(
    settings: ServerSettings, engine: Engine, inner, tmp_path
):
    name = f"quota-{inner}-{secrets.token_hex(2)}"
    free_before = host_free()
    async with Client(build_server(settings, engine)) as client:
        created = await call(
            client, "create_sandbox", {"name": name, "engine": inner, "disk": "320m", "workspace": str(tmp_path)}
        )
        volume = docker("inspect", "--format", MOUNTED_VOLUME, created["id"]).strip()
        try:
            load_testbox(created["id"], inner)
            seen = await call(client, "exec", {"sandbox": name, "command": "df -B1 --output=size,avail / | tail -1"})
            size, avail = map(int, seen["stdout"].split())
            outcomes = {}
            for place, command in writes(inner).items():
                done = await call(client, "exec", {"sandbox": name, "command": command, "timeout_s": 120})
                full = allocated(volume)
                listed = (await call(client, "list_sandboxes"))["sandboxes"]
                disk = next(s["disk"] for s in listed if s["name"] == name)
                # The workspace is the host's folder: not in the quota, so writable while the quota is full.
                spare = await call(
                    client,
                    "exec",
                    {"sandbox": name, "command": "head -c 1048576 /dev/zero > /workspace/spare && echo ok"},
                )
                outcomes[place] = (
                    done["exit_code"],
                    FULL in done["stderr"] + done["stdout"],
                    full,
                    disk["free_bytes"],
                    spare["stdout"],
                )
                await call(client, "exec", {"sandbox": name, "command": cleanup(inner), "timeout_s": 120})
            after_cleanup = await given_back(volume)
            size_rw = json.loads(docker("inspect", "--size", created["id"]))[0]["SizeRw"]
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    free_after = host_free()
    print(
        f"{inner}: df inside {size} B ({avail} free) for a {QUOTA} B quota; per place (exit, ENOSPC, image bytes, "
        f"free, workspace): {outcomes}; image after cleanup {after_cleanup} B; outer layer {size_rw} B; "
        f"host free before {free_before}, after {free_after} (other users of this host change it too)"
    )
    assert 0.85 * QUOTA <= size <= QUOTA  # df inside shows the quota (less ext4's own metadata)
    for place, (code, no_space, full, free, spare) in outcomes.items():
        assert code != 0 and no_space, f"{place}: a write past the quota did not fail with ENOSPC"
        assert full <= QUOTA, f"{place}: the host holds {full} bytes for a {QUOTA}-byte quota"
        assert free is not None and free < 16 * MIB, f"{place}: list_sandboxes shows {free} bytes free on a full disk"
        assert spare == "ok\n", f"{place}: the workspace is outside the quota and stays writable"
    assert after_cleanup < 64 * MIB  # deleted files give their space back to the host (discard)
    assert size_rw < MIB  # nothing lands in the outer container's own writable layer
    assert (tmp_path / "spare").stat().st_size == MIB


async def test_the_sandboxs_own_output_on_the_host_stays_bounded(settings: ServerSettings, engine: Engine):
    """Its root can write to its init's output, which the host engine keeps on the host's disk."""
    name = f"logs-{secrets.token_hex(2)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name})
        try:
            flood = "head -c 48000000 /dev/zero | tr '\\0' 'x' | fold -w 4000 > /proc/1/fd/1; echo done"
            done = await call(client, "exec", {"sandbox": name, "command": flood, "timeout_s": 300})
            log = Path(json.loads(docker("inspect", created["id"]))[0]["LogPath"])
            kept = sum(p.stat().st_size for p in log.parent.glob(log.name + "*"))
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    print(f"48 MB written to the sandbox's output; the host keeps {kept} bytes of it")
    assert done["stdout"] == "done\n"
    assert kept <= 3 * 10 * MIB + 2 * MIB


async def test_the_outer_container_gives_up_its_loop_devices_once_the_disk_is_mounted(settings, engine):
    """With a quota the outer container may use loop devices while its init attaches the disk; on
    cgroup v1 its init then denies them to itself (on v2 Docker's device program stays as it was)."""
    name = f"loops-{secrets.token_hex(2)}"
    opened = (
        "import os\n"
        "for d in ('/dev/loop-control', os.environ['DEV']):\n"
        "  try: os.close(os.open(d, os.O_RDWR)); print('opened')\n"
        "  except OSError as e: print(e.strerror)"
    )
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name, "disk": "256m"})
        try:
            state = json.loads(docker("exec", created["id"], "cat", "/run/manyoyo/state.json"))
            device = state["disk"]["device"]
            outcome = docker("exec", "-e", f"DEV={device}", created["id"], "python3", "-c", opened).split()
            rules = json.loads(docker("inspect", created["id"]))[0]["HostConfig"]["DeviceCgroupRules"]
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    assert rules == ["b 7:* rwm", "c 10:237 rwm"]
    if Path("/sys/fs/cgroup/devices").is_dir():  # cgroup v1
        assert " ".join(outcome) == "Operation not permitted Operation not permitted", outcome


def started_without_loop_devices(quota: str) -> tuple[str, dict | None]:
    """The sandbox image started as the server starts it with a quota, but without the loop device
    rules (a host that has none): (its log, its state file, or None when it did not start)."""
    name = f"noloop-{secrets.token_hex(3)}"
    label = ["--label", "io.manyoyo.mcp.test=noloop"]
    volume = docker("volume", "create", *label, name).strip()
    flags = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "SYS_PTRACE", "--cgroupns", "private"]
    flags += [
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "-v",
        f"{volume}:/var/lib/manyoyo",
    ]
    flags += ["-e", f"MANYOYO_DISK_BYTES={QUOTA}", "-e", f"MANYOYO_DISK_QUOTA={quota}"]
    try:
        docker("run", "-d", "--name", name, *label, *flags, IMAGE)
        for _ in range(300):  # its init writes the state file once the sandbox proper runs, or exits
            probe = subprocess.run(["docker", "exec", name, "cat", "/run/manyoyo/state.json"], capture_output=True)
            if probe.returncode == 0 or docker("inspect", "--format", "{{.State.Running}}", name).strip() != "true":
                break
            subprocess.run(["sleep", "0.1"], check=True)
        state = json.loads(probe.stdout) if probe.returncode == 0 else None
        return subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr, state
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", volume], capture_output=True)


def test_a_host_without_loop_devices_fails_clearly_when_a_quota_is_required_and_else_says_there_is_none():
    log, state = started_without_loop_devices("required")
    assert state is None and "MANYOYO_DISK_QUOTA=required" in log and "modprobe loop" in log, log
    log, state = started_without_loop_devices("if-possible")
    assert state is not None and state["disk"]["quota_bytes"] is None, log
    assert state["disk"]["quota"].startswith("none: this host gives no loop device"), state["disk"]


async def test_an_image_from_before_disk_quotas_is_refused_or_runs_without_one(settings, engine):
    """A server newer than its sandbox image: the image's label says whether its init makes quotas."""
    old = f"manyoyo-sandbox:noquota-{secrets.token_hex(3)}"
    docker("build", "-q", "-t", old, "-", input=f'FROM {IMAGE}\nLABEL io.manyoyo.mcp.disk-quota=""\n'.encode())
    name = f"old-{secrets.token_hex(2)}"
    try:
        required = settings.model_copy(update={"extra_sandbox_images": (old,)})
        async with Client(build_server(required, engine)) as client:
            refused = await tool_error(client, "create_sandbox", {"name": name, "image": old})
        possible = required.model_copy(update={"disk_quota": "if-possible"})
        async with Client(build_server(possible, engine)) as client:
            made = await call(client, "create_sandbox", {"name": name, "image": old})
            await call(client, "remove_sandbox", {"sandbox": name})
    finally:
        subprocess.run(["docker", "rmi", old], capture_output=True)
    assert "was built before disk quotas" in refused and "manyoyo-mcp image build" in refused
    assert made["disk"]["quota"] is None and any("predates disk quotas" in n for n in made["notices"])


async def test_a_stopped_sandbox_starts_again_with_its_disk_and_its_files(settings, engine):
    name = f"again-{secrets.token_hex(2)}"
    async with Client(build_server(settings, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name, "disk": "256m"})
        try:
            await call(client, "exec", {"sandbox": name, "command": "echo kept > /root/file"})
            docker("stop", created["id"])
            again = await call(client, "create_sandbox", {"name": name})
            kept = await call(
                client, "exec", {"sandbox": name, "command": "cat /root/file; df -B1 --output=size / | tail -1"}
            )
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    text, size = kept["stdout"].split()
    assert again["created"] is False and again["disk"]["quota"] == "256m" and text == "kept"
    assert 0.85 * 256 * MIB <= int(size) <= 256 * MIB

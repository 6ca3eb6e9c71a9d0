"""Known ways out of a container, tried from inside a sandbox and from a nested `--privileged` container,
under the default runtime profile. The measured outcome of every probe must match the table in
SECURITY.md, so the document cannot drift from what the runtime really allows."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import DEFAULT_IMAGE
from manyoyo_mcp.sandbox.runtime import PROFILES, RuntimeProfile
from manyoyo_mcp.server import build_server

from .helpers import TESTBOX, call, docker, load_testbox, tool_error

pytestmark = pytest.mark.anyio
PROBES = (Path(__file__).parent / "host_reach_probes.sh").read_text()
SECURITY = Path(__file__).parent.parent / "SECURITY.md"
PROBE_IDS = (
    "block-device",
    "core-pattern",
    "sysrq-trigger",
    "release-agent",
    "kernel-module",
    "host-canary",
    "host-engine",
)


def documented() -> dict[str, tuple[str, str]]:
    """probe id -> (sandbox, nested --privileged) outcomes from SECURITY.md's table."""
    rows = {}
    for line in SECURITY.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in PROBE_IDS:
            rows[cells[0]] = (cells[1].split()[0], cells[2].split()[0])
    return rows


def parse(stdout: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S+) (REACHED|BLOCKED) ", stdout, re.MULTILINE)}


async def test_the_default_profile_blocks_what_security_md_says_it_blocks(settings, engine, tmp_path):
    canary = Path(f"/tmp/manyoyo-canary-{secrets.token_hex(4)}")
    canary.write_text("manyoyo-canary\n")
    host_engine = engine.ping()  # the engine answers; its ID tells its socket apart from a nested one
    host_id = docker("info", "--format", "{{.ID}}").strip()
    name = f"reach-{secrets.token_hex(2)}"
    try:
        async with Client(build_server(settings, engine)) as client:
            created = await call(client, "create_sandbox", {"name": name})
            load_testbox(created["id"], "docker")
            inside = await call(
                client, "exec", {"sandbox": name, "command": ["sh", "-c", PROBES, "p", str(canary), host_id]}
            )
            nested = await call(
                client,
                "exec",
                {
                    "sandbox": name,
                    "command": [
                        "docker",
                        "run",
                        "--rm",
                        "--privileged",
                        TESTBOX,
                        "sh",
                        "-c",
                        PROBES,
                        "p",
                        str(canary),
                        host_id,
                    ],
                },
            )
            inspect = json.loads(docker("inspect", created["id"]))[0]["HostConfig"]
            await call(client, "remove_sandbox", {"sandbox": name})
    finally:
        canary.unlink()
    measured = parse(inside["stdout"])
    nested_measured = parse(nested["stdout"]) if nested["exit_code"] == 0 else dict.fromkeys(PROBE_IDS, "n/a")
    if nested["exit_code"] != 0:  # n/a only because the sandbox refuses to start it, nothing else
        assert "operation not permitted" in nested["stderr"], nested["stderr"]
    (tmp_path / "host-reach.json").write_text(json.dumps({"sandbox": measured, "nested": nested_measured}))
    print("measured:", measured, "nested --privileged:", nested_measured, nested["stderr"][-300:])
    assert set(measured) == set(PROBE_IDS), inside
    table = documented()
    assert set(table) == set(PROBE_IDS), "SECURITY.md's table lists every probe"
    assert {probe: outcome[0] for probe, outcome in table.items()} == measured
    assert {probe: outcome[1] for probe, outcome in table.items()} == nested_measured
    # The outer container itself: no host namespaces, no devices, nothing published, own cgroup namespace.
    assert inspect["Privileged"] is False and inspect["CgroupnsMode"] == "private"
    assert inspect["NetworkMode"] in ("default", "bridge") and inspect["PidMode"] == "" and inspect["UTSMode"] == ""
    assert inspect["IpcMode"] in ("private", "shareable") and inspect["UsernsMode"] == ""
    assert sorted(inspect["CapAdd"]) == ["NET_ADMIN", "SYS_ADMIN"] and not inspect["Devices"]
    assert not inspect["PortBindings"]
    assert all("docker.sock" not in bind for bind in inspect["Binds"] or [])
    assert host_engine["version"]


async def test_the_privileged_profile_is_refused_clearly_where_the_host_refuses_it(settings, engine):
    privileged = settings.model_copy(update={"runtime_profile": "privileged"})
    name = f"priv-{secrets.token_hex(2)}"
    async with Client(build_server(privileged, engine)) as client:
        result = await client.call_tool("create_sandbox", {"name": name})
        if not result.is_error:  # a host that allows --privileged: nothing to measure against here
            await call(client, "remove_sandbox", {"sandbox": name})
            pytest.fail("this host allows --privileged: measure the privileged profile and add it to SECURITY.md")
        message = await tool_error(client, "list_nested", {"sandbox": name})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert "privileged" in text.lower() or "refused" in text.lower() or "operation not permitted" in text.lower(), text
    assert "no sandbox named" in message  # nothing was left behind


def _nested_run_works(profile: RuntimeProfile) -> str:
    """Start a sandbox container with exactly `profile`'s grants; 'runs' if its engine runs a container."""
    name = f"tight-{secrets.token_hex(3)}"
    flags = ["--cgroupns", profile.cgroupns, "-v", f"{name}:/var/lib/docker", "-e", "MANYOYO_ENGINE=docker"]
    flags += [f"--cap-add={cap}" for cap in profile.cap_add]
    flags += [f"--security-opt={opt}" for opt in profile.security_opt]
    flags += [f"--device-cgroup-rule={rule}" for rule in profile.device_cgroup_rules]
    container = docker("run", "-d", "--name", name, "--label", "io.manyoyo.mcp.test=tightness", *flags, DEFAULT_IMAGE)
    container = container.strip()
    try:
        probe = ["exec", container, "curl", "-sf", "--unix-socket", "/var/run/docker.sock", "http://x/version"]
        for _ in range(40):
            if subprocess.run(["docker", *probe], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            return "engine does not start"
        try:
            load_testbox(container, "docker")
        except subprocess.CalledProcessError:
            return "nested engine cannot load an image"
        ran = subprocess.run(
            ["docker", "exec", container, "docker", "run", "--rm", TESTBOX, "true"], capture_output=True, text=True
        )
        return "runs" if ran.returncode == 0 else "nested container fails"
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True)
        subprocess.run(["docker", "volume", "rm", name], capture_output=True)


def test_the_default_profile_is_the_tightest_that_still_runs_nested_containers():
    standard = PROFILES["standard"]
    without = {
        "CAP_NET_ADMIN": dataclasses.replace(standard, cap_add=("SYS_ADMIN",)),
        "CAP_SYS_ADMIN": dataclasses.replace(standard, cap_add=("NET_ADMIN",)),
        "seccomp=unconfined": dataclasses.replace(standard, security_opt=("apparmor=unconfined",)),
    }
    measured = {grant: _nested_run_works(profile) for grant, profile in without.items()}
    print("standard without each grant:", measured)
    assert _nested_run_works(standard) == "runs"
    assert all(outcome != "runs" for outcome in measured.values()), measured

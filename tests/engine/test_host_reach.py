"""Known ways from a sandbox to its host's kernel (issue 21), tried from every place an agent's code
can run: inside a sandbox through the server's `exec`, and inside containers started by the sandbox's
own engine, docker or podman: plain, with the sandbox's namespaces and `/` (`--pid host --net host
--ipc host -v /:/host`), and `--privileged`.

Each outcome is recorded per (route, place, engine, runtime profile, host cgroup version) and must
match EXPECTED below: flip a cell there when a route closes. The run is written to
build/host-reach.json, and SECURITY.md's table must show the same outcomes (`scripts/security-table`
rewrites it from that file)."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import json
import platform
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import DEFAULT_IMAGE, ServerSettings
from manyoyo_mcp.sandbox.runtime import LOOP_DEVICE_RULES, PROFILES, RuntimeProfile
from manyoyo_mcp.server import build_server

from ..helpers import PROPER, TESTBOX, call, docker, load_testbox, tool_error

ROOT = Path(__file__).parent.parent.parent
PROBES = (Path(__file__).parent / "host_reach_probes.sh").read_text()
SECURITY = ROOT / "SECURITY.md"
RESULTS = ROOT / "build" / "host-reach.json"
REGENERATE = "scripts/security-table"
HELPER_DIR = "/tmp/manyoyo-probes"  # inside the sandbox; nested containers get it at /probes


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    id: str
    tries: str
    source: str


HACKTRICKS = (
    "https://github.com/HackTricks-wiki/hacktricks/blob/master/src/linux-hardening/privilege-escalation/"
    "docker-security/docker-breakout-privilege-escalation/"
)
SECCOMP_DOCS = "https://docs.docker.com/engine/security/seccomp/"

# Every route host_reach_probes.sh tries, in the order it prints them, with the public write-up it
# comes from. The table in SECURITY.md has one row per route, in this order.
ROUTES: tuple[Route, ...] = (
    Route(
        "core-pattern",
        "open `/proc/sys/kernel/core_pattern` for writing (a pipe to a program there runs it as host root at a crash)",
        "https://github.com/containers/podman/issues/6528",
    ),
    Route(
        "fresh-proc-core-pattern",
        "the same in a `proc` mounted anew (`mount -t proc proc DIR`)",
        HACKTRICKS + "sensitive-mounts.md",
    ),
    Route(
        "sysrq-trigger",
        "open `/proc/sysrq-trigger` for writing (reboot, crash or freeze the host)",
        "https://www.kernel.org/doc/html/latest/admin-guide/sysrq.html",
    ),
    Route(
        "fresh-proc-sysrq-trigger",
        "the same in a `proc` mounted anew",
        "https://github.com/opencontainers/runc/blob/main/tests/integration/no_pivot.bats",
    ),
    Route(
        "modprobe",
        "open `/proc/sys/kernel/modprobe` for writing, in `/proc` or a new `proc` (run as root to load a module)",
        HACKTRICKS + "sensitive-mounts.md",
    ),
    Route(
        "proc-sysctls",
        "open every host-wide sysctl (`kernel`, `vm`, `fs`, `dev`, `debug`; not UTS/IPC/net ones) for writing",
        "https://github.com/nestybox/sysbox/blob/master/docs/user-guide/security.md",
    ),
    Route("proc-kcore", "open `/proc/kcore` (the kernel's memory) for reading", HACKTRICKS + "sensitive-mounts.md"),
    Route("proc-kmsg", "open `/proc/kmsg` (the host's kernel log) for reading", HACKTRICKS + "sensitive-mounts.md"),
    Route(
        "binfmt-misc",
        "mount the host's `binfmt_misc` (interpreters run for matching binaries); its `status` written back",
        "https://github.com/toffan/binfmt_misc",
    ),
    Route(
        "uevent-helper",
        "open `/sys/kernel/uevent_helper` for writing in a `sysfs` mounted anew (run as root at a device event)",
        HACKTRICKS + "sensitive-mounts.md",
    ),
    Route(
        "sysfs-write",
        "open host-wide `sysfs` attributes (`power/state`, `kernel/mm/...`) for writing in a `sysfs` mounted anew",
        HACKTRICKS + "sensitive-mounts.md",
    ),
    Route(
        "securityfs",
        "mount `securityfs` and open its controls (AppArmor `.remove`, IMA policy, `lockdown`) for writing",
        HACKTRICKS + "sensitive-mounts.md",
    ),
    Route(
        "debugfs",
        "mount `debugfs` and open its controls for writing (the kernel's debugging interface)",
        HACKTRICKS + "sensitive-mounts.md",
    ),
    Route(
        "tracefs",
        "mount `tracefs`; `tracing_on` written back, other controls opened (trace every host process)",
        "https://docs.kernel.org/trace/ftrace.html",
    ),
    Route(
        "release-agent",
        "write back a cgroup v1 `release_agent` (runs as host root): mounted, mounted anew, new named hierarchy",
        "https://blog.trailofbits.com/2019/07/19/understanding-docker-container-escapes/",
    ),
    Route(
        "release-agent-userns",
        "the same from a new user and cgroup namespace (CVE-2022-0492)",
        "https://unit42.paloaltonetworks.com/cve-2022-0492-cgroups/",
    ),
    Route(
        "cgroup-escape",
        "see a cgroup outside its own (the host's root) and open its `cgroup.procs` for writing",
        "https://man7.org/linux/man-pages/man7/cgroup_namespaces.7.html",
    ),
    Route(
        "device-cgroup",
        "widen its own device rules (`devices.allow`, taken back at once)",
        "https://docs.kernel.org/admin-guide/cgroup-v1/devices.html",
    ),
    Route(
        "block-device",
        "`mknod` each host block device (the test adds a loop device), read 512 bytes; device rules widened if refused",
        HACKTRICKS + "README.md",
    ),
    Route(
        "host-disk-mount",
        "mount a readable host block device read-only (no journal replay)",
        HACKTRICKS + "README.md",
    ),
    Route(
        "kmsg-device",
        "`mknod` `/dev/kmsg` and open it for writing (lines in the host's kernel log)",
        "https://www.kernel.org/doc/Documentation/ABI/testing/dev-kmsg",
    ),
    Route(
        "mem-device",
        "`mknod` `/dev/mem` and open it for reading (the host's physical memory)",
        "https://man7.org/linux/man-pages/man4/mem.4.html",
    ),
    Route("bpf", "load (never attach) a kprobe-type BPF program: reads kernel memory", SECCOMP_DOCS),
    Route("perf-event", "`perf_event_open` a system-wide event (observes every host process)", SECCOMP_DOCS),
    Route(
        "host-keyring",
        "read a key the test put in the host root's user keyring (`keyctl`)",
        "https://github.com/antitree/keyctl-unmask",
    ),
    Route(
        "open-by-handle",
        "`open_by_handle_at` the root of a host filesystem (shocker)",
        "https://github.com/gabrtv/shocker",
    ),
    Route("kernel-module", "`finit_module` past its capability check", SECCOMP_DOCS),
    Route(
        "host-file",
        "read a file the test put in the host's `/tmp`: by path, through `/proc/*/root`, by search",
        "https://labs.withsecure.com/publications/abusing-the-access-to-mount-namespaces-through-procpidroot",
    ),
    Route(
        "host-process",
        "see a process the test runs on the host",
        "https://man7.org/linux/man-pages/man7/pid_namespaces.7.html",
    ),
    Route(
        "host-network",
        "connect to a port the test opens on the host's loopback",
        "https://man7.org/linux/man-pages/man7/network_namespaces.7.html",
    ),
    Route(
        "host-engine",
        "reach the host's engine (matched by its ID) through any unix socket, ports 2375/2376 or its TCP address",
        "https://cheatsheetseries.owasp.org/cheatsheets/Docker_Security_Cheat_Sheet.html",
    ),
    Route("sandbox-file", "from a nested container: read a file the test put in the sandbox", HACKTRICKS + "README.md"),
    Route("sandbox-process", "from a nested container: see a process of the sandbox's", HACKTRICKS + "README.md"),
    Route(
        "sandbox-engine",
        "from a nested container: reach the sandbox's own engine (it starts any container there)",
        HACKTRICKS + "README.md",
    ),
)
ROUTE_IDS = tuple(route.id for route in ROUTES)

ENGINES = ("docker", "podman")
PLACES = ("sandbox", "nested", "hostns", "privileged")
NESTED_FLAGS = {
    "nested": (),
    "hostns": ("--pid", "host", "--net", "host", "--ipc", "host", "-v", "/:/host"),
    "privileged": ("--privileged",),
}
PLACE_TEXT = {
    "sandbox": "a command run in the sandbox through the server's `exec`",
    "nested": "a container the sandbox's engine starts (`docker run` / `podman run` in the sandbox)",
    "hostns": "the same with the sandbox's namespaces and root: `--pid host --net host --ipc host -v /:/host`",
    "privileged": "the same with `--privileged`",
}
REACHED, BLOCKED, NA, NOT_RUN = "REACHED", "BLOCKED", "N/A", "NOT-RUN"
OUTCOMES = (REACHED, BLOCKED, NA, NOT_RUN)

# The runtime profiles this test measures (a profile the host refuses, `privileged` here, is checked
# by test_the_privileged_profile_is_refused_clearly_where_the_host_refuses_it instead).
MEASURED_PROFILES = ("standard",)

# What each route does, per engine and place, under a runtime profile on a host of a cgroup version.
# Every REACHED cell of a host route is a way out that is open today: when one closes, flip its cell
# to BLOCKED (one word; the columns need not stay aligned). The sandbox-* rows are what a nested
# container reaches of the sandbox itself (by design with --pid/--net host and -v /:/host).
# N/A: cannot be tried there (the kernel lacks the interface, or sandbox-* from the sandbox itself);
# NOT-RUN: the engine refused to start the container. A failure prints the measured grid in this
# layout. Since the sandbox proper runs in a user namespace (issue 21), every host route is BLOCKED
# from every place, nested --privileged containers of both engines included (they now start: they
# are privileged over the sandbox's user namespace only).
EXPECTED: dict[tuple[str, str], str] = {
    ("standard", "v1"): """
        #                        | docker                                  | podman
        route                    | sandbox   nested    hostns    privileged| sandbox   nested    hostns    privileged
        core-pattern             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        fresh-proc-core-pattern  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        sysrq-trigger            | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        fresh-proc-sysrq-trigger | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        modprobe                 | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        proc-sysctls             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-kcore               | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        proc-kmsg                | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        binfmt-misc              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        uevent-helper            | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        sysfs-write              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        securityfs               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        debugfs                  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        tracefs                  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        release-agent            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        release-agent-userns     | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        cgroup-escape            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        device-cgroup            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        block-device             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-disk-mount          | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        kmsg-device              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        mem-device               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        bpf                      | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        perf-event               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-keyring             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        open-by-handle           | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        kernel-module            | N/A       BLOCKED   BLOCKED   N/A       | N/A       BLOCKED   BLOCKED   N/A
        host-file                | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-process             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-network             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-engine              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        sandbox-file             | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
        sandbox-process          | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
        sandbox-engine           | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
    """,
    # Measured on the VM test host (tests/engine/test_engine_matrix.py), every cell by the full matrix
    # (MANYOYO_VM_MATRIX=full); by default (CI) its quick routes from the sandbox and a nested
    # --privileged container, under both profiles.
    ("standard", "v2"): """
        #                        | docker                                  | podman
        route                    | sandbox   nested    hostns    privileged| sandbox   nested    hostns    privileged
        core-pattern             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        fresh-proc-core-pattern  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        sysrq-trigger            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        fresh-proc-sysrq-trigger | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        modprobe                 | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-sysctls             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-kcore               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-kmsg                | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        binfmt-misc              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        uevent-helper            | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        sysfs-write              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        securityfs               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        debugfs                  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        tracefs                  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        release-agent            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        release-agent-userns     | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        cgroup-escape            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        device-cgroup            | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        block-device             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-disk-mount          | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        kmsg-device              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        mem-device               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        bpf                      | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        perf-event               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-keyring             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        open-by-handle           | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        kernel-module            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-file                | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-process             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-network             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-engine              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        sandbox-file             | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
        sandbox-process          | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
        sandbox-engine           | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
    """,
    # Measured on the VM test host, as above.
    ("privileged", "v2"): """
        #                        | docker                                  | podman
        route                    | sandbox   nested    hostns    privileged| sandbox   nested    hostns    privileged
        core-pattern             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        fresh-proc-core-pattern  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        sysrq-trigger            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        fresh-proc-sysrq-trigger | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        modprobe                 | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-sysctls             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-kcore               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        proc-kmsg                | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        binfmt-misc              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        uevent-helper            | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        sysfs-write              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        securityfs               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        debugfs                  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        tracefs                  | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        release-agent            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        release-agent-userns     | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        cgroup-escape            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        device-cgroup            | N/A       N/A       N/A       N/A       | N/A       N/A       N/A       N/A
        block-device             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-disk-mount          | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        kmsg-device              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        mem-device               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        bpf                      | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        perf-event               | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-keyring             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        open-by-handle           | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        kernel-module            | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-file                | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-process             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-network             | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        host-engine              | BLOCKED   BLOCKED   BLOCKED   BLOCKED   | BLOCKED   BLOCKED   BLOCKED   BLOCKED
        sandbox-file             | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
        sandbox-process          | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
        sandbox-engine           | N/A       BLOCKED   REACHED   BLOCKED   | N/A       BLOCKED   REACHED   BLOCKED
    """,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    route: str
    engine: str
    place: str
    outcome: str
    detail: str


@dataclasses.dataclass(slots=True)
class Measurement:
    """One run of every probe from every place, under one runtime profile on this host."""

    profile: str
    cgroup: str
    date: str
    kernel: str
    host_engine: str
    inner_engines: dict[str, str]
    records: list[Record]
    inspect: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def outcomes(self) -> dict[tuple[str, str, str], str]:
        return {(r.route, r.engine, r.place): r.outcome for r in self.records}

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("inspect")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(**{**data, "records": [Record(**r) for r in data["records"]]})


# -- the expectation grid ----------------------------------------------------------------------


UNMEASURED = "?"
"""In a grid: a cell no run measures (the VM's engine matrix measures a part of its grids in CI)."""


def parse_grid(text: str) -> dict[tuple[str, str, str], str]:
    """(route, engine, place) -> outcome, from a grid in EXPECTED's layout."""
    columns = [(engine, place) for engine in ENGINES for place in PLACES]
    cells = {}
    for line in text.strip().splitlines():
        words = [w for w in line.split() if w != "|"]
        if not words or words[0] in ("route", "#"):
            continue
        route, outcomes = words[0], words[1:]
        assert route in ROUTE_IDS, f"EXPECTED names an unknown route {route!r}"
        assert len(outcomes) == len(columns), f"EXPECTED's row {route} needs {len(columns)} outcomes: {line}"
        for column, outcome in zip(columns, outcomes, strict=True):
            if outcome == UNMEASURED:
                continue
            assert outcome in OUTCOMES, f"EXPECTED's row {route}: {outcome!r} is none of {OUTCOMES}"
            cells[(route, *column)] = outcome
    return cells


def format_grid(outcomes: dict[tuple[str, str, str], str]) -> str:
    """A grid in EXPECTED's layout (the failure messages print it, ready to paste)."""
    width, cell = 25, 10
    lines = [
        "#".ljust(width) + "".join(f"| {engine:{cell * len(PLACES)}}" for engine in ENGINES).rstrip(),
        "route".ljust(width) + "".join("| " + "".join(f"{p:{cell}}" for p in PLACES) for _ in ENGINES).rstrip(),
    ]
    for route in ROUTE_IDS:
        row = route.ljust(width)
        for engine in ENGINES:
            row += "| " + "".join(f"{outcomes.get((route, engine, p), UNMEASURED):{cell}}" for p in PLACES)
        lines.append(row.rstrip())
    return "\n".join(lines)


# -- the host's canaries -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class HostCanaries:
    file: Path
    token: str
    port: int
    engine_id: str
    engine_tcp: tuple[str, ...] = ()
    """IP:PORT where the host's engine listens on TCP, as the host's own containers would reach it."""

    def args(self) -> list[str]:
        return [
            f"host_file={self.file}",
            f"host_token={self.token}",
            f"host_port={self.port}",
            f"host_engine={self.engine_id}",
            *([f"host_engine_tcp={','.join(self.engine_tcp)}"] if self.engine_tcp else []),
        ]


_KEY_SYSCALLS = {"x86_64": (248, 250), "aarch64": (217, 219)}  # add_key, keyctl
KEY_SPEC_USER_KEYRING, KEYCTL_INVALIDATE = -4, 21


@contextlib.contextmanager
def host_disk(token: str) -> Iterator[str]:
    """A host block device holding data: a loop device on an 8 MB ext4 image with the token in it.
    Some hosts refuse to open their own disks even to root (these CI machines do, for /dev/vda), so
    the block-device routes get a disk of the host's they can really be measured against."""
    image, content = Path(f"/tmp/{token}.img"), Path(f"/tmp/{token}.d")
    content.mkdir()
    (content / token).write_text(f"{token}\n")
    try:
        subprocess.run(["truncate", "-s", "8M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(content), str(image)], check=True, capture_output=True)
        loop = subprocess.run(["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True)
        try:
            yield loop.stdout.strip()
        finally:
            subprocess.run(["losetup", "--detach", loop.stdout.strip()], check=True)
    finally:
        image.unlink(missing_ok=True)
        (content / token).unlink()
        content.rmdir()


@contextlib.contextmanager
def host_canaries() -> Iterator[HostCanaries]:
    """Things of the host that no sandbox should reach: a file in /tmp, a process, a key in the host
    root's user keyring, a port on the host's loopback, a disk. Each carries a token; all go at the end."""
    token = f"manyoyo-canary-{secrets.token_hex(4)}"
    with host_disk(token), _host_canaries(token) as canaries:
        yield canaries


@contextlib.contextmanager
def _host_canaries(token: str) -> Iterator[HostCanaries]:
    path = Path(f"/tmp/{token}")
    path.write_text(f"{token}\n")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", f"{token}-process"])
    add_key, keyctl = _KEY_SYSCALLS[platform.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    secret = f"{token}-secret".encode()
    key = libc.syscall(add_key, b"user", f"{token}-key".encode(), secret, len(secret), KEY_SPEC_USER_KEYRING)
    assert key > 0, f"add_key failed (errno {ctypes.get_errno()}): these tests run as root"
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                connection, _ = listener.accept()
                with connection:
                    connection.sendall(f"{token}-port\n".encode())

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield HostCanaries(path, token, listener.getsockname()[1], docker("info", "--format", "{{.ID}}").strip())
    finally:
        stop.set()
        thread.join()
        listener.close()
        libc.syscall(keyctl, KEYCTL_INVALIDATE, ctypes.c_long(key))
        process.kill()
        process.wait()
        path.unlink()


# -- measuring -----------------------------------------------------------------------------------

LINE = re.compile(r"^(\S+) (REACHED|BLOCKED|N/A) ?(.*)$", re.MULTILINE)


def parse_probes(stdout: str) -> dict[str, tuple[str, str]]:
    return {m.group(1): (m.group(2), m.group(3)) for m in LINE.finditer(stdout)}


async def _exec(client: Client, sandbox: str, command: list[str]) -> dict[str, Any]:
    return await call(client, "exec", {"sandbox": sandbox, "command": command, "timeout_s": 600})


async def _measure_engine(
    client: Client, host: HostCanaries, engine: str, name: str
) -> tuple[list[Record], str, dict[str, Any]]:
    created = await call(client, "create_sandbox", {"name": name, "engine": engine})
    try:
        load_testbox(created["id"], engine)
        records, inner_version = await measure_sandbox(client, host, engine, name)
        inspect = json.loads(docker("inspect", created["id"]))[0]["HostConfig"]
        return records, inner_version, inspect
    finally:
        await call(client, "remove_sandbox", {"sandbox": name})


async def measure_sandbox(
    client: Client,
    host: HostCanaries,
    engine: str,
    name: str,
    *,
    wait: int = 2,
    places: tuple[str, ...] = PLACES,
    routes: tuple[str, ...] = ROUTE_IDS,
) -> tuple[list[Record], str]:
    """Every probe from every place of one sandbox (its engine holds TESTBOX): the records and the
    inner engine's version. `wait`: the seconds a socket gets to answer (more on a slow machine);
    `places`, `routes`: only these (the slow probes of routes left out do not run)."""
    selected = [] if routes == ROUTE_IDS else [f"routes={','.join(routes)}"]
    built = await _exec(client, name, ["sh", "-c", PROBES, "probes", "build", HELPER_DIR])
    assert built["exit_code"] == 0, f"the probe helper does not build: {built['stderr'][-2000:]}"
    token = f"manyoyo-sandbox-{secrets.token_hex(4)}"
    setup = (
        'printf "%s\\n" "${1##*/}" > "$1" && hostname && '
        "{ setsid python3 -c 'import time; time.sleep(3600)' \"$2-process\" </dev/null >/dev/null 2>&1 & }"
    )
    made = await _exec(client, name, ["sh", "-c", setup, "setup", f"/var/tmp/{token}", token])
    assert made["exit_code"] == 0, made
    sandbox_args = [
        f"sandbox_file=/var/tmp/{token}",
        f"sandbox_token={token}",
        f'sandbox_engine="Name":"{made["stdout"].strip()}"',
    ]
    version = ["docker", "version", "--format", "{{.Server.Version}}"]
    if engine == "podman":
        version = ["podman", "version", "--format", "{{.Version}}"]
    inner_version = (await _exec(client, name, version))["stdout"].strip()
    records = []
    for place in places:
        if place == "sandbox":
            args = [f"helper={HELPER_DIR}/probe-helper", "place=sandbox", f"wait={wait}", *selected, *host.args()]
            command = ["sh", "-c", PROBES, "probes", *args]
        else:
            args = [
                "helper=/probes/probe-helper",
                "place=nested",
                f"wait={wait}",
                *selected,
                *host.args(),
                *sandbox_args,
            ]
            mount = ["-v", f"{HELPER_DIR}:/probes:ro"]
            command = [engine, "run", "--rm", *NESTED_FLAGS[place], *mount, TESTBOX, "sh", "-c", PROBES, "p", *args]
        ran = await _exec(client, name, command)
        found = parse_probes(ran["stdout"])
        if not found and place != "sandbox" and ran["exit_code"] != 0:
            # Only a container the engine refuses to start counts as not run; anything else fails.
            # (docker's CLI may add "error waiting for container: context canceled" after it)
            refusals = [
                line
                for line in ran["stderr"].splitlines()
                if re.search(r"not permitted|permission denied", line, re.IGNORECASE)
            ]
            assert refusals, ran
            error = re.sub(r"\b[0-9a-f]{64}\b", "<id>", refusals[0].strip())
            records += [Record(route, engine, place, NOT_RUN, error) for route in routes]
            continue
        assert tuple(found) == routes, f"{engine} {place}: the probes printed {list(found)}\n{ran}"
        records += [Record(route, engine, place, *found[route]) for route in routes]
    return records, inner_version


async def measure(settings: ServerSettings, engine: Any, profile: str, host: HostCanaries) -> Measurement:
    info = json.loads(docker("info", "--format", "{{json .}}"))
    measurement = Measurement(
        profile=profile,
        cgroup=f"v{info['CgroupVersion']}",
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        kernel=info["KernelVersion"],
        host_engine=f"Docker {info['ServerVersion']}",
        inner_engines={},
        records=[],
    )
    profiled = settings.model_copy(update={"runtime_profile": profile})
    async with Client(build_server(profiled, engine)) as client:
        for inner in ENGINES:
            name = f"reach-{inner[0]}-{secrets.token_hex(2)}"
            records, version, inspect = await _measure_engine(client, host, inner, name)
            measurement.records += records
            measurement.inner_engines[inner] = version
            measurement.inspect[inner] = inspect
    return measurement


def write_results(measurements: list[Measurement], path: Path = RESULTS) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps([m.to_json() for m in measurements], indent=1) + "\n")


def read_results(path: Path = RESULTS) -> list[Measurement]:
    return [Measurement.from_json(data) for data in json.loads(path.read_text())]


# -- SECURITY.md's table --------------------------------------------------------------------------

BEGIN = (
    "<!-- host-reach-table: generated by scripts/security-table from tests/engine/test_host_reach.py; do not edit -->"
)
END = "<!-- host-reach-table: end -->"
CELL = {REACHED: "**REACHED**", BLOCKED: "blocked", NA: "n/a", NOT_RUN: "not run"}
MEASURED_LINE = re.compile(
    r"^- Measured under `(?P<profile>[^`]+)` on a cgroup (?P<cgroup>v\d) host: .*$", re.MULTILINE
)


def _column(profile: str, cgroup: str, engine: str, place: str) -> str:
    return f"`{profile}` {cgroup}<br>{engine}<br>{place}"


def parse_security(text: str) -> tuple[dict[tuple[str, str, str, str, str], str], dict[tuple[str, str], str]]:
    """SECURITY.md's table as {(route, profile, cgroup, engine, place): outcome}, and its measured
    lines by (profile, cgroup)."""
    if BEGIN not in text or END not in text:
        return {}, {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    measured = {(m["profile"], m["cgroup"]): m.group(0) for m in MEASURED_LINE.finditer(block)}
    rows = [line for line in block.splitlines() if line.startswith("|") and not re.fullmatch(r"[|:\- ]+", line)]
    if not rows:
        return {}, measured
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    keys = []
    for cell in header:
        m = re.fullmatch(r"`([^`]+)` (v\d)<br>(\w+)<br>(\w+)", cell)
        keys.append((m[1], m[2], m[3], m[4]) if m else None)
    back = {text: outcome for outcome, text in CELL.items()}
    table = {}
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        route = cells[0].strip("`")
        for key, cell in zip(keys, cells, strict=False):
            if key and cell in back:
                table[(route, *key)] = back[cell]
    return table, measured


def _where_reached(cells: dict[tuple[str, ...], str], route: str, profile: str, cgroup: str) -> str:
    """'docker: sandbox; podman: sandbox, nested': where a route was REACHED."""
    parts = []
    for engine in ENGINES:
        places = [p for p in PLACES if cells.get((route, profile, cgroup, engine, p)) == REACHED]
        if places:
            parts.append(f"{engine}: {', '.join(places)}")
    return "; ".join(parts)


NOTE_LINE = re.compile(r"^- `(?P<profile>[^`]+)`, cgroup (?P<cgroup>v\d): ")


def _notes(text: str) -> dict[tuple[str, str, str], str]:
    """The not-run and n/a lines of SECURITY.md's table, by (section, profile, cgroup)."""
    if BEGIN not in text or END not in text:
        return {}
    notes, section = {}, ""
    for line in text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines():
        if line.startswith(("Not run:", "n/a:")):
            section = line.split(":", 1)[0]
        elif section and (m := NOTE_LINE.match(line)):
            notes[(section, m["profile"], m["cgroup"])] = line
    return notes


def render_security(measurements: list[Measurement], text: str) -> str:
    """SECURITY.md with its table rewritten: the columns of these measurements replace those of the
    same profile and host cgroup version; other columns (other hosts) stay as they were."""
    kept, kept_lines = parse_security(text)
    fresh = {(m.profile, m.cgroup) for m in measurements}
    cells = {key: outcome for key, outcome in kept.items() if (key[1], key[2]) not in fresh}
    lines = {key: line for key, line in kept_lines.items() if key not in fresh}
    details: dict[tuple[str, str], dict[str, str]] = {}
    not_run: dict[tuple[str, str], dict[str, str]] = {}
    notes = {key: line for key, line in _notes(text).items() if (key[1], key[2]) not in fresh}
    for m in measurements:
        inner = ", ".join(f"{e.capitalize()} {v}" for e, v in m.inner_engines.items())
        lines[(m.profile, m.cgroup)] = (
            f"- Measured under `{m.profile}` on a cgroup {m.cgroup} host: {m.date}, Linux {m.kernel}, "
            f"{m.host_engine} on the host, {inner} in the sandboxes."
        )
        for r in m.records:
            cells[(r.route, m.profile, m.cgroup, r.engine, r.place)] = r.outcome
            if r.outcome == NA:
                details.setdefault((m.profile, m.cgroup), {}).setdefault(r.route, r.detail)
            if r.outcome == NOT_RUN:
                not_run.setdefault((m.profile, m.cgroup), {}).setdefault(f"{r.engine} {r.place}", r.detail)
    hosts = sorted({(k[1], k[2]) for k in cells})
    columns = [(*host, engine, place) for host in hosts for engine in ENGINES for place in PLACES]
    out = [
        BEGIN,
        "`tests/engine/test_host_reach.py` runs `tests/engine/host_reach_probes.sh` on every test run, from every",
        "place an agent's code can run, and fails if an outcome differs from the expectations kept in the test or from",
        f"this table. The table is generated from the last run (`{REGENERATE}`); do not edit it by hand.",
        "Probes prove reach without harm: files are opened for writing and closed unwritten, a few values are",
        "written back exactly as read, devices are read, every mount and device rule is undone. A blank cell was",
        "not measured (on the VM, CI measures the quick routes from the sandbox and a nested `--privileged`",
        "container; `MANYOYO_VM_MATRIX=full` measures every cell).",
        "",
        *[lines[host] for host in sorted(lines)],
        "",
    ]
    for profile, cgroup in hosts:
        reached = {route: _where_reached(cells, route, profile, cgroup) for route in ROUTE_IDS}
        host = [f"`{r}` ({where})" for r, where in reached.items() if where and not r.startswith("sandbox-")]
        sandbox = [f"`{r}` ({where})" for r, where in reached.items() if where and r.startswith("sandbox-")]
        out.append(
            f"**Open to the host under `{profile}` on the cgroup {cgroup} host ({len(host)} routes):** "
            + ("; ".join(host) or "none")
            + "."
        )
        out.append("")
        out.append(f"Reached of the sandbox itself, by nested containers: {'; '.join(sandbox) or 'nothing'}.")
        out.append("")
    out.append("| route | " + " | ".join(_column(*c) for c in columns) + " | what it tries | source |")
    out.append("|---|" + "---|" * len(columns) + "---|---|")
    for route in ROUTES:
        row = [CELL.get(cells.get((route.id, *c), ""), "") for c in columns]
        out.append(f"| `{route.id}` | " + " | ".join(row) + f" | {route.tries} | [source]({route.source}) |")
    out += ["", "Places:"]
    out += [f"- **{place}**: {PLACE_TEXT[place]}." for place in PLACES]
    out += ["", "Outcomes: **REACHED**: the route is open from there; blocked: tried and refused."]
    for (profile, cgroup), errors in not_run.items():
        listed = "; ".join(f"{where}: `{error.replace('`', '')}`" for where, error in errors.items())
        notes[("Not run", profile, cgroup)] = f"- `{profile}`, cgroup {cgroup}: {listed}."
    for (profile, cgroup), reasons in details.items():
        listed = "; ".join(f"`{route}`: {reason}" for route, reason in reasons.items())
        notes[("n/a", profile, cgroup)] = f"- `{profile}`, cgroup {cgroup}: {listed}."
    out.append("Not run: the engine refused to start the container, so nothing ran there:")
    out += [line for key, line in sorted(notes.items()) if key[0] == "Not run"]
    out.append("n/a: the route cannot be tried there:")
    out += [line for key, line in sorted(notes.items()) if key[0] == "n/a"]
    out.append(END)
    block = "\n".join(out)
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        return before + block + rest.split(END, 1)[1]
    raise AssertionError(f"SECURITY.md has no {BEGIN!r} ... {END!r} markers to write the table between")


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(settings: ServerSettings, engine: Any) -> list[Measurement]:
    """Every probe from every place, once per measured profile; written to build/host-reach.json."""
    with host_canaries() as host:
        measurements = [anyio.run(measure, settings, engine, profile, host) for profile in MEASURED_PROFILES]
    write_results(measurements)
    for m in measurements:
        print(f"\nmeasured under {m.profile}, cgroup {m.cgroup}:\n{format_grid(m.outcomes())}")
    return measurements


def assert_expected(m: Measurement) -> None:
    """Every outcome of a measurement is the one EXPECTED holds for its profile and cgroup version."""
    grid = EXPECTED.get((m.profile, m.cgroup))
    assert grid is not None, (
        f"no expectations for profile {m.profile!r} on a cgroup {m.cgroup} host: add this measured grid to "
        f"EXPECTED in tests/engine/test_host_reach.py:\n{format_grid(m.outcomes())}"
    )
    expected = parse_grid(grid)
    # (a run may measure a part of the grid: the VM's in CI; a cell it measures must not be "?")
    assert set(m.outcomes()) <= set(expected), (
        f"EXPECTED needs a cell for every route, engine and place measured; measured:\n{format_grid(m.outcomes())}"
    )
    wrong = [
        f"  {r.route} from {r.engine} {r.place}: expected {expected[(r.route, r.engine, r.place)]}, "
        f"measured {r.outcome} ({r.detail})"
        for r in m.records
        if expected[(r.route, r.engine, r.place)] != r.outcome
    ]
    assert not wrong, (
        f"under {m.profile}, cgroup {m.cgroup}, {len(wrong)} outcomes differ from EXPECTED:\n"
        + "\n".join(wrong)
        + f"\nmeasured grid:\n{format_grid(m.outcomes())}"
    )


def test_every_route_has_the_expected_outcome_from_every_place(measured: list[Measurement]):
    for m in measured:
        assert_expected(m)


def test_security_md_shows_the_outcomes_of_this_run(measured: list[Measurement]):
    assert_security_md_shows(measured, RESULTS)


def assert_security_md_shows(measured: list[Measurement], results: Path) -> None:
    """SECURITY.md's table holds these measurements' outcomes (`results`: where they were written)."""
    table, lines = parse_security(SECURITY.read_text())
    differ = []
    for m in measured:
        if (m.profile, m.cgroup) not in lines:
            differ.append(f"  no 'Measured under `{m.profile}` on a cgroup {m.cgroup} host' line")
        for r in m.records:
            shown = table.get((r.route, m.profile, m.cgroup, r.engine, r.place))
            if shown != r.outcome:
                differ.append(f"  {r.route} from {r.engine} {r.place}: SECURITY.md shows {shown}, measured {r.outcome}")
    shown_routes = {key[0] for key in table}
    if shown_routes and shown_routes != set(ROUTE_IDS):
        differ.append(f"  SECURITY.md's routes differ from the probes': {sorted(shown_routes ^ set(ROUTE_IDS))}")
    assert not differ, (
        f"SECURITY.md's host-reach table differs from this run ({len(differ)} differences):\n"
        + "\n".join(differ[:20])
        + f"\nRegenerate it from this run's results ({results.relative_to(ROOT)}): {REGENERATE}"
    )


def test_the_outer_container_has_no_host_namespaces_devices_or_socket(measured: list[Measurement]):
    for m in measured:
        for inspect in m.inspect.values():
            assert inspect["Privileged"] is False and inspect["CgroupnsMode"] == "private"
            assert inspect["NetworkMode"].endswith("-net") and inspect["PidMode"] == ""  # a network of its own
            assert inspect["UTSMode"] == "" and inspect["IpcMode"] in ("private", "shareable")
            assert inspect["UsernsMode"] == "" and not inspect["Devices"] and not inspect["PortBindings"]
            # A disk quota's loop devices are the only device rules (outer-init drops them once mounted).
            assert tuple(inspect["DeviceCgroupRules"] or ()) in ((), LOOP_DEVICE_RULES)
            assert sorted(inspect["CapAdd"]) == ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"]
            assert all("docker.sock" not in bind for bind in inspect["Binds"] or [])


def test_the_table_generator_keeps_the_columns_of_other_hosts(measured: list[Measurement]):
    text = render_security(measured, SECURITY.read_text())
    other = [
        dataclasses.replace(m, cgroup="v9", records=[dataclasses.replace(r, outcome=NA) for r in m.records])
        for m in measured
    ]
    with_other = render_security(other, text)
    assert render_security(measured, with_other) == with_other  # this host's columns replaced, v9's kept
    table, _ = parse_security(with_other)
    hosts = {(m.profile, m.cgroup) for m in measured}
    shown = {(key[1], key[2]) for key in parse_security(SECURITY.read_text())[0]}  # the VM's too
    assert {(key[1], key[2]) for key in table} == shown | hosts | {(profile, "v9") for profile, _ in hosts}


def test_the_expectation_grid_round_trips():
    for grid in EXPECTED.values():
        cells = parse_grid(grid)
        assert parse_grid(format_grid(cells)) == cells


@pytest.mark.anyio
async def test_the_privileged_profile_is_refused_clearly_where_the_host_refuses_it(settings, engine):
    privileged = settings.model_copy(update={"runtime_profile": "privileged"})
    name = f"priv-{secrets.token_hex(2)}"
    async with Client(build_server(privileged, engine)) as client:
        result = await client.call_tool("create_sandbox", {"name": name})
        if not result.is_error:  # a host that allows --privileged: nothing to measure against here
            await call(client, "remove_sandbox", {"sandbox": name})
            pytest.fail("this host allows --privileged: add 'privileged' to MEASURED_PROFILES and its expectations")
        message = await tool_error(client, "list_nested", {"sandbox": name})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert "privileged" in text.lower() or "refused" in text.lower() or "operation not permitted" in text.lower(), text
    assert "no sandbox named" in message  # nothing was left behind


def _nested_run_works(profile: RuntimeProfile, workspace: Path) -> str:
    """Start a sandbox container with exactly `profile`'s grants and a root-owned `workspace`;
    'runs' if its engine runs a container and its root can write the workspace."""
    name = f"tight-{secrets.token_hex(3)}"
    flags = ["--cgroupns", profile.cgroupns, "-v", f"{name}:/var/lib/manyoyo", "-e", "MANYOYO_ENGINE=docker"]
    flags += ["-v", f"{workspace}:/workspace", "-w", "/workspace"]
    flags += [f"--cap-add={cap}" for cap in profile.cap_add]
    flags += [f"--security-opt={opt}" for opt in profile.security_opt]
    flags += [f"--device-cgroup-rule={rule}" for rule in profile.device_cgroup_rules]
    try:
        # Named, so that a container the engine created but could not start is removed as well.
        container = name
        docker("run", "-d", "--name", name, "--label", "io.manyoyo.mcp.test=tightness", *flags, DEFAULT_IMAGE)
    except subprocess.CalledProcessError as exc:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", name], capture_output=True)
        return f"the sandbox does not start: {exc.stderr.decode(errors='replace').strip()[:200]}"
    try:
        socket = "/run/manyoyo/shared/docker.sock"
        probe = ["exec", "-u", "1000000:1000000", container, "curl", "-sf", "--unix-socket", socket, "http://x/version"]
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
        ran = subprocess.run(["docker", "exec", container, *PROPER, "docker", "run", "--rm", TESTBOX, "true"])
        if ran.returncode != 0:
            return "nested container fails"
        wrote = subprocess.run(["docker", "exec", container, *PROPER, "touch", f"/workspace/{name}"])
        return "runs" if wrote.returncode == 0 else "the root-owned workspace is read-only"
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True)
        subprocess.run(["docker", "volume", "rm", name], capture_output=True)


def test_the_default_profile_is_the_tightest_that_still_runs_nested_containers(tmp_path: Path):
    standard = PROFILES["standard"]
    without = {
        f"CAP_{cap}": dataclasses.replace(standard, cap_add=tuple(c for c in standard.cap_add if c != cap))
        for cap in standard.cap_add
    }
    without["seccomp=unconfined"] = dataclasses.replace(standard, security_opt=("apparmor=unconfined",))
    measured = {grant: _nested_run_works(profile, tmp_path) for grant, profile in without.items()}
    print("standard without each grant:", measured)
    assert _nested_run_works(standard, tmp_path) == "runs"
    assert all(outcome != "runs" for outcome in measured.values()), measured

"""The VM test host (scripts/vm/) is what the engine-matrix tests need: a Docker engine on cgroup v2
that allows --privileged, with the sandbox images already in it, reachable from this host only on
its loopback, in a guest that reaches nothing outside itself. Boots the VM, or reuses a running one."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from urllib.parse import urlsplit

import pytest

from ..helpers import TESTBOX
from ..support.vm_host import IMAGES, guest_run

pytestmark = pytest.mark.vm  # vm_host: tests/conftest.py


def guest_docker(host: str, *args: str, timeout: float = 300) -> str:
    """The docker CLI aimed at the guest's engine (as the server is, by DOCKER_HOST)."""
    done = subprocess.run(
        ["docker", *args],
        env={**os.environ, "DOCKER_HOST": host},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout


def host_addresses() -> list[str]:
    """Every address of this host's interfaces but the loopback ones (IPv6 link-local with its scope)."""
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        interface, family, cidr = fields[1], fields[2], fields[3]
        address = ipaddress.ip_address(cidr.split("/")[0])
        if address.is_loopback or family not in ("inet", "inet6"):
            continue
        found.append(f"{address}%{interface}" if address.is_link_local and address.version == 6 else str(address))
    return found


def listeners(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_the_guest_engine_runs_on_cgroup_v2(vm_host):
    info = guest_docker(vm_host, "info", "--format", "{{.CgroupVersion}} {{.CgroupDriver}} {{.Driver}}").split()
    assert info == ["2", "systemd", "overlay2"]
    assert guest_run("stat", "-fc", "%T", "/sys/fs/cgroup").stdout.strip() == "cgroup2fs"


def test_privileged_containers_run_in_the_guest(vm_host):
    out = guest_docker(
        vm_host, "run", "--rm", "--privileged", TESTBOX,
        "sh", "-c", "grep CapEff /proc/self/status && mkdir -p /m && mount -t tmpfs none /m && echo mounted",
    )  # fmt: skip
    assert "mounted" in out
    effective = int(out.split("CapEff:")[1].split()[0], 16)
    cap_sys_admin, cap_sys_resource = 1 << 21, 1 << 24
    assert effective & cap_sys_admin and effective & cap_sys_resource


@pytest.mark.parametrize("image", IMAGES)
def test_the_images_are_preloaded_as_they_are_on_the_host(vm_host, image):
    on_host = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert guest_docker(vm_host, "image", "inspect", "--format", "{{.Id}}", image).strip() == on_host


def test_the_preloaded_sandbox_image_runs(vm_host):
    assert guest_docker(vm_host, "run", "--rm", "--entrypoint", "docker", IMAGES[0], "--version").startswith(
        "Docker version"
    )


def test_the_guest_engine_is_reachable_only_on_the_hosts_loopback(vm_host):
    url = urlsplit(vm_host)
    assert url.scheme == "tcp" and url.hostname == "127.0.0.1"
    port = url.port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass  # the one way in
    assert listeners(port) == {"0100007F"}  # 127.0.0.1, nothing else, on IPv4 nor IPv6
    addresses = host_addresses()
    assert addresses, "this host has no address besides the loopback to try"
    for address in addresses:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
            pass


def test_the_guest_reaches_nothing_outside_itself(vm_host):
    # Without qemu's restrict=on, 10.0.2.2 is the host: its loopback, where this very port listens.
    port = urlsplit(vm_host).port
    probe = f"exec 3<>/dev/tcp/10.0.2.2/{port} && echo REACHED"
    done = guest_run("timeout", "10", "bash", "-c", probe, check=False)
    assert "REACHED" not in done.stdout
    assert guest_run("cat", "/etc/resolv.conf").stdout.strip() == ""  # no name server to ask either


def test_the_guests_own_containers_cannot_reach_its_engine_or_sshd(vm_host):
    # As on a host whose engine listens on a unix socket: the TCP port is for the host's forward only.
    addresses = guest_run("sh", "-c", 'ip -o -4 addr show | awk \'$2 != "lo" {sub("/.*", "", $4); print $4}\'')
    targets = [f"{address} {port}" for address in addresses.stdout.split() for port in (2375, 22)]
    assert any(t.startswith("172.17.0.1 ") for t in targets), targets  # the bridge's gateway is among them
    script = 'for t in "$@"; do nc -w 5 $t </dev/null && echo "REACHED $t"; done; echo done'
    out = guest_docker(vm_host, "run", "--rm", TESTBOX, "sh", "-c", script, "probe", *targets)
    assert out.splitlines() == ["done"], out

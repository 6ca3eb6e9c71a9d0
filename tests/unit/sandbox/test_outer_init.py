"""The outer init's pure parts: the sandbox proper's user namespace and OCI configuration.

The host's root must never be mapped into the sandbox proper: a process that is uid 0 on the host
by uid alone may write the host's sysctls (core_pattern) by file permission, user namespace or not.
"""

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).parents[3] / "manyoyo_mcp" / "sandbox" / "image" / "rootfs" / "usr" / "local" / "lib" / "manyoyo"


def _load_outer_init():
    sys.path.insert(0, str(LIB))
    try:
        loader = importlib.machinery.SourceFileLoader("outer_init", str(LIB / "outer-init"))
        spec = importlib.util.spec_from_loader("outer_init", loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(LIB))


outer_init = _load_outer_init()


def host_ids(mappings: list[dict[str, int]]) -> set[int]:
    return {m["hostID"] + i for m in mappings for i in range(m["size"])}


def inner_ids(mappings: list[dict[str, int]]) -> list[int]:
    return sorted(m["containerID"] + i for m in mappings for i in range(m["size"]))


@pytest.mark.parametrize("owner", [0, 1, 999, 1000, 65534, 65535, 70000, 1000005, 1065535, 4000000000])
def test_the_hosts_root_is_never_mapped_and_every_inner_id_is_mapped_once(owner):
    mappings = outer_init.id_mappings(owner)
    assert 0 not in host_ids(mappings)
    inner = inner_ids(mappings)
    assert len(inner) == len(set(inner)) and set(range(65536)) <= set(inner)
    assert len(host_ids(mappings)) == len(inner)  # no host id is mapped twice


def test_a_workspace_owner_keeps_their_uid_inside():
    mappings = outer_init.id_mappings(1000)
    assert {"containerID": 1000, "hostID": 1000, "size": 1} in mappings
    assert {"containerID": 0, "hostID": 1000000, "size": 1000} in mappings


@pytest.mark.parametrize("owner", [0, 1000010])
def test_root_and_the_shifted_range_need_no_line_of_their_own(owner):
    assert outer_init.id_mappings(owner) == [{"containerID": 0, "hostID": 1000000, "size": 65536}]


def test_ids_of_the_shifted_range_are_seen_inside_as_themselves_minus_the_offset():
    assert (outer_init.inner_id(1000005), outer_init.inner_id(1000), outer_init.inner_id(0)) == (5, 1000, 0)


def test_the_sandbox_proper_gets_its_own_namespaces_and_no_masks_but_no_keyrings(tmp_path, monkeypatch):
    # Docker's bind mounts of the operator's folders, as the outer init would find them.
    workspace, credentials, shared = tmp_path / "workspace", tmp_path / "docker-config", tmp_path / "shared"
    for folder in (workspace, credentials, shared):
        folder.mkdir()
    os.chown(workspace, 1000, 1000)  # the tests run as root; the user's folder is made theirs
    found = [(str(workspace), False), (str(credentials), True), (str(shared), False)]
    monkeypatch.setattr(outer_init, "passthrough_mounts", lambda: found)
    dirs = {name: tmp_path / name for name in ("upper", "work", "docker", "containers", "home")}
    config = outer_init.oci_config(dirs, 1000, 1000, idmap=True)
    linux = config["linux"]
    assert {n["type"] for n in linux["namespaces"]} == {"pid", "network", "ipc", "uts", "mount", "user", "cgroup"}
    assert not any("path" in n for n in linux["namespaces"])  # new ones, never the outer container's
    # Unmasked proc and sysfs: nested engines mount their own; what they show stays the host's.
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []
    refused = {name for rule in linux["seccomp"]["syscalls"] for name in rule["names"]}
    assert refused == {"keyctl", "add_key", "request_key"}
    assert 0 not in host_ids(linux["uidMappings"]) and 0 not in host_ids(linux["gidMappings"])
    assert config["process"]["args"][0] == "/usr/bin/tini"
    binds = {m["destination"]: m for m in config["mounts"] if m["type"] == "bind"}
    assert binds["/var/lib/docker"]["source"] == str(dirs["docker"])
    assert all("nosuid" in m["options"] for m in binds.values())
    # A writable folder owned by a user stays as it is (the user keeps their uid inside); a writable
    # root-owned one is mapped to the proper's root. A read-only one is not crun's: the outer init
    # mounts it itself, so that it is locked read-only (read_only_folders; tests/engine checks it).
    assert "idmap" not in binds[str(workspace)]["options"]
    assert "idmap" in binds[str(shared)]["options"]
    assert str(credentials) not in binds


def test_read_only_folders_are_the_outer_inits_unless_a_writable_one_holds_them(tmp_path, monkeypatch):
    work, inner, ssh, sibling = (str(tmp_path / n) for n in ("w", "w/ro", "ssh", "w-ro"))
    for folder in (work, inner, ssh, sibling):
        os.makedirs(folder, exist_ok=True)
    found = [(work, False), (inner, True), (ssh, True), (sibling, True)]
    monkeypatch.setattr(outer_init, "passthrough_mounts", lambda: found)
    assert outer_init.locked_folders() == [ssh, sibling]
    config = outer_init.oci_config({n: tmp_path for n in ("docker", "containers")}, 1000, 1000, idmap=True)
    binds = {m["destination"]: m for m in config["mounts"] if m["type"] == "bind"}
    assert "ro" in binds[inner]["options"] and ssh not in binds and sibling not in binds


def test_a_bind_mount_is_id_mapped_only_when_asked():
    assert "idmap" in outer_init.bind("/w", "/w", idmap=True)["options"]
    assert "idmap" not in outer_init.bind("/w", "/w")["options"]
    assert "ro" in outer_init.bind("/c", "/c", read_only=True)["options"]

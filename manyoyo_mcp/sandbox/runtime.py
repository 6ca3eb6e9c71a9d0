"""Runtime profiles: the security settings of a sandbox's outer container.

A nested engine needs some privilege in the outer container. Hosts differ in what they allow:
many refuse `--privileged` (for example when CAP_SYS_RESOURCE is not in the bounding set), while
the targeted set of `standard` runs on both kinds. The operator picks one by name.
"""

from __future__ import annotations

from dataclasses import replace

from manyoyo_mcp.engine.types import RuntimeProfile
from manyoyo_mcp.errors import InvalidArgument

# The nested engines' runtimes raise their locked-memory limit to load cgroup v2's device filter
# (crun: "setrlimit (RLIM_MEMLOCK): Operation not permitted" otherwise, on every cgroup v2 host): the
# outer container starts with it unlimited (the host's engine sets it, on cgroup v2 hosts only: see
# engine/resources.py; locked memory still counts against the sandbox's memory limit).
DIND_ULIMITS = (("memlock", -1, -1),)

PROFILES: dict[str, RuntimeProfile] = {
    profile.name: profile
    for profile in (
        RuntimeProfile(
            name="standard",
            summary=(
                "Default. The outer container gets CAP_SYS_ADMIN (mounts, cgroups), CAP_NET_ADMIN "
                "(the sandbox's network) and CAP_SYS_PTRACE (id-mapped mounts) beside Docker's "
                "defaults, no seccomp or AppArmor profile, and a cgroup namespace of its own; no host "
                "devices, no host namespaces. The agent never holds these: its commands and the nested "
                "engine run in a user namespace inside, whose root is an unprivileged uid on the host. "
                "Works on hosts that refuse --privileged."
            ),
            cap_add=("SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"),
            security_opt=("seccomp=unconfined", "apparmor=unconfined"),
            ulimits=DIND_ULIMITS,
        ),
        RuntimeProfile(
            name="privileged",
            summary=(
                "`--privileged` for the outer container: every capability, every host device, writable "
                "/sys and cgroups. The agent and the nested engine still run in the unprivileged user "
                "namespace inside. Only where `standard` fails; some hosts refuse it outright."
            ),
            privileged=True,
            ulimits=DIND_ULIMITS,
        ),
    )
}


def runtime_profile(name: str) -> RuntimeProfile:
    """The runtime profile of that name; InvalidArgument naming the profiles there are."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidArgument(
            f"unknown runtime profile {name!r}: choose one of {', '.join(sorted(PROFILES))}"
        ) from None


# A sock-mode sandbox runs no engine of its own: it needs no added privilege at all.
SOCK_PROFILE = RuntimeProfile(
    name="sock",
    summary="Sock mode: Docker's defaults (seccomp, AppArmor, default capabilities); the host's socket is mounted.",
)


# A disk quota is an ext4 image on a loop device, attached by the outer container's init: it needs
# /dev/loop-control and loop block devices (major 7), and gives them up once the disk is mounted
# (cgroup v1). Added to `standard` only when a sandbox has a quota; `privileged` has every device.
LOOP_DEVICE_RULES = ("b 7:* rwm", "c 10:237 rwm")


def with_disk_quota(profile: RuntimeProfile) -> RuntimeProfile:
    """`profile` with the loop devices a disk quota needs."""
    if profile.privileged:
        return profile
    return replace(profile, device_cgroup_rules=(*profile.device_cgroup_rules, *LOOP_DEVICE_RULES))

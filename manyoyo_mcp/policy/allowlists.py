"""What may be used inside a sandbox, as tables with their sources, and the pure checks over them:
the sandbox's protected paths, capabilities, sysctls and restart policies of nested containers,
and the host images the operator lets agents copy in. The rules (rules.py) judge with these; the
nested tools parse with the same normalisation, so both read a name the way the engines do.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from manyoyo_mcp.errors import InvalidArgument

# Paths of the sandbox a nested container may not mount: its kernel interfaces, and the engines
# (their sockets and storage), whose control would undo the nesting.
FORBIDDEN_SANDBOX_PATHS = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containers",
    "/etc/containers",
    "/etc/docker",
)


def check_no_nul(what: str, value: str) -> str:
    if "\x00" in value:
        raise InvalidArgument(f"{what} contains a NUL byte")
    return value


def sandbox_path(what: str, path: str, base: str = "/workspace") -> str:
    """An absolute, normalised path inside the sandbox; relative paths are taken from `base`."""
    check_no_nul(what, path)
    if not path.strip():
        raise InvalidArgument(f"{what} is empty")
    joined = posixpath.join(base, path)
    # normpath keeps a leading '//' (POSIX allows it a meaning); the engines do not.
    normal = "/" + posixpath.normpath(joined).lstrip("/")
    return normal


def forbidden_sandbox_path(path: str) -> str | None:
    """The protected root `path` falls in (or '/' itself), if any."""
    if path == "/":
        return "/"
    for root in FORBIDDEN_SANDBOX_PATHS:
        if path == root or path.startswith(root + "/"):
            return root
    return None


# Capabilities a nested container may add: Kubernetes' Pod Security "baseline" set (most are in
# Docker's default set already) plus NET_RAW for ping. SYS_ADMIN, NET_ADMIN, SYS_MODULE, SYS_PTRACE,
# ALL and the rest are refused.
CAPABILITY_ALLOWLIST = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
        "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip


# Namespaced sysctls Kubernetes calls safe: they act on the container's own namespaces only.
SYSCTL_ALLOWLIST = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)  # fmt: skip


MAX_RESTARTS = 5


# tmpfs mount options of a nested container: its size and owner, and flags that only take rights
# away. `suid` and `dev` (set-uid programs and device files on it) are refused, like the kernel's
# other tmpfs options (mpol, huge, ...). A tmpfs's pages count against the container's memory limit.
TMPFS_FLAGS = frozenset({"ro", "rw", "exec", "noexec", "nosuid", "nodev"})
TMPFS_VALUES = {
    "size": re.compile(r"[0-9]{1,15}[kmgKMG%]?"),
    "mode": re.compile(r"[0-7]{3,4}"),
    "uid": re.compile(r"[0-9]{1,10}"),
    "gid": re.compile(r"[0-9]{1,10}"),
    "nr_inodes": re.compile(r"[0-9]{1,15}[kmgKMG]?"),
}
TMPFS_FORMS = "ro, rw, exec, noexec, nosuid, nodev, size=N[k|m|g|%], mode=OCTAL, uid=N, gid=N, nr_inodes=N"


def tmpfs_option_allowed(option: str) -> bool:
    name, has_value, value = option.strip().partition("=")
    if not has_value:
        return name in TMPFS_FLAGS
    pattern = TMPFS_VALUES.get(name)
    return pattern is not None and pattern.fullmatch(value) is not None


# The users a command or a nested container may run as: `root`, a name, `uid` or `uid:gid` (or
# `name:group`). Every one is a user of the sandbox proper, whose user namespace maps ids 0-65535
# (outer-init's UID_COUNT) and the workspace owner's own: the host's uid 0 is never among them.
USER_SPEC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?")
USER_FORMS = "'root', a user name, 'uid' or 'uid:gid' (or 'name:group')"
SANDBOX_IDS = 65536


def unmapped_id(spec: str, owner: tuple[int, int] | None) -> str | None:
    """The part of a user spec that names a numeric id the sandbox proper does not map (0-65535 and
    the workspace owner's `owner` (uid, gid)); None if every numeric part is mapped."""
    user, _, group = spec.partition(":")
    for part, own in ((user, owner[0] if owner else None), (group, owner[1] if owner else None)):
        if part.isdigit() and int(part) >= SANDBOX_IDS and int(part) != own:
            return part
    return None


_RESTART = re.compile(r"(no|on-failure)(?::(\d{1,3}))?")


def normalize_capability(name: str) -> str:
    """The way the engines read a capability: case-insensitive, optional CAP_ prefix."""
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def normalize_sysctl(name: str) -> str:
    return name.strip().replace("/", ".")


def restart_policy(spec: str) -> tuple[str, int] | None:
    """'no' or 'on-failure[:N]' with N at most MAX_RESTARTS -> (name, retries); None if not allowed."""
    match = _RESTART.fullmatch(spec.strip().lower())
    if not match:
        return None
    name, retries = match.group(1), int(match.group(2) or (MAX_RESTARTS if match.group(1) == "on-failure" else 0))
    if name == "no" and match.group(2) is not None:
        return None
    return (name, retries) if retries <= MAX_RESTARTS else None


def normalized(ref: str) -> str:
    """'busybox' -> 'busybox:latest' (the form the host engine lists tags in)."""
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or "@" in ref else f"{ref}:latest"


def loadable(ref: str, patterns: tuple[str, ...]) -> bool:
    """Whether the operator's patterns (shell-style, e.g. 'node:*') allow the host image `ref`."""
    return any(fnmatch.fnmatchcase(normalized(ref), normalized(p)) for p in patterns)

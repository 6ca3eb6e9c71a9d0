"""Judging a host path an agent wants mounted into a sandbox (pure, given a resolver).

The path is resolved first (`~`, `..`, `//`, trailing `/`, symlinks: `os.path.realpath`), then
judged: never an engine socket or a folder holding one, never a system folder or the home
folder itself, never a credential folder (or a folder holding one), and only below the roots
the operator allows. Sources: CIS Docker Benchmark 5.6 and 5.32, OWASP Docker cheat sheet,
opa-docker-authz (resolve before judging; moby#36020).

The one escape hatch, only the operator's: a read-only volume the operator wrote in the user
file may be a credential folder or a file in it (`grant=True`; RunProfile.granted_volumes says
which volumes qualify). Nothing else is lifted by it: a folder that merely holds credential
folders, the server's own files, a folder holding an engine socket and system folders stay refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from manyoyo_mcp.policy import rule_ids

# System folders: mounting them (even read-only) hands the agent the host's configuration, kernel
# interfaces, devices or binaries (CIS 5.6), or the engines' own state.
SYSTEM_PATHS = (
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/run",
    "/var/run",
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/sbin",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/containers",
    "/var/log",
)
# Refused themselves, while folders inside them may be allowed roots (/usr/local/src, /root/work).
EXACT_ONLY = frozenset({"/", "/usr", "/root"})
# Engine sockets (CIS 5.32): whoever holds one is root on the host.
ENGINE_SOCKETS = (
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/run/crio/crio.sock",
    "~/.docker/run/docker.sock",
    "$XDG_RUNTIME_DIR/docker.sock",
    "$XDG_RUNTIME_DIR/podman/podman.sock",
)
SOCKET_NAMES = ("docker.sock", "containerd.sock", "podman.sock", "crio.sock", "dockershim.sock")
# Credential folders and files in a home directory. The operator may grant one, read-only.
CREDENTIALS = (
    "~/.ssh",
    "~/.docker",
    "~/.aws",
    "~/.kube",
    "~/.config/gcloud",
    "~/.azure",
    "~/.gnupg",
    "~/.config/gh",
    "~/.netrc",
    "~/.git-credentials",
    "~/.npmrc",
    "~/.pypirc",
    "~/.terraform.d",
    "~/.vault-token",
    "~/.password-store",
)
# The server's own files: the operator's configuration, env files of credentials and the audit
# log (wherever MANYOYO_AUDIT_DIR puts it: `extra_protected`). Never mounted, not even granted.
SERVER_FILES = ("~/.manyoyo",)
PATH_MAX, NAME_MAX = 4095, 255  # bytes: Linux's limits (PATH_MAX without its NUL)


@dataclass(frozen=True, slots=True)
class PathVerdict:
    allowed: bool
    rule: str
    reason: str
    resolved: str = ""
    grantable: bool = False
    """Refused as a credential folder (or a file in one) that the operator could grant read-only."""


def _too_long(given: str) -> str | None:
    """Why a path no file system takes is refused (PATH_MAX 4096, NAME_MAX 255 bytes), or None."""
    encoded = given.encode("utf-8", errors="surrogatepass")
    if len(encoded) > PATH_MAX:
        return f"host path of {len(encoded)} bytes: a path has at most {PATH_MAX}"
    longest = max(len(part) for part in encoded.split(b"/"))
    if longest > NAME_MAX:
        return f"host path {given[:80]!r}... has a name of {longest} bytes: a name has at most {NAME_MAX}"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _expand(path: str, home: str) -> str:
    path = path.replace("$XDG_RUNTIME_DIR", os.environ.get("XDG_RUNTIME_DIR", "/run/user/0"))
    return home + path[1:] if path.startswith("~") else path


def judge_host_path(
    given: str,
    *,
    roots: Iterable[str],
    home: str,
    extra_protected: Iterable[str] = (),
    resolve: Callable[[str], str] = os.path.realpath,
    is_socket: Callable[[str], bool] | None = None,
    exists: Callable[[str], bool] = os.path.lexists,
    grant: bool = False,
) -> PathVerdict:
    """May `given` be mounted into a sandbox? Roots and protected paths are resolved the same way.

    `grant`: the operator wrote this path as a read-only volume in the user file, so a credential
    folder (or a file in one) is allowed as host.credential-grant, wherever it is; every other
    rule still holds."""
    if "\x00" in given or not given.strip():
        return PathVerdict(False, rule_ids.HOST_PATH_INVALID.id, f"host path {given!r} is empty or contains a NUL byte")
    too_long = _too_long(given)
    if too_long:
        return PathVerdict(False, rule_ids.HOST_PATH_INVALID.id, too_long)
    is_socket = is_socket or _is_socket
    try:
        path = resolve(_expand(given.strip(), home))
    except (OSError, ValueError) as exc:
        problem = f"host path {given[:200]!r} cannot be resolved ({exc})"
        return PathVerdict(False, rule_ids.HOST_PATH_INVALID.id, problem)
    shown = f"{given!r}" + (f" (resolves to {path})" if path != given else "")

    # A socket itself, or a known socket path; later, a folder holding a known socket that exists.
    sockets = {resolve(_expand(s, home)) for s in ENGINE_SOCKETS}
    if is_socket(path) or os.path.basename(path) in SOCKET_NAMES or path in sockets:
        return _socket_verdict(shown, path)
    resolved_home = resolve(home)
    for system in SYSTEM_PATHS:
        target = resolve(system)
        if path == target or (system not in EXACT_ONLY and _inside(path, target)):
            return PathVerdict(
                False, rule_ids.HOST_SYSTEM_PATH.id, f"{shown} is the host's {system}, which may never be mounted", path
            )
    if path == resolved_home:
        return PathVerdict(
            False, rule_ids.HOST_HOME.id, f"{shown} is the home folder itself; mount a project folder inside it", path
        )
    credential = _credential(path, home, (*SERVER_FILES, *extra_protected), resolve)
    if credential is not None:
        relation, name, grantable = credential
        if not (grant and grantable):
            return PathVerdict(
                False,
                rule_ids.HOST_CREDENTIALS.id,
                f"{shown} {relation} {name} (credentials or the server's own files); mount a project folder that "
                "holds no credentials",
                path,
                grantable,
            )
    if any(_inside(s, path) and exists(s) for s in sockets):
        return _socket_verdict(shown, path)
    if credential is not None:
        return PathVerdict(
            True,
            rule_ids.HOST_CREDENTIAL_GRANT.id,
            f"{path} ({credential[1]}): a credential path the operator granted, read-only",
            path,
        )
    resolved_roots = [resolve(_expand(r, home)) for r in roots]
    if not any(_inside(path, root) for root in resolved_roots):
        allowed = ", ".join(resolved_roots) or "none"
        return PathVerdict(
            False,
            rule_ids.HOST_OUTSIDE_ROOTS.id,
            f"{shown} is outside the folders the operator allows for workspaces: {allowed} "
            "(the operator widens them with MANYOYO_ALLOWED_HOST_ROOTS)",
            path,
        )
    return PathVerdict(True, rule_ids.HOST_ALLOWED.id, f"{path} is inside an allowed root", path)


def _credential(
    path: str, home: str, never_granted: tuple[str, ...], resolve: Callable[[str], str]
) -> tuple[str, str, bool] | None:
    """(how `path` relates to a credential path: "is", "is inside" or "holds"; that path; whether
    the operator may grant it), or None. Only a grantable credential folder itself, or something
    inside it, can be granted: a folder holding one (~/.config holds ~/.config/gcloud) never is."""
    within: list[tuple[str, bool]] = []
    for name, grantable in (*((c, True) for c in CREDENTIALS), *((c, False) for c in never_granted)):
        target = resolve(_expand(name, home))
        if _inside(path, target):
            within.append((name, grantable))
        elif _inside(target, path):
            return "holds", name, False
    if not within:
        return None
    name = within[0][0]
    relation = "is" if path == resolve(_expand(name, home)) else "is inside"
    return relation, name, all(grantable for _, grantable in within)


def _socket_verdict(shown: str, path: str) -> PathVerdict:
    return PathVerdict(
        False,
        rule_ids.HOST_ENGINE_SOCKET.id,
        f"{shown} is or holds a container engine socket, which gives root on the host; mount a project folder instead",
        path,
    )


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False

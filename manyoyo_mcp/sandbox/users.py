"""The user a command runs as inside a sandbox: the workspace owner's by default, or the one a call
names (`root`, a name the sandbox knows, or `uid[:gid]`), looked up in the sandbox's own user
database. Every one is a user of the sandbox proper: its user namespace maps ids 0-65535 and the
workspace owner's, and a numeric id beyond those is refused (sandbox.user-unmapped), never tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from manyoyo_mcp import policy
from manyoyo_mcp.errors import InvalidArgument, PolicyDenied
from manyoyo_mcp.policy.allowlists import USER_FORMS, USER_SPEC
from manyoyo_mcp.sandbox.execution import run_inside
from manyoyo_mcp.sandbox.inside import ROOT, Entry, SandboxUser

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

# $1 = the user (a name or a uid), $2 = the group (a name, a gid or empty). Prints
# "uid gid name home", or "nouser" / "nogroup" and the sandbox's login users.
_RESOLVE = r"""
if found=$(getent passwd "$1"); then
    IFS=: read -r name _ uid gid _ home _ <<EOF
$found
EOF
elif [ -n "$1" ] && [ -z "$(printf %s "$1" | tr -d 0-9)" ]; then
    uid=$1 gid=0 name=$1 home=/
else
    echo nouser; getent passwd | awk -F: '$3 == 0 || ($3 >= 1000 && $3 < 65534) { print $1 }'; exit 3
fi
if [ -n "$2" ]; then
    if [ -z "$(printf %s "$2" | tr -d 0-9)" ]; then gid=$2
    elif found=$(getent group "$2"); then gid=$(printf %s "$found" | cut -d: -f3)
    else echo nogroup; exit 4
    fi
fi
echo "$uid $gid $name $home"
"""


def parse_user(spec: str) -> tuple[str, str]:
    """(user, group or '') of `root`, a name, `uid[:gid]` or `name:group`; InvalidArgument otherwise."""
    if not USER_SPEC.fullmatch(spec):
        raise InvalidArgument(f"user {spec!r} is not understood: use {USER_FORMS}, e.g. 'root' or '1000:1000'")
    user, _, group = spec.partition(":")
    return user, group


async def resolve_user(engine: Engine, container_id: str, entry: Entry, spec: str) -> SandboxUser:
    """The user `spec` names in the sandbox `container_id`: a known user with their home and group
    (the group part, if any, replacing theirs), or a bare uid (group 0 unless given, home `/`, as
    `docker exec --user` does). Raises InvalidArgument (malformed, an unknown name or group) and
    PolicyDenied (sandbox.user-unmapped: an id the sandbox proper does not map)."""
    user, group = parse_user(spec)
    if user == "root" and not group:
        return ROOT
    _judge(spec, entry)
    code, out, err = await run_inside(engine, container_id, entry, ["sh", "-c", _RESOLVE, "user", user, group])
    lines = out.split("\n")
    if code == 3:
        known = ", ".join(n for n in lines[1:] if n) or "root"
        raise InvalidArgument(
            f"the sandbox knows no user {user!r}: use one of its users ({known}), or 'uid[:gid]' (create users "
            "with exec `useradd`)"
        )
    if code == 4:
        raise InvalidArgument(f"the sandbox knows no group {group!r}: give a group it has, or a numeric gid")
    try:
        uid, gid, name, home = lines[0].split(" ", 3)
        found = SandboxUser(name=name, uid=int(uid), gid=int(gid), home_dir=home or "/")
    except ValueError as exc:
        raise InvalidArgument(f"user {spec!r} could not be looked up in the sandbox: {err.strip() or out}") from exc
    _judge(f"{found.uid}:{found.gid}", entry)  # a name's ids, as the sandbox's user database gives them
    return found


def _judge(spec: str, entry: Entry) -> None:
    if entry.owner is not None and (denied := policy.user_denial(spec, entry.owner)):
        raise PolicyDenied(denied.rule, denied.reason)

"""Build secrets: files inside the sandbox a build reads through `RUN --mount=type=secret,id=...`.

A call names them by path (`secrets: {id: path}`), never by value: the arguments, the audit log and
the result carry paths only. Each path is judged like a build context (as given, by the policy, and
again once resolved inside the sandbox), must be a regular file of at most MAX_SECRET_BYTES
(BuildKit's own limit), and is read once: BuildKit's CLI reads it itself (by its resolved path), podman
gets it inside the context, from where its API moves it out before the build starts. Its value is
masked in everything the server says and writes afterwards, the build log included (a build may print
it), as `[redacted:...]`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from manyoyo_mcp import policy
from manyoyo_mcp.errors import InvalidArgument, PolicyDenied
from manyoyo_mcp.policy import allowlists
from manyoyo_mcp.sandbox.execution import run_inside
from manyoyo_mcp.sandbox.inside import Entry

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

MAX_SECRET_BYTES = 500 * 1024
MAX_SECRETS = 16
SECRET_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MIN_LINE = 8
"""A line of a multi-line secret (a key file) is masked on its own from this length: builds print
line by line."""

# Resolve a secret file inside the sandbox; print its path, then its content in base64.
_READ = rf"""
p=$(realpath -e -- "$1" 2>/dev/null) || {{ echo missing; exit 3; }}
[ -f "$p" ] || {{ echo notfile; exit 4; }}
[ "$(stat -c %s -- "$p")" -le {MAX_SECRET_BYTES} ] || {{ echo toolarge; exit 5; }}
printf '%s\n' "$p"
base64 -w0 -- "$p"
"""


class Masking(Protocol):
    """Where secret values go to be masked (the server's recorder)."""

    def remember(self, secrets: set[str]) -> None: ...

    def mask(self, value: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class BuildSecret:
    id: str
    path: str
    """The file inside the sandbox, resolved."""
    value: bytes


def secret_paths(secrets: dict[str, str]) -> dict[str, str]:
    """`secrets` ({id: path}) with each id checked and each path absolute (relative ones start at
    /workspace, as build contexts do); InvalidArgument otherwise."""
    if len(secrets) > MAX_SECRETS:
        raise InvalidArgument(f"at most {MAX_SECRETS} build secrets, got {len(secrets)}")
    for secret_id in secrets:
        if not SECRET_ID.fullmatch(secret_id):
            raise InvalidArgument(
                f"secret id {secret_id!r} is not allowed: ASCII letters, digits, '_', '.' or '-' (the id of "
                "RUN --mount=type=secret,id=...)"
            )
    return {secret_id: allowlists.sandbox_path(f"secret {secret_id}", path) for secret_id, path in secrets.items()}


async def read_secrets(
    engine: Engine, container_id: str, entry: Entry, paths: dict[str, str], sandbox: str
) -> list[BuildSecret]:
    """Each secret file resolved inside the sandbox, judged again once resolved, and read."""
    found = []
    for secret_id, path in paths.items():
        code, out, _ = await run_inside(engine, container_id, entry, ["sh", "-c", _READ, "secret", path])
        if code != 0:
            problem = {
                "missing": "does not exist",
                "notfile": "is not a regular file",
                "toolarge": f"is larger than {MAX_SECRET_BYTES} bytes (BuildKit's limit)",
            }.get(out.strip(), f"cannot be read ({code})")
            raise InvalidArgument(
                f"secret {secret_id!r}: {path} {problem} inside sandbox {sandbox!r}: give a file there (relative "
                "paths start at /workspace); write it with exec first if needed"
            )
        resolved, _, encoded = out.partition("\n")
        protected = allowlists.forbidden_sandbox_path(resolved)
        if protected:  # a symlink led there
            decision = policy.secret_denial(secret_id, path, resolved, protected)
            raise PolicyDenied(decision.rule, decision.reason)
        try:
            found.append(BuildSecret(secret_id, resolved, base64.b64decode(encoded.strip(), validate=True)))
        except binascii.Error as exc:
            raise InvalidArgument(f"secret {secret_id!r}: {path} could not be read inside the sandbox") from exc
    return found


def secret_values(secrets: list[BuildSecret]) -> set[str]:
    """What to mask of each secret: its whole value, trimmed, and each of its longer lines."""
    values: set[str] = set()
    for secret in secrets:
        text = secret.value.decode("utf-8", errors="replace")
        values.update({text, text.strip()})
        values.update(line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_LINE)
    return {v for v in values if v}

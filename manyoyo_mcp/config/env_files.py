"""Env files as MANYOYO reads them: `KEY=VALUE` or `export KEY=VALUE`, one per line (pure).

Blank lines and `#` comments are skipped, CRLF line ends are fine, a value in matching single or
double quotes loses the quotes, nothing is expanded or executed (a `#` after a value is part of
it, as in docker's env files). A line that cannot be used is an error naming the file and line:
it is never dropped silently, since a dropped line is a missing credential discovered much later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from manyoyo_mcp.errors import EnvFileError, InvalidArgument

ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE = re.compile(r"^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$")
MANYOYO_ENV_DIR = "~/.manyoyo/env"


def env_file_path(given: str, relative_to: Path | None = None) -> Path:
    """Where an envFile entry points: `~` expanded; a bare name (MANYOYO's older form,
    e.g. "anthropic_claudecode") is ~/.manyoyo/env/<name>.env; a relative path is taken from the
    configuration file's folder."""
    if "/" not in given and not given.startswith("~"):
        name = given if given.endswith(".env") else f"{given}.env"
        return Path(os.path.expanduser(MANYOYO_ENV_DIR)) / name
    path = Path(os.path.expanduser(given))
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    return path


def parse_env_text(text: str, source: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            # The line is not shown: it may be a credential pasted without its name.
            raise EnvFileError(f"{source}:{number}: expected KEY=VALUE or export KEY=VALUE")
        key, value = match.group(1), _unquote(match.group(2))
        if not ENV_KEY.fullmatch(key):
            raise EnvFileError(
                f"{source}:{number}: {key!r} is not a variable name (letters, digits and '_', not starting "
                "with a digit)"
            )
        if "\x00" in value:
            raise EnvFileError(f"{source}:{number}: the value of {key} contains a NUL byte")
        values[key] = value
    return values


def read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"env file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"env file {path} cannot be read: {exc}") from None
    return parse_env_text(text, str(path))


def validate_env(env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not ENV_KEY.fullmatch(key):
            raise InvalidArgument(
                f"env name {key!r} is not allowed: use letters, digits and '_', not starting with a digit"
            )
        if "\x00" in value:
            raise InvalidArgument(f"env value of {key} contains a NUL byte")
    return env


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value

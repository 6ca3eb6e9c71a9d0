"""How large an argument may be, judged on the raw arguments before anything reads them (pure).

The limits are the kernel's and the engines': a command's words and its environment reach a
program through execve(2), which refuses one string over MAX_ARG_STRLEN (128 KiB) and all of them
over ARG_MAX (2 MiB here, shared with the sandbox's own environment); a path over PATH_MAX, or a
name in it over NAME_MAX, cannot be opened. Past them a call would fail late, in a way that says
little ("argument list too long" from inside the sandbox, an OS error in the server). Every other
string, list and map has a bound far above any real use, so that nothing absurd reaches a tool,
and an error never has to repeat megabytes of input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.policy.calls import Decision, deny

KiB = 1024
ONE_ARGUMENT = 128 * KiB - 1
"""One word of a command, one KEY=VALUE of an environment (Linux's MAX_ARG_STRLEN, its NUL off)."""
COMMAND = 1024 * KiB
"""A whole command: its words together."""
ENVIRONMENT = 256 * KiB
"""A whole environment map (its KEY=VALUE strings together)."""
PATH = 4095
"""A path (Linux's PATH_MAX, its NUL off)."""
NAME = 255
"""One name in a path (NAME_MAX)."""
TEXT = 1024 * KiB
"""A Dockerfile given as text."""
OTHER = 4 * KiB
"""Any other string: names, references, tags, sizes, ports."""
ITEMS = 1000
"""Entries in any list or map."""

COMMANDS = frozenset({"command", "prompt"})
ENVIRONMENTS = frozenset({"env", "build_args"})
PATHS = frozenset({"workspace", "workdir", "context", "path"})
TEXTS = frozenset({"dockerfile"})
PATH_LISTS = frozenset({"volumes"})
SETTING_BOUNDED = frozenset({"content"})
"""Bounded by an operator's setting, judged by its own rule (write_file's content: limits.file-size-ceiling)."""


@dataclass(frozen=True, slots=True)
class _Problem:
    argument: str
    problem: str


def oversized(tool: str, arguments: Mapping[str, Any]) -> Decision | None:
    """The refusal of an argument past its limit (arguments.too-large), or None."""
    for name, value in arguments.items():
        found = _judge(name, value)
        if found is not None:
            return deny(
                rule_ids.ARGUMENTS_TOO_LARGE,
                f"{tool}'s argument {found.argument} {found.problem}. Nothing was done",
            )
    return None


def limits() -> dict[str, str]:
    """The limits as describe_policy shows them."""
    return {
        "command, prompt": f"each word at most {ONE_ARGUMENT} bytes, all words at most {COMMAND} bytes",
        "env, build_args": f"each KEY=VALUE at most {ONE_ARGUMENT} bytes, all at most {ENVIRONMENT} bytes",
        "workspace, workdir, context, path, volumes": f"paths of at most {PATH} bytes, each name at most {NAME}",
        "dockerfile": f"at most {TEXT} bytes",
        "content (write_file)": "at most MANYOYO_MAX_WRITE_FILE_BYTES decoded (limits.file-size-ceiling)",
        "other strings": f"at most {OTHER} bytes",
        "lists and maps": f"at most {ITEMS} entries",
    }


def _judge(name: str, value: Any) -> _Problem | None:
    if isinstance(value, list | dict) and len(value) > ITEMS:
        return _Problem(name, f"has {len(value)} entries: at most {ITEMS}")
    if name in COMMANDS:
        return _command(name, value)
    if name in SETTING_BOUNDED:
        return None
    if name in ENVIRONMENTS and isinstance(value, dict):
        return _environment(name, value)
    if name in PATHS and isinstance(value, str):
        return _path(name, value)
    if name in PATH_LISTS and isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := _path(f"{name}[{i}]", v, pair=True))), None)
    limit = TEXT if name in TEXTS else OTHER
    return _strings(name, value, limit)


def _size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def _command(name: str, value: Any) -> _Problem | None:
    words = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    total = 0
    for word in words:
        if not isinstance(word, str):
            continue  # the tool's schema refuses it
        size = _size(word)
        if size > ONE_ARGUMENT:
            return _Problem(name, f"has a word of {size} bytes: at most {ONE_ARGUMENT} (the kernel's limit for one)")
        total += size + 1
    if total > COMMAND:
        return _Problem(name, f"is {total} bytes: at most {COMMAND} in all")
    return None


def _environment(name: str, value: dict[Any, Any]) -> _Problem | None:
    total = 0
    for key, item in value.items():
        if _size(str(key)) > OTHER:
            return _Problem(name, f"has a name of {_size(str(key))} bytes: at most {OTHER}")
        size = _size(f"{key}={item}")
        if size > ONE_ARGUMENT:
            return _Problem(f"{name}[{str(key)[:40]!r}]", f"is {size} bytes: at most {ONE_ARGUMENT} as KEY=VALUE")
        total += size + 1
    if total > ENVIRONMENT:
        return _Problem(name, f"is {total} bytes: at most {ENVIRONMENT} in all")
    return None


def _path(name: str, value: Any, pair: bool = False) -> _Problem | None:
    if not isinstance(value, str):
        return None
    size = _size(value)
    if size > (2 * PATH + 3 if pair else PATH):  # a volume is SOURCE:TARGET[:ro]
        return _Problem(name, f"is a path of {size} bytes: at most {PATH}")
    longest = max((_size(part) for part in value.replace(":", "/").split("/")), default=0)
    if longest > NAME:
        return _Problem(name, f"has a name of {longest} bytes in it: at most {NAME} (the file system's limit)")
    return None


def _strings(name: str, value: Any, limit: int) -> _Problem | None:
    """A string, or the strings in a list or map (keys too), each at most `limit` bytes."""
    if isinstance(value, str):
        size = _size(value)
        return _Problem(name, f"is {size} bytes: at most {limit}") if size > limit else None
    if isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := _strings(f"{name}[{i}]", v, limit))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _size(key) > limit:
                return _Problem(name, f"has a key of {_size(key)} bytes: at most {limit}")
            if found := _strings(f"{name}[{str(key)[:40]!r}]", item, limit):
                return found
    return None

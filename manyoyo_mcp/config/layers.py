"""What every configuration source is read into: the layers of values with their origins, and the
MANYOYO keys of a run profile as this server's fields (config/loader.py merges the layers)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import json5

from manyoyo_mcp.config.env_files import env_file_path
from manyoyo_mcp.config.run_profiles import INTERNAL_FIELDS, MODE_ALIASES, RunProfile, parse_volume
from manyoyo_mcp.config.settings import FILE_ONLY_FIELDS, LIST_FIELDS, ServerSettings
from manyoyo_mcp.errors import ConfigError

USER_FILE = "~/.manyoyo/manyoyo.json"


PROJECT_FILE = ".manyoyo.json"


SERVER_SECTION = "mcp"


DEFAULT = "default"


# MANYOYO key -> RunProfile field. `engine`, `cpus`, `memory`, `pids` are this server's additions.
RUN_KEYS = {info.alias or name: name for name, info in RunProfile.model_fields.items() if name not in INTERNAL_FIELDS}


FIELD_KEYS = {name: key for key, name in RUN_KEYS.items()}


LIST_RUN_FIELDS = frozenset({"env_file", "volumes", "ports"})


# Keys MANYOYO documents that mean nothing here: listed once in a notice, never an error.
MANYOYO_UNUSED = frozenset({"serverUser", "serverPass", "quiet", "imageBuildArgs", "plugins"})


SETTING_KEYS = frozenset(ServerSettings.model_fields) - FILE_ONLY_FIELDS


@dataclass
class RunLayer:
    """One source's run-profile keys: its top-level keys (every profile's defaults, and the
    implicit default profile) and the profiles it defines, each with the file defining it."""

    label: str
    top: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)


@dataclass
class Layers:
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, list[str]] = field(default_factory=dict)
    run_layers: list[RunLayer] = field(default_factory=list)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def put(self, name: str, value: Any, label: str, replace_list: bool = False) -> None:
        if name in LIST_FIELDS and name in self.values and not replace_list:
            self.values[name] = tuple(dict.fromkeys((*self.values[name], *value)))
            self.origins[name].append(label)
        else:
            self.values[name] = tuple(value) if name in LIST_FIELDS else value
            self.origins[name] = [label]

    def current(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return ServerSettings.model_fields[name].get_default(call_default_factory=True)


def read_json5(path: Path) -> dict[str, Any]:
    try:
        data = json5.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON5: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be an object {{...}}")
    return data


def setting_value(key: str, value: Any, path: Path, where: str) -> Any:
    if key in LIST_FIELDS:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {where}: expected a list of strings")
        return tuple(value)
    return value


def run_keys(raw: dict[str, Any], path: Path, where: str, layers: Layers, unused: set[str]) -> dict[str, Any]:
    """MANYOYO keys -> RunProfile fields, normalised (empty strings are unset, as in MANYOYO)."""
    prefix = f"{where}." if where else ""
    run: dict[str, Any] = {}
    for key, value in raw.items():
        if key in MANYOYO_UNUSED:
            unused.add(f"{prefix}{key}")
            continue
        name = RUN_KEYS.get(key)
        if name is None:
            raise unknown_key(path, f"{prefix}{key}", [f"{prefix}{k}" for k in (*RUN_KEYS, *MANYOYO_UNUSED)])
        if value == "" or value is None:
            continue
        if name == "container_mode":
            mode = MODE_ALIASES.get(str(value).strip().lower())
            if mode is None:
                raise ConfigError(
                    f"{path}: {prefix}{key}: {value!r} is not a mode; use dind (d, docker-in-docker), sock (s, "
                    "mount-docker-socket) or common"
                )
            if mode == "common":
                layers.notices.append(
                    f"{path}: {prefix}{key}: common: sandboxes here always have an engine of their own (dind)"
                )
                mode = "dind"
            value = mode
        elif name == "env" and isinstance(value, list):  # MANYOYO's older form: ["KEY=VALUE", ...]
            value = dict(pair(item, path, f"{prefix}{key}") for item in value)
        elif name == "env_file":
            files = [value] if isinstance(value, str) else value
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise ConfigError(f"{path}: {prefix}{key}: expected a list of env file paths")
            value = [str(env_file_path(f, path.parent)) for f in files]
        elif name in ("volumes", "ports") and (
            not isinstance(value, list) or not all(isinstance(item, str) for item in value)
        ):
            raise ConfigError(f"{path}: {prefix}{key}: expected a list of strings")
        elif name == "first" and isinstance(value, dict):
            value = " ".join(str(value[k]) for k in ("shellPrefix", "shell", "shellSuffix") if value.get(k))
        run[name] = value
    return run


def with_grants(run: dict[str, Any], label: str) -> dict[str, Any]:
    """`run`, read from the operator's own file `label`, with its read-only volumes marked as the
    operator's (RunProfile.granted_volumes). Never called for a project file."""
    granted: dict[str, str] = {}
    for spec in run.get("volumes") or ():
        try:
            if isinstance(spec, str) and parse_volume(spec)[2]:
                granted[spec] = label
        except ValueError:
            continue  # RunProfile's validation reports it, naming the file
    return {**run, "granted_volumes": granted} if granted else run


def pair(item: Any, path: Path, where: str) -> tuple[str, str]:
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"{path}: {where}: expected KEY=VALUE strings or a map")
    key, value = item.split("=", 1)
    return key.strip(), value


def as_object(value: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where}: expected an object {{...}}")
    return value


def unknown_key(path: Path, key: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{path}: unknown key {key!r}{hint} (see `manyoyo-mcp config init` for every key)")

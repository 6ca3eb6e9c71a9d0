"""The effective configuration, layered from its sources, with where each value came from.

Sources, lowest first:
  1. built-in defaults
  2. the user file, MANYOYO's own ~/.manyoyo/manyoyo.json (JSON5): top-level MANYOYO keys are
     defaults for every run profile, `runs.<name>` are the profiles, and the `mcp` section holds
     this server's settings (the MANYOYO_* names in lower case) and `agents`
  3. the project file, .manyoyo.json in the project folder: it may only narrow (see PROJECT_*)
  4. MANYOYO_* environment variables
  5. `serve` flags
Merge rules: scalars override; lists append (the first source to give a list replaces the
default; a project file's list replaces, as it may only narrow); env maps merge by key. In a
profile MANYOYO's own order holds: top-level keys < runs.<name> < the project file's keys,
except that the project's env sits below the operator's (RunProfile.project_env).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import json5
from pydantic import ValidationError

from manyoyo_mcp import ownership
from manyoyo_mcp.agents import BUILTIN_AGENTS, AgentSpec, agent_table, resolve_agent
from manyoyo_mcp.credentials import secret_values
from manyoyo_mcp.env_files import env_file_path
from manyoyo_mcp.errors import ConfigError, InvalidArgument
from manyoyo_mcp.limits import parse_memory
from manyoyo_mcp.run_profiles import MODE_ALIASES, RunProfile
from manyoyo_mcp.settings import ENV_PREFIX, FILE_ONLY_FIELDS, LIST_FIELDS, ServerSettings, env_values

USER_FILE = "~/.manyoyo/manyoyo.json"
PROJECT_FILE = ".manyoyo.json"
SERVER_SECTION = "mcp"
DEFAULT = "default"

# MANYOYO key -> RunProfile field. `engine`, `cpus`, `memory`, `pids` are this server's additions.
RUN_KEYS = {info.alias or name: name for name, info in RunProfile.model_fields.items()}
FIELD_KEYS = {name: key for key, name in RUN_KEYS.items()}
LIST_RUN_FIELDS = frozenset({"env_file", "volumes", "ports"})
# Keys MANYOYO documents that mean nothing here: listed once in a notice, never an error.
MANYOYO_UNUSED = frozenset({"serverUser", "serverPass", "quiet", "imageBuildArgs", "plugins"})
SETTING_KEYS = frozenset(ServerSettings.model_fields) - FILE_ONLY_FIELDS
_ORDER_SOCK = ("off", "confirm", "preapproved")
_ORDER_SECRET_ARGS = ("refuse", "warn", "allow")
# What a project file may not set in a profile, and why (it is written where the agent works).
PROJECT_RUN_REFUSED = {
    "volumes": "host folders",
    "ports": "ports published on the host",
    "first": "commands run with the operator's credentials",
    "shell_prefix": "words before the agent's command",
    "shell": "the command run",
    "shell_suffix": "arguments of the agent's command",
}


@dataclass
class LoadedConfig:
    settings: ServerSettings
    origins: dict[str, list[str]] = field(default_factory=dict)
    """Where each value came from: "max_cpus", "runs.claude.yolo", ... -> source labels."""
    notices: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass
class _Layers:
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, list[str]] = field(default_factory=dict)
    run_layers: list[tuple[dict[str, Any], dict[str, dict[str, Any]], str]] = field(default_factory=list)
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


def load_config(
    user_file: str | Path | None = USER_FILE,
    project_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """The effective configuration. `user_file` None skips it; `project_dir` None means the
    current folder (give "" to skip the project file)."""
    environ = dict(os.environ if environ is None else environ)
    layers = _Layers()
    if user_file is not None:
        path = Path(os.path.expanduser(str(user_file)))
        if path.exists():
            _file_layer(layers, path, project=False)
    folder = Path.cwd() if project_dir is None else (Path(project_dir) if str(project_dir) else None)
    if folder is not None and (folder / PROJECT_FILE).exists():
        _file_layer(layers, folder / PROJECT_FILE, project=True)
    for name, value in env_values(environ).items():
        layers.put(name, value, f"env {ENV_PREFIX}{name.upper()}")
    for name, value in (flags or {}).items():
        if value is not None:
            layers.put(name, value, f"flag --{name.replace('_', '-')}")
    return _build(layers)


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


# -- the user file -----------------------------------------------------------------------


def _file_layer(layers: _Layers, path: Path, project: bool) -> None:
    """One configuration file: its profiles (top-level keys and runs) and its `mcp` section. A
    project file's parts pass the narrowing checks."""
    data = read_json5(path)
    label = str(path)
    layers.files.append(label)
    run_keys = _project_run if project else _run_keys
    section = _project_section if project else _server_section
    unused: set[str] = set()
    top: dict[str, Any] = {}
    runs: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key == "runs":
            for name, raw in _object(value, path, "runs").items():
                where = f"runs.{name}"
                runs[name] = run_keys(_object(raw, path, where), path, where, layers, unused)
        elif key == SERVER_SECTION:
            section(_object(value, path, key), path, layers)
        elif key in MANYOYO_UNUSED:
            unused.add(key)
        elif key in RUN_KEYS:
            top.update(run_keys({key: value}, path, "", layers, unused))
        else:
            raise _unknown(path, key, [*RUN_KEYS, "runs", SERVER_SECTION, *MANYOYO_UNUSED])
    if unused:
        layers.notices.append(f"{path}: MANYOYO keys this server does not use (ignored): {', '.join(sorted(unused))}")
    layers.run_layers.append((top, runs, label))


def _server_section(section: dict[str, Any], path: Path, layers: _Layers) -> None:
    for key, value in section.items():
        where = f"{SERVER_SECTION}.{key}"
        if key == "agents":
            for name, spec in _object(value, path, where).items():
                layers.agents[name.lower()] = {**_object(spec, path, f"{where}.{name}"), "_source": str(path)}
        elif key in SETTING_KEYS:
            layers.put(key, _setting_value(key, value, path, where), str(path))
        else:
            raise _unknown(path, where, [f"{SERVER_SECTION}.{k}" for k in (*SETTING_KEYS, "agents")])


def _setting_value(key: str, value: Any, path: Path, where: str) -> Any:
    if key in LIST_FIELDS:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {where}: expected a list of strings")
        return tuple(value)
    return value


# -- the project file --------------------------------------------------------------------


# Settings a project file may set, each with the test that it narrows what the operator allows.
def _not_above(a: Any, b: Any) -> bool:
    return float(a) <= float(b)


def _memory_not_above(a: Any, b: Any) -> bool:
    return parse_memory(str(a)) <= parse_memory(str(b))


def _ordered(order: tuple[str, ...]) -> Callable[[Any, Any], bool]:
    return lambda a, b: a in order and order.index(a) <= order.index(b)


PROJECT_NARROWS: dict[str, Callable[[Any, Any], bool]] = {
    **dict.fromkeys(
        ("max_cpus", "default_cpus", "nested_default_cpus", "max_pids", "default_pids", "nested_default_pids",
         "exec_timeout_s", "max_exec_timeout_s", "output_cap_bytes", "ready_timeout_s", "max_sandboxes",
         "max_nested_containers"),
        _not_above,
    ),
    **dict.fromkeys(("max_memory", "default_memory", "nested_default_memory", "max_build_context"), _memory_not_above),
    "sock_mode": _ordered(_ORDER_SOCK),
    "secret_build_args": _ordered(_ORDER_SECRET_ARGS),
    "default_engine": lambda a, b: True,
    "default_run": lambda a, b: True,
}  # fmt: skip


def _project_run(raw: dict[str, Any], path: Path, where: str, layers: _Layers, unused: set[str]) -> dict[str, Any]:
    run = _run_keys(raw, path, where, layers, unused)
    prefix = f"{where}." if where else ""
    for name, what in PROJECT_RUN_REFUSED.items():
        if run.get(name):
            raise ConfigError(
                f"{path}: {prefix}{FIELD_KEYS[name]}: a project file cannot set {what}; only the operator can, "
                f"in {USER_FILE}"
            )
    if run.get("container_mode") == "sock":
        raise ConfigError(
            f"{path}: {prefix}containerMode: a project file cannot enable sock mode (the host's engine socket is "
            f"root on the host); only the operator can, in {USER_FILE}"
        )
    folder = path.parent.resolve()
    for env_file in run.get("env_file", ()):
        if not Path(env_file).resolve().is_relative_to(folder):
            raise ConfigError(
                f"{path}: {prefix}envFile: {env_file} is outside the project folder; a project file may only "
                "name env files inside the project"
            )
    # Below the operator's variables: a project may add variables, never replace the operator's.
    renamed = {"env": "project_env", "env_file": "project_env_file"}
    return {renamed.get(name, name): value for name, value in run.items()}


def _project_section(section: dict[str, Any], path: Path, layers: _Layers) -> None:
    for name, given in section.items():
        _project_setting(layers, path, name, given)


def _project_setting(layers: _Layers, path: Path, name: str, given: Any) -> None:
    where = f"{SERVER_SECTION}.{name}"
    if name == "allowed_host_roots":
        roots = [Path(os.path.expanduser(r)) for r in _setting_value(name, given, path, where)]
        resolved = [str((r if r.is_absolute() else path.parent / r).resolve()) for r in roots]
        allowed = [str(Path(r).resolve()) for r in layers.current(name)]
        for root in resolved:
            if not any(Path(root).is_relative_to(a) for a in allowed):
                raise ConfigError(
                    f"{path}: {where}: {root} is outside the operator's allowed roots ({', '.join(allowed)}); "
                    "a project file may only narrow them"
                )
        layers.put(name, resolved, str(path), replace_list=True)
        return
    narrows = PROJECT_NARROWS.get(name)
    if narrows is None:
        if name in SETTING_KEYS or name == "agents":
            raise ConfigError(
                f"{path}: {where}: only the operator sets this ({USER_FILE}, {ENV_PREFIX}{name.upper()} or a serve "
                f"flag); a project file may set: {', '.join(sorted([*PROJECT_NARROWS, 'allowed_host_roots']))}"
            )
        raise _unknown(path, where, [f"{SERVER_SECTION}.{k}" for k in (*PROJECT_NARROWS, "allowed_host_roots")])
    current = layers.current(name)
    try:
        narrower = current is None or narrows(given, current)
    except (TypeError, ValueError, InvalidArgument):
        raise ConfigError(f"{path}: {where}: {given!r} is not a valid value") from None
    if not narrower:
        raise ConfigError(
            f"{path}: {where}: {given!r} would widen the operator's {current!r}; a project file may only narrow it"
        )
    layers.put(name, given, str(path))


# -- run profiles ------------------------------------------------------------------------


def _run_keys(raw: dict[str, Any], path: Path, where: str, layers: _Layers, unused: set[str]) -> dict[str, Any]:
    """MANYOYO keys -> RunProfile fields, normalised (empty strings are unset, as in MANYOYO)."""
    prefix = f"{where}." if where else ""
    run: dict[str, Any] = {}
    for key, value in raw.items():
        if key in MANYOYO_UNUSED:
            unused.add(f"{prefix}{key}")
            continue
        name = RUN_KEYS.get(key)
        if name is None:
            raise _unknown(path, f"{prefix}{key}", [f"{prefix}{k}" for k in (*RUN_KEYS, *MANYOYO_UNUSED)])
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
            value = dict(_pair(item, path, f"{prefix}{key}") for item in value)
        elif name == "env_file":
            files = [value] if isinstance(value, str) else value
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise ConfigError(f"{path}: {prefix}{key}: expected a list of env file paths")
            value = [str(env_file_path(f, path.parent)) for f in files]
        elif name == "first" and isinstance(value, dict):
            value = " ".join(str(value[k]) for k in ("shellPrefix", "shell", "shellSuffix") if value.get(k))
        run[name] = value
    return run


def _pair(item: Any, path: Path, where: str) -> tuple[str, str]:
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"{path}: {where}: expected KEY=VALUE strings or a map")
    key, value = item.split("=", 1)
    return key.strip(), value


def _merge_run(layers: list[tuple[dict[str, Any], str]]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    merged: dict[str, Any] = {}
    origins: dict[str, list[str]] = {}
    for run, label in layers:
        for name, value in run.items():
            if name in LIST_RUN_FIELDS:
                merged[name] = [*merged.get(name, []), *value]
                origins[name] = list(dict.fromkeys([*origins.get(name, []), label]))
            elif name in ("env", "project_env"):
                merged[name] = {**merged.get(name, {}), **value}
                for key in value:
                    origins[f"env.{key}"] = [label]
            else:
                merged[name] = value
                origins[name] = [label]
    return merged, origins


# -- the whole ---------------------------------------------------------------------------


def _build(layers: _Layers) -> LoadedConfig:
    origins: dict[str, list[str]] = {}
    agents = _agents(layers, origins)
    table = agent_table(agents)
    allowed_images = (
        layers.current("sandbox_image"),
        *layers.current("extra_sandbox_images"),
    )
    runs: dict[str, RunProfile] = {}
    names = dict.fromkeys(name for _, profiles, _ in layers.run_layers for name in profiles)
    for name in names:
        parts = [
            part
            for top, profiles, label in layers.run_layers
            for part in ((top, label), (profiles.get(name, {}), label))
        ]
        merged, run_origins = _merge_run(parts)
        where = f"runs.{name}"
        try:
            profile = RunProfile.model_validate(merged)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            raise ConfigError(_validation_text(exc, _origin(run_origins, field), where)) from None
        profile = _checked_profile(name, profile, table, allowed_images, run_origins, layers.notices)
        runs[name] = profile
        origins.update({f"{where}.{key}": value for key, value in run_origins.items()})
    default_run = layers.current("default_run")
    if default_run is not None and default_run not in runs:
        source = layers.origins["default_run"][-1]
        raise ConfigError(f"{source}: default_run {default_run!r} is not a run profile; profiles: {_names(runs)}")
    try:
        settings = ServerSettings.model_validate({**layers.values, "runs": runs, "agents": agents})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))} ({', '.join(layers.origins.get(str(e['loc'][0]), [DEFAULT]))}): {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    for name in ServerSettings.model_fields.keys() - FILE_ONLY_FIELDS:
        origins[name] = layers.origins.get(name, [DEFAULT])
    return LoadedConfig(settings, origins, layers.notices, layers.files)


def _agents(layers: _Layers, origins: dict[str, list[str]]) -> dict[str, AgentSpec]:
    agents: dict[str, AgentSpec] = {}
    for name, given in layers.agents.items():
        source = given.pop("_source")
        base = BUILTIN_AGENTS[name].model_dump() if name in BUILTIN_AGENTS else {}
        try:
            agents[name] = AgentSpec.model_validate({**base, **given})
        except ValidationError as exc:
            raise ConfigError(_validation_text(exc, source, f"{SERVER_SECTION}.agents.{name}")) from None
        origins[f"agents.{name}"] = [source]
    return agents


def _checked_profile(
    name: str,
    profile: RunProfile,
    table: dict[str, AgentSpec],
    allowed_images: tuple[str, ...],
    origins: dict[str, list[str]],
    notices: list[str],
) -> RunProfile:
    where = f"runs.{name}"
    if profile.yolo is not None:
        try:
            resolve_agent(profile.yolo, table)
        except InvalidArgument as exc:
            raise ConfigError(f"{_origin(origins, 'yolo')}: {where}.yolo: {exc}") from None
    sandbox = profile.sandbox_name()
    if sandbox is not None and not ownership.SANDBOX_NAME.fullmatch(sandbox):
        if ownership.SANDBOX_NAME.fullmatch(sandbox.lower()):
            notices.append(
                f"{where}.containerName: sandbox names are lower case; {profile.container_name.lower()!r} is used"
            )
            profile = profile.model_copy(update={"container_name": profile.container_name.lower()})
        else:
            raise ConfigError(
                f"{_origin(origins, 'container_name')}: {where}.containerName: {ownership.SANDBOX_NAME_RULE}"
            )
    image = profile.image()
    if image is not None and image not in allowed_images:
        notices.append(
            f"{where}: image {image} is not a sandbox image of this server (it needs its entrypoint); the profile "
            f"uses {allowed_images[0]}. To use it, list it in mcp.extra_sandbox_images"
        )
        profile = profile.model_copy(update={"image_name": None, "image_version": None})
    return profile


def profile_secrets(settings: ServerSettings) -> tuple[set[str], list[str]]:
    """(values of every profile's secret-named variables, to mask everywhere; problems with env files).

    A missing or broken env file does not stop the server (a MANYOYO file may name env files of
    another machine): it is reported here, and launching that profile fails with the same message.
    """
    found: set[str] = set()
    problems: list[str] = []
    for name, profile in settings.runs.items():
        try:
            found |= secret_values(profile.environment())
        except InvalidArgument as exc:
            problems.append(f"runs.{name}: {exc}")
    return found, problems


def _origin(origins: dict[str, list[str]], field: str) -> str:
    """The file that gave a profile's field its value (the last one, for appended lists)."""
    return origins.get(field, [DEFAULT])[-1]


def _object(value: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where}: expected an object {{...}}")
    return value


def _unknown(path: Path, key: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{path}: unknown key {key!r}{hint} (see `manyoyo-mcp config init` for every key)")


def _validation_text(exc: ValidationError, source: str, where: str) -> str:
    def key(loc: tuple[Any, ...]) -> str:
        return ".".join(str(FIELD_KEYS.get(str(part), part)) for part in loc)

    problems = "; ".join(f"{where}.{key(e['loc'])}: {e['msg']}" for e in exc.errors())
    return f"{source}: {problems}"


def _names(runs: Mapping[str, Any]) -> str:
    return ", ".join(runs) or "none"

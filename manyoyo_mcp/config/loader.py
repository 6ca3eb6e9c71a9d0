"""The effective configuration, layered from its sources, with where each value came from.

Sources, lowest first:
  1. built-in defaults
  2. the user file, MANYOYO's own ~/.manyoyo/manyoyo.json (JSON5): top-level MANYOYO keys are
     defaults for every run profile, `runs.<name>` are the profiles, and the `mcp` section holds
     this server's settings (the MANYOYO_* names in lower case) and `agents`; beside it, the
     `run` folder's `<name>.json` files are profiles too (run_files.py; a name defined in both
     places is an error naming both files)
  3. the project file, .manyoyo.json in the project folder: it may only narrow (see PROJECT_*)
  4. MANYOYO_* environment variables
  5. `serve` flags
Merge rules: scalars override; lists append (the first source to give a list replaces the
default; a project file's list replaces, as it may only narrow); env maps merge by key. In a
profile MANYOYO's own order holds: top-level keys < runs.<name> (or run/<name>.json) < the
project file's keys, except that the project's env sits below the operator's
(RunProfile.project_env). The top-level keys of the user and project files, merged the same
way, are also a profile of their own: the implicit default (ServerSettings.implicit_run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from manyoyo_mcp.config.agents import BUILTIN_AGENTS, AgentSpec, agent_table, resolve_agent
from manyoyo_mcp.config.layers import (
    DEFAULT,
    FIELD_KEYS,
    LIST_RUN_FIELDS,
    MANYOYO_UNUSED,
    PROJECT_FILE,
    RUN_KEYS,
    SERVER_SECTION,
    SETTING_KEYS,
    USER_FILE,
    Layers,
    RunLayer,
    as_object,
    read_json5,
    run_keys,
    setting_value,
    unknown_key,
    with_grants,
)
from manyoyo_mcp.config.project import project_run, project_section
from manyoyo_mcp.config.run_files import read_run_file, run_dir, run_files
from manyoyo_mcp.config.run_profiles import (
    IMPLICIT_RUN,
    SANDBOX_NAME,
    SANDBOX_NAME_RULE,
    RunProfile,
    looks_like_path,
    profile_where,
)
from manyoyo_mcp.config.settings import ENV_PREFIX, FILE_ONLY_FIELDS, ServerSettings, env_values
from manyoyo_mcp.credentials import secret_values
from manyoyo_mcp.errors import ConfigError, InvalidArgument


@dataclass
class LoadedConfig:
    settings: ServerSettings
    origins: dict[str, list[str]] = field(default_factory=dict)
    """Where each value came from: "max_cpus", "runs.claude.yolo", ... -> source labels."""
    notices: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    defined_in: dict[str, list[str]] = field(default_factory=dict)
    """The files defining each run profile (runs.<name>, run/<name>.json); for the implicit
    default (IMPLICIT_RUN), the files whose top-level keys make it."""


def load_config(
    user_file: str | Path | None = USER_FILE,
    project_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """The effective configuration. `user_file` None skips it and its run folder; `project_dir`
    None means the current folder (give "" to skip the project file)."""
    environ = dict(os.environ if environ is None else environ)
    layers = Layers()
    if user_file is not None:
        _user_layer(layers, Path(os.path.expanduser(str(user_file))))
    folder = Path.cwd() if project_dir is None else (Path(project_dir) if str(project_dir) else None)
    if folder is not None and (folder / PROJECT_FILE).exists():
        layers.run_layers.append(_file_layer(layers, folder / PROJECT_FILE, project=True))
    for name, value in env_values(environ).items():
        layers.put(name, value, f"env {ENV_PREFIX}{name.upper()}")
    for name, value in (flags or {}).items():
        if value is not None:
            layers.put(name, value, f"flag --{name.replace('_', '-')}")
    return _build(layers)


# -- the user file and its run folder ----------------------------------------------------


def _user_layer(layers: Layers, path: Path) -> None:
    """The user file (if it exists) and the run profile files beside it (run_files.py)."""
    layer = _file_layer(layers, path, project=False) if path.exists() else RunLayer(str(path))
    for name, file in run_files(run_dir(path)):
        if name in layer.runs:
            raise ConfigError(
                f"run profile {name!r} is defined twice: as runs.{name} in {path} and as {file}; keep one of them"
            )
        layers.files.append(str(file))
        unused: set[str] = set()
        layer.runs[name] = (read_run_file(file, layers, unused), str(file))
        _notice_unused(layers, file, unused)
    layers.run_layers.append(layer)


def _file_layer(layers: Layers, path: Path, project: bool) -> RunLayer:
    """One configuration file: its profiles (top-level keys and runs) and its `mcp` section. A
    project file's parts pass the narrowing checks; the user file's read-only volumes are the
    operator's grants (with_grants)."""
    data = read_json5(path)
    label = str(path)
    layers.files.append(label)
    read_run = project_run if project else run_keys
    section = project_section if project else _server_section
    unused: set[str] = set()
    layer = RunLayer(label)
    for key, value in data.items():
        if key == "runs":
            for name, raw in as_object(value, path, "runs").items():
                where = f"runs.{name}"
                run = read_run(as_object(raw, path, where), path, where, layers, unused)
                layer.runs[name] = (run if project else with_grants(run, label), label)
        elif key == SERVER_SECTION:
            section(as_object(value, path, key), path, layers)
        elif key in MANYOYO_UNUSED:
            unused.add(key)
        elif key in RUN_KEYS:
            layer.top.update(read_run({key: value}, path, "", layers, unused))
        else:
            raise unknown_key(path, key, [*RUN_KEYS, "runs", SERVER_SECTION, *MANYOYO_UNUSED])
    if not project:
        layer.top = with_grants(layer.top, label)
    _notice_unused(layers, path, unused)
    return layer


def _notice_unused(layers: Layers, path: Path, unused: set[str]) -> None:
    if unused:
        layers.notices.append(f"{path}: MANYOYO keys this server does not use (ignored): {', '.join(sorted(unused))}")


def _server_section(section: dict[str, Any], path: Path, layers: Layers) -> None:
    for key, value in section.items():
        where = f"{SERVER_SECTION}.{key}"
        if key == "agents":
            for name, spec in as_object(value, path, where).items():
                layers.agents[name.lower()] = {**as_object(spec, path, f"{where}.{name}"), "_source": str(path)}
        elif key in SETTING_KEYS:
            layers.put(key, setting_value(key, value, path, where), str(path))
        else:
            raise unknown_key(path, where, [f"{SERVER_SECTION}.{k}" for k in (*SETTING_KEYS, "agents")])


# -- the project file --------------------------------------------------------------------


# -- run profiles ------------------------------------------------------------------------


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
            elif name == "granted_volumes":
                merged[name] = {**merged.get(name, {}), **value}
            else:
                merged[name] = value
                origins[name] = [label]
    return merged, origins


# -- the whole ---------------------------------------------------------------------------


def _build(layers: Layers) -> LoadedConfig:
    origins: dict[str, list[str]] = {}
    agents = _agents(layers, origins)
    table = agent_table(agents)
    allowed_images = (
        layers.current("sandbox_image"),
        *layers.current("extra_sandbox_images"),
    )
    defined_in: dict[str, list[str]] = {}
    # The implicit default first: a broken top-level key is reported as one, not as a profile's.
    implicit_parts = [(layer.top, layer.label) for layer in layers.run_layers if layer.top]
    implicit = None
    if implicit_parts:
        implicit = _profile(IMPLICIT_RUN, implicit_parts, table, allowed_images, origins, layers.notices)
        defined_in[IMPLICIT_RUN] = [label for _, label in implicit_parts]
    runs: dict[str, RunProfile] = {}
    for name in dict.fromkeys(name for layer in layers.run_layers for name in layer.runs):
        defined_in[name] = [layer.runs[name][1] for layer in layers.run_layers if name in layer.runs]
        if name == IMPLICIT_RUN:
            raise ConfigError(f"{defined_in[name][0]}: {IMPLICIT_RUN!r} is a reserved name; name the profile otherwise")
        parts = [
            part
            for layer in layers.run_layers
            for part in ((layer.top, layer.label), layer.runs.get(name, ({}, layer.label)))
        ]
        runs[name] = _profile(name, parts, table, allowed_images, origins, layers.notices)
    default_run = layers.current("default_run")
    if default_run is not None and default_run not in runs:
        source = layers.origins["default_run"][-1]
        hint = (
            "; a project's .manyoyo.json is read from the project folder (serve --project DIR), not named as a profile"
            if looks_like_path(default_run)
            else ""
        )
        raise ConfigError(f"{source}: default_run {default_run!r} is not a run profile; profiles: {_names(runs)}{hint}")
    try:
        settings = ServerSettings.model_validate(
            {**layers.values, "runs": runs, "implicit_run": implicit, "agents": agents}
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))} ({', '.join(layers.origins.get(str(e['loc'][0]), [DEFAULT]))}): {e['msg']}"
            if e["loc"]
            else e["msg"]  # a check across settings (its message names them)
            for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    for name in ServerSettings.model_fields.keys() - FILE_ONLY_FIELDS:
        origins[name] = layers.origins.get(name, [DEFAULT])
    return LoadedConfig(settings, origins, layers.notices, layers.files, defined_in)


def _profile(
    name: str,
    parts: list[tuple[dict[str, Any], str]],
    table: dict[str, AgentSpec],
    allowed_images: tuple[str, ...],
    origins: dict[str, list[str]],
    notices: list[str],
) -> RunProfile:
    """The profile `name`, merged from its parts (lowest first) and validated; its values'
    origins go into `origins` as runs.<name>.<field>."""
    merged, run_origins = _merge_run(parts)
    where = "" if name == IMPLICIT_RUN else f"runs.{name}"
    try:
        profile = RunProfile.model_validate(merged)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise ConfigError(_validation_text(exc, _origin(run_origins, field), where)) from None
    profile = _checked_profile(name, profile, table, allowed_images, run_origins, notices)
    origins.update({f"runs.{name}.{key}": value for key, value in run_origins.items()})
    return profile


def _agents(layers: Layers, origins: dict[str, list[str]]) -> dict[str, AgentSpec]:
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
    where = "" if name == IMPLICIT_RUN else f"runs.{name}."
    if profile.yolo is not None:
        try:
            resolve_agent(profile.yolo, table)
        except InvalidArgument as exc:
            raise ConfigError(f"{_origin(origins, 'yolo')}: {where}yolo: {exc}") from None
    sandbox = profile.sandbox_name()
    if sandbox is not None and not SANDBOX_NAME.fullmatch(sandbox):
        if SANDBOX_NAME.fullmatch(sandbox.lower()):
            notices.append(
                f"{where}containerName: sandbox names are lower case; {profile.container_name.lower()!r} is used"
            )
            profile = profile.model_copy(update={"container_name": profile.container_name.lower()})
        else:
            raise ConfigError(f"{_origin(origins, 'container_name')}: {where}containerName: {SANDBOX_NAME_RULE}")
    image = profile.image()
    if image is not None and image not in allowed_images:
        notices.append(
            f"{profile_where(name)}: image {image} is not a sandbox image of this server (it needs its entrypoint); "
            f"the profile uses {allowed_images[0]}. To use it, list it in mcp.extra_sandbox_images"
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
    for name, profile in settings.profiles().items():
        try:
            found |= secret_values(profile.environment())
        except InvalidArgument as exc:
            problems.append(f"{profile_where(name)}: {exc}")
    return found, problems


def _origin(origins: dict[str, list[str]], field: str) -> str:
    """The file that gave a profile's field its value (the last one, for appended lists)."""
    return origins.get(field, [DEFAULT])[-1]


def _validation_text(exc: ValidationError, source: str, where: str) -> str:
    def key(loc: tuple[Any, ...]) -> str:
        return ".".join(str(FIELD_KEYS.get(str(part), part)) for part in loc)

    prefix = f"{where}." if where else ""
    problems = "; ".join(f"{prefix}{key(e['loc'])}: {e['msg']}" for e in exc.errors())
    return f"{source}: {problems}"


def _names(runs: Mapping[str, Any]) -> str:
    return ", ".join(runs) or "none"

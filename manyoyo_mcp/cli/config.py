"""`manyoyo-mcp config show | validate | init` and `manyoyo-mcp profiles`: what an operator reads."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from manyoyo_mcp.config.agents import agent_table
from manyoyo_mcp.config.env_files import read_env_file
from manyoyo_mcp.config.layers import USER_FILE
from manyoyo_mcp.config.loader import (
    DEFAULT,
    PROJECT_FILE,
    RUN_KEYS,
    LoadedConfig,
    profile_secrets,
)
from manyoyo_mcp.config.run_files import RUN_DIR
from manyoyo_mcp.config.run_profiles import IMPLICIT_RUN, INTERNAL_FIELDS, RunProfile
from manyoyo_mcp.config.settings import FILE_ONLY_FIELDS, ServerSettings
from manyoyo_mcp.credentials import is_secret_name
from manyoyo_mcp.errors import ManyoyoError

MASK = "****** (masked)"
Loader = Callable[..., LoadedConfig]


def config_command(args: argparse.Namespace, load: Loader) -> int:
    if args.config_command == "show":
        return show(load(args), args.json)
    if args.config_command == "validate":
        return validate(args.file, load, args)
    return init(Path(os.path.expanduser(args.path)), args.force)


def effective(loaded: LoadedConfig) -> dict[str, Any]:
    """Every setting and profile value with its sources; secret values masked."""
    settings = loaded.settings
    data = settings.model_dump(mode="json", exclude=set(FILE_ONLY_FIELDS))
    out: dict[str, Any] = {
        "files": loaded.files,
        "settings": {name: {"value": data[name], "from": loaded.origins.get(name, [DEFAULT])} for name in sorted(data)},
        "runs": {},
        "defined_in": {name: loaded.defined_in.get(name, []) for name in settings.profiles()},
        "used_when_none_is_named": settings.run_profile(None)[0],
        "agents": {},
        "notices": loaded.notices,
    }
    for name, profile in settings.profiles().items():
        values: dict[str, Any] = {}
        for key, value in profile.model_dump(mode="json", by_alias=True, exclude_defaults=True).items():
            if key not in ("env", *INTERNAL_FIELDS):
                values[key] = {"value": value, "from": loaded.origins.get(f"runs.{name}.{RUN_KEYS[key]}", [])}
        environment: dict[str, Any] = {}
        for path in (*profile.project_env_file, *profile.env_file):
            try:
                for var, value in read_env_file(Path(path)).items():
                    environment[var] = {"value": MASK if is_secret_name(var) else value, "from": [path]}
            except ManyoyoError as exc:
                environment[f"! {path}"] = {"value": str(exc), "from": [path]}
        for var, value in {**profile.project_env, **profile.env}.items():
            source = loaded.origins.get(f"runs.{name}.env.{var}", [])
            environment[var] = {"value": MASK if is_secret_name(var) else value, "from": source}
        values["environment"] = environment
        out["runs"][name] = values
    for name, spec in agent_table(settings.agents).items():
        out["agents"][name] = {
            **spec.model_dump(mode="json"),
            "env": {k: MASK if is_secret_name(k) else v for k, v in spec.env.items()},
            "from": loaded.origins.get(f"agents.{name}", ["built-in"]),
        }
    return out


def show(loaded: LoadedConfig, as_json: bool) -> int:
    view = effective(loaded)
    if as_json:
        print(json.dumps(view, indent=1))
        return 0
    print(f"# files read: {', '.join(view['files']) or 'none'}")
    for name, item in view["settings"].items():
        print(f"{name} = {json.dumps(item['value'])}    # {', '.join(item['from'])}")
    for run, values in view["runs"].items():
        heading = "top-level keys: the implicit default profile" if run == IMPLICIT_RUN else f"runs.{run}"
        print(f"\n[{heading}]    # {', '.join(view['defined_in'][run])}")
        for key, item in values.items():
            if key == "environment":
                for var, env in item.items():
                    print(f"  env {var} = {_plain(env['value'])}    # {', '.join(env['from'])}")
            else:
                print(f"  {key} = {json.dumps(item['value'])}    # {', '.join(item['from'])}")
    print("\n[agents]")
    for name, spec in view["agents"].items():
        print(f"  {name} ({', '.join(spec['aliases'])}): {' '.join(spec['headless'])}    # {', '.join(spec['from'])}")
    print(f"\nprofile used when a call names none: {_when_none(loaded.settings)}")
    for notice in view["notices"]:
        print(f"\nnotice: {notice}")
    return 0


def _when_none(settings: ServerSettings) -> str:
    name, _ = settings.run_profile(None)
    if name is None:
        return "none (the server's defaults)"
    if name == IMPLICIT_RUN:
        return f"{IMPLICIT_RUN}, the top-level keys of the configuration files (no default_run is set)"
    return f"{name} (default_run)"


def _plain(value: str) -> str:
    return value if value == MASK else json.dumps(value)


def validate(file: str | None, load: Loader, args: argparse.Namespace) -> int:
    shown = None
    if file is not None:
        path = Path(os.path.expanduser(file))
        if not path.is_file():
            raise ManyoyoError(f"{path} is not a file")
        if path.name == PROJECT_FILE:  # judged against the operator's own file, as serve would
            args.project = str(path.parent)
        elif path.parent.name == RUN_DIR and path.suffix == ".json":  # a run profile file, with its user file
            args.config, args.project = str(path.parent.parent / "manyoyo.json"), ""
        else:
            args.config, args.project = str(path), ""
        shown = str(path)
    loaded = load(args)
    shown = shown or ", ".join(loaded.files) or "no files (built-in defaults)"
    _, problems = profile_secrets(loaded.settings)
    for notice in loaded.notices:
        print(f"notice: {notice}")
    for problem in problems:
        print(f"error: {problem}")
    if problems:
        return 1
    runs = ", ".join(loaded.settings.runs) or "none"
    print(f"ok: {shown} (run profiles: {runs})")
    print(f"profile used when a call names none: {_when_none(loaded.settings)}")
    implicit = loaded.settings.implicit_run
    if implicit is not None:
        print(f"  {IMPLICIT_RUN} sets: {_summary(implicit)}")
    return 0


def _summary(profile: RunProfile) -> str:
    """The keys a profile sets, with env variable names (never their values)."""
    keys = [
        key
        for key in profile.model_dump(by_alias=True, exclude_defaults=True)
        if key not in ("env", "envFile", *INTERNAL_FIELDS)
    ]
    names = sorted({*profile.env, *profile.project_env})
    files = [*profile.env_file, *profile.project_env_file]
    return ", ".join(
        [*keys, *([f"env {' '.join(names)}"] if names else []), *([f"envFile {' '.join(files)}"] if files else [])]
    )


def init(path: Path, force: bool) -> int:
    if path.exists() and not force:
        raise ManyoyoError(
            f"{path} exists; nothing was written. Add an `mcp` section to it by hand (see `manyoyo-mcp config init "
            "--path /tmp/example.json` for one), or pass --force to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(resources.files("manyoyo_mcp.config").joinpath("manyoyo.example.json5").read_text(encoding="utf-8"))
    print(f"wrote {path}; check it with: manyoyo-mcp config validate {path}")
    return 0


def profiles_command(loaded: LoadedConfig, as_json: bool) -> int:
    settings = loaded.settings
    table = agent_table(settings.agents)
    used, _ = settings.run_profile(None)
    runs = {
        name: {
            "agent": p.yolo,
            "mode": p.container_mode or "dind",
            "engine": p.engine or settings.default_engine,
            "workspace": p.host_path,
            "env_files": list(p.env_file),
            "default": name == used,
            "from": loaded.defined_in.get(name, []),
        }
        for name, p in settings.profiles().items()
    }
    agents = {name: {"aliases": list(s.aliases), "command": list(s.command), "headless": list(s.headless),
                     "resume": list(s.resume)} for name, s in table.items()}  # fmt: skip
    if as_json:
        print(json.dumps({"runs": runs, "agents": agents}, indent=1))
        return 0
    print(
        "run profiles:"
        if runs
        else f"run profiles: none (add them under `runs` in {USER_FILE}, or as {RUN_DIR}/<name>.json beside it)"
    )
    for name, run in runs.items():
        mark = " (default)" if run["default"] else ""
        print(f"  {name}{mark}: agent {run['agent'] or '-'}, {run['mode']}, {run['engine']}, "
              f"workspace {run['workspace'] or '-'}, env files {', '.join(run['env_files']) or '-'}")  # fmt: skip
        print(f"      from: {', '.join(run['from']) or '-'}")
    print("agents:")
    for name, agent in agents.items():
        print(f"  {name} ({', '.join(agent['aliases']) or '-'}): {' '.join(agent['command'])}")
        print(f"      headless: {' '.join(agent['headless'])}    resume: {' '.join(agent['resume']) or '-'}")
    return 0

"""The project file (.manyoyo.json): it lives in the repository the agent edits, so it may only
narrow what the operator allows. Each setting it may set comes with the test that it narrows."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from manyoyo_mcp.config.layers import (
    FIELD_KEYS,
    SERVER_SECTION,
    SETTING_KEYS,
    USER_FILE,
    Layers,
    run_keys,
    setting_value,
    unknown_key,
)
from manyoyo_mcp.config.run_files import RUN_DIR
from manyoyo_mcp.config.settings import ENV_PREFIX
from manyoyo_mcp.egress import MODES
from manyoyo_mcp.errors import ConfigError, InvalidArgument
from manyoyo_mcp.limits import parse_memory

_ORDER_SOCK = ("off", "confirm", "preapproved")


_ORDER_SECRET_ARGS = ("refuse", "warn", "allow")


# What a project file may not set in a profile, and why (it is written where the agent works).
PROJECT_RUN_REFUSED = {
    "volumes": "host folders (a credential folder is mounted only as the operator's read-only grant)",
    "ports": "ports published on the host",
    "first": "commands run with the operator's credentials",
    "shell_prefix": "words before the agent's command",
    "shell": "the command run",
    "shell_suffix": "arguments of the agent's command",
}


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
    # Resources: a ceiling the operator leaves to the host (None) is the lower of the two, so any
    # value a project sets there narrows it; shares only go down.
    **dict.fromkeys(("max_total_cpus", "max_total_pids", "host_cpu_share", "host_pid_share", "total_cpu_share",
                     "total_memory_share", "total_pid_share", "total_disk_share"), _not_above),
    **dict.fromkeys(("default_disk", "max_disk", "max_total_memory", "max_total_disk"), _memory_not_above),
    "disk_quota": _ordered(("required", "if-possible", "off")),
    "sock_mode": _ordered(_ORDER_SOCK),
    "secret_build_args": _ordered(_ORDER_SECRET_ARGS),
    # A sandbox's egress, none < allowlist < public (the default must stay within the ceiling).
    "network_ceiling": _ordered(MODES),
    "network_default": _ordered(MODES),
    "default_engine": lambda a, b: True,
    "default_run": lambda a, b: True,
}  # fmt: skip


def project_run(raw: dict[str, Any], path: Path, where: str, layers: Layers, unused: set[str]) -> dict[str, Any]:
    run = run_keys(raw, path, where, layers, unused)
    prefix = f"{where}." if where else ""
    for name, what in PROJECT_RUN_REFUSED.items():
        if run.get(name):
            raise ConfigError(
                f"{path}: {prefix}{FIELD_KEYS[name]}: a project file cannot set {what}; only the operator can, "
                f"in {USER_FILE} or {RUN_DIR}/<name>.json beside it"
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


def project_section(section: dict[str, Any], path: Path, layers: Layers) -> None:
    for name, given in section.items():
        _project_setting(layers, path, name, given)


def _project_setting(layers: Layers, path: Path, name: str, given: Any) -> None:
    where = f"{SERVER_SECTION}.{name}"
    if name == "allowed_host_roots":
        roots = [Path(os.path.expanduser(r)) for r in setting_value(name, given, path, where)]
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
        raise unknown_key(path, where, [f"{SERVER_SECTION}.{k}" for k in (*PROJECT_NARROWS, "allowed_host_roots")])
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

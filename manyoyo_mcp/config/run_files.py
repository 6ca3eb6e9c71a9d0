"""MANYOYO's run profile files: `<name>.json` in the `run` folder beside the user file.

`~/.manyoyo/run/dind.json` is the run profile `dind` (`manyoyo -r dind` reads it), beside the
profiles under `runs` in `~/.manyoyo/manyoyo.json`. The folder follows the user file: with
`--config /etc/manyoyo/team.json5` it is `/etc/manyoyo/run/`. A file holds one profile's MANYOYO
keys (JSON5, like the user file) and is the operator's own, like the user file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from manyoyo_mcp.config.layers import SERVER_SECTION, Layers, read_json5, run_keys, with_grants
from manyoyo_mcp.errors import ConfigError

RUN_DIR = "run"


def run_dir(user_file: Path) -> Path:
    """The folder of run profile files that belongs to `user_file`."""
    return user_file.parent / RUN_DIR


def run_files(folder: Path) -> list[tuple[str, Path]]:
    """(profile name, file) of every `<name>.json` in `folder`, by name. Names starting with '.'
    (editors' lock and swap files) and folders are skipped."""
    if not folder.is_dir():
        return []
    found = [(p.stem, p) for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    return sorted((name, path) for name, path in found if not path.is_dir())


def read_run_file(path: Path, layers: Layers, unused: set[str]) -> dict[str, Any]:
    """One run profile file as RunProfile fields, its read-only volumes granted (with_grants)."""
    data = read_json5(path)
    for key in ("runs", SERVER_SECTION):
        if key in data:
            raise ConfigError(
                f"{path}: {key}: a run profile file holds one profile's keys (its name is the file's name); "
                f"`runs` and `{SERVER_SECTION}` belong in the user file beside the {RUN_DIR} folder"
            )
    return with_grants(run_keys(data, path, "", layers, unused), str(path))

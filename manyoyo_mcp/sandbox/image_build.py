"""Building the sandbox image shipped with the package (sandbox/image/).

The build context is assembled in a temporary folder: the package's image files, plus the
operator's extra certificate authorities (by default the ones this host added to its own trust
store, Debian's /usr/local/share/ca-certificates), so that behind a TLS-intercepting proxy the
build's downloads and, later, the sandboxes' own (npm, pip, git, curl, the nested engines' pulls)
trust what the host trusts.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import EngineFailure, ImageMissing, InvalidArgument

DEFAULT_BASE = "debian:trixie-slim"
OFFLINE_BASE = "manyoyo-base:trixie"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
# The agents' CLIs, pinned (npm). `--agents none` builds without them; names pick some.
AGENT_PACKAGES: dict[str, str] = {
    "claude": "@anthropic-ai/claude-code@2.1.332",
    "codex": "@openai/codex@0.171.0",
    "gemini": "@google/gemini-cli@0.61.0",
    "opencode": "opencode-ai@1.18.33",
}


def image_files() -> Path:
    """The package's folder holding the sandbox Dockerfile and the files it copies."""
    return Path(str(resources.files("manyoyo_mcp.sandbox") / "image"))


def certificate_files(given: Iterable[str] | None) -> list[Path]:
    """The .crt files to trust: those `given` (files or folders), else the host's extra ones.
    Raises InvalidArgument for a given path that does not exist or holds no .crt file."""
    if given is None:
        return sorted(HOST_CA_DIR.rglob("*.crt")) if HOST_CA_DIR.is_dir() else []
    found: list[Path] = []
    for name in given:
        path = Path(name).expanduser()
        files = sorted(path.rglob("*.crt")) if path.is_dir() else [path] if path.is_file() else []
        if not files:
            raise InvalidArgument(f"--ca-certificates {name!r}: no such file, or a folder with no .crt file in it")
        found += files
    return found


def agent_packages(agents: str) -> str:
    """The npm packages for `agents`: "all", "none" or names separated by commas."""
    if agents == "all":
        return " ".join(AGENT_PACKAGES.values())
    if agents == "none":
        return ""
    names = [name.strip() for name in agents.split(",") if name.strip()]
    unknown = [name for name in names if name not in AGENT_PACKAGES]
    if unknown:
        raise InvalidArgument(
            f"--agents: unknown {', '.join(unknown)}; choose all, none, or some of {', '.join(AGENT_PACKAGES)}"
        )
    return " ".join(AGENT_PACKAGES[name] for name in names)


def ensure_base(engine: Engine, base: str) -> None:
    """The base image on the host engine, pulled if missing. Raises ImageMissing saying how to import one offline."""
    if engine.image_present(base):
        return
    try:
        engine.pull_image(base)
    except EngineFailure as exc:
        raise ImageMissing(
            f"base image {base!r} is not on the engine and could not be pulled ({exc}). On a machine with no "
            f"registry, import one with `scripts/base-image` (debootstrap; makes {OFFLINE_BASE!r}) and build with "
            f"`manyoyo-mcp image build --base {OFFLINE_BASE}`; or load any Debian 13 image with `docker load`."
        ) from exc


def build_sandbox_image(
    engine: Engine,
    tag: str,
    base: str = DEFAULT_BASE,
    no_cache: bool = False,
    on_line: Callable[[str], None] = print,
    *,
    agents: str = "all",
    certificates: Iterable[str] | None = None,
) -> None:
    """Build the sandbox image `tag` on `base`, passing each build log line to `on_line`.

    `agents`: which agent CLIs to install ("all", "none", or names); `certificates`: extra CA
    files or folders to trust (None: the host's own extra ones). Raises InvalidArgument,
    ImageMissing (no base) and EngineFailure (a failed step).
    """
    packages = agent_packages(agents)
    extra_cas = certificate_files(certificates)
    ensure_base(engine, base)
    with tempfile.TemporaryDirectory(prefix="manyoyo-image-") as context:
        shutil.copytree(image_files(), context, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        cas = Path(context, "ca-certificates")
        cas.mkdir()
        for number, path in enumerate(extra_cas):
            shutil.copyfile(path, cas / f"{number:02d}-{path.name}")
        build_args = {"BASE_IMAGE": base, "AGENT_PACKAGES": packages}
        for line in engine.build_image(context, tag, build_args, no_cache=no_cache):
            if line.strip():
                on_line(line.rstrip("\n"))

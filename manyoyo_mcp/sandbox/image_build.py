"""Building the sandbox image shipped with the package."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from manyoyo_mcp.engine import Engine
from manyoyo_mcp.errors import EngineFailure, ImageMissing

DEFAULT_BASE = "debian:bookworm-slim"
OFFLINE_BASE = "manyoyo-base:bookworm"


def image_context() -> str:
    """The directory holding the sandbox Dockerfile and entrypoint."""
    return str(resources.files("manyoyo_mcp.sandbox") / "image")


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
            f"`manyoyo-mcp image build --base {OFFLINE_BASE}`; or load any Debian/Ubuntu image with `docker load`."
        ) from exc


def build_sandbox_image(
    engine: Engine, tag: str, base: str = DEFAULT_BASE, no_cache: bool = False, on_line: Callable[[str], None] = print
) -> None:
    """Build the sandbox image `tag` on `base`, passing each build log line to `on_line`."""
    ensure_base(engine, base)
    for line in engine.build_image(image_context(), tag, {"BASE_IMAGE": base}, no_cache=no_cache):
        if line.strip():
            on_line(line.rstrip("\n"))

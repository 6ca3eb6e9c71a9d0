"""load_image: copy an image from the host engine into a sandbox's own engine.

The host's `docker save` stream goes straight into the nested engine's load API (through the
exec tunnel), never to disk. Which host images may be copied is the operator's choice.
"""

from __future__ import annotations

import time

from manyoyo_mcp import nested_specs
from manyoyo_mcp.engine import ContainerSummary, Engine, NestedEngine
from manyoyo_mcp.errors import ImageMissing, InvalidArgument
from manyoyo_mcp.models import LoadImageResult
from manyoyo_mcp.policy.allowlists import loadable, normalized
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS
from manyoyo_mcp.threads import in_thread


def check_loadable(ref: str, patterns: tuple[str, ...]) -> str:
    nested_specs.image_ref(ref)
    if not loadable(ref, patterns):
        allowed = ", ".join(patterns) if patterns else "none (the operator lists them in MANYOYO_LOADABLE_IMAGES)"
        raise InvalidArgument(f"host image {ref!r} may not be loaded into sandboxes; allowed: {allowed}")
    return normalized(ref)


class _Counted:
    """Chunks passed through, counting bytes."""

    def __init__(self, chunks) -> None:  # type: ignore[no-untyped-def]
        self._chunks = chunks
        self.total = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for chunk in self._chunks:
            self.total += len(chunk)
            yield chunk


def copy_image(engine: Engine, sandbox_id: str, kind: str, ref: str) -> tuple[list[str], int, str, int]:
    """Blocking: (names loaded, bytes sent, image id, size) of `ref` copied into the sandbox."""
    found = engine.image_tags(ref)
    if found is None:
        raise ImageMissing(f"the host engine has no image {ref!r}: build or pull it on the host first")
    nested: NestedEngine = engine.nested(sandbox_id, ENGINE_SOCKETS[kind], kind)
    try:
        chunks = _Counted(engine.export_image(ref))
        loaded = nested.load(chunks)
        image = nested.image(ref) or nested.image(found[0])
    finally:
        nested.close()
    return loaded, chunks.total, image.id if image else found[0], image.size if image else 0


async def load_image(
    engine: Engine, sandbox: ContainerSummary, image: str, patterns: tuple[str, ...]
) -> LoadImageResult:
    ref = check_loadable(image, patterns)
    if sandbox.labels.get(ownership.MODE) == "sock":
        raise InvalidArgument(
            f"sandbox {sandbox.labels.get(ownership.SANDBOX)!r} is in sock mode: it uses the host's engine, where "
            f"{ref!r} already is; run it directly"
        )
    kind = sandbox.labels.get(ownership.ENGINE, "docker")
    started = time.monotonic()
    loaded, sent, image_id, size = await in_thread(copy_image, engine, sandbox.id, kind, ref)
    return LoadImageResult(
        sandbox=sandbox.labels.get(ownership.SANDBOX, ""),
        image=ref,
        image_id=image_id,
        loaded=loaded,
        size_bytes=size,
        bytes_transferred=sent,
        duration_s=round(time.monotonic() - started, 3),
    )

"""load_image: an image from the host engine into a sandbox's own engine.

The host's `docker save` stream goes straight into the nested engine's load API (through the
exec tunnel), never to disk (sandbox/image_copy.py). A podman sandbox reads it from the scope's
shared image store instead, copied there once for all of them (sandbox/image_store.py). Which
host images may be loaded is the operator's choice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.models import LoadImageResult
from manyoyo_mcp.nested import specs as nested_specs
from manyoyo_mcp.policy.allowlists import normalized
from manyoyo_mcp.sandbox.view import Sandbox

if TYPE_CHECKING:
    from manyoyo_mcp.sandbox.image_store import ImageStore


async def load_image(store: ImageStore, sandbox: Sandbox, image: str, timeout_s: float) -> LoadImageResult:
    """The host image `image` in the sandbox's engine (the policy judged it loadable): from the
    shared store (podman) or copied, each step stopped at `timeout_s` seconds.

    Returns the image's id, the names the sandbox's engine reports loaded, its size, the bytes
    sent into the sandbox, whether it came from the store (and the seconds it took). Raises
    InvalidArgument (a malformed reference, a sandbox in sock mode), ImageMissing (the host has no
    such image), TimedOut and EngineFailure (the load failed).
    """
    ref = normalized(nested_specs.image_ref(image))  # the policy judged it loadable (image.load-allowlist)
    if sandbox.is_sock:
        raise InvalidArgument(
            f"sandbox {sandbox.name!r} is in sock mode: it uses the host's engine, where "
            f"{ref!r} already is; run it directly"
        )
    started = time.monotonic()
    copied, shared = await store.provide(ref, sandbox, timeout_s)
    return LoadImageResult(
        sandbox=sandbox.name,
        image=ref,
        image_id=copied.image_id,
        loaded=list(copied.loaded),
        size_bytes=copied.size,
        bytes_transferred=copied.bytes_sent,
        duration_s=round(time.monotonic() - started, 3),
        shared=shared,
    )

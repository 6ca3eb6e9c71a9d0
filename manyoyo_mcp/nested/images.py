"""load_image: copy an image from the host engine into a sandbox's own engine.

The host's `docker save` stream goes straight into the nested engine's load API (through the
exec tunnel), never to disk. Which host images may be copied is the operator's choice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.models import LoadImageResult
from manyoyo_mcp.nested import specs as nested_specs
from manyoyo_mcp.policy.allowlists import normalized
from manyoyo_mcp.sandbox.inside import PROPER_ROOT
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine


async def load_image(engine: Engine, sandbox: Sandbox, image: str) -> LoadImageResult:
    """Copy the host image `image` into the sandbox's engine (the policy judged it loadable).

    Returns the image's id, the names the sandbox's engine reports loaded, its size and the bytes
    sent (and the seconds it took). Raises InvalidArgument (a malformed reference, a sandbox in
    sock mode), ImageMissing (the host has no such image) and EngineFailure (the load failed).
    """
    ref = normalized(nested_specs.image_ref(image))  # the policy judged it loadable (image.load-allowlist)
    if sandbox.is_sock:
        raise InvalidArgument(
            f"sandbox {sandbox.name!r} is in sock mode: it uses the host's engine, where "
            f"{ref!r} already is; run it directly"
        )
    kind = sandbox.engine
    started = time.monotonic()
    copied = await in_thread(engine.copy_image, ref, sandbox.id, ENGINE_SOCKETS[kind], kind, PROPER_ROOT)
    return LoadImageResult(
        sandbox=sandbox.name,
        image=ref,
        image_id=copied.image_id,
        loaded=list(copied.loaded),
        size_bytes=copied.size,
        bytes_transferred=copied.bytes_sent,
        duration_s=round(time.monotonic() - started, 3),
    )

"""A host image copied into a dind sandbox's own engine, under a deadline (preloads, load_image).

The host's `docker save` stream goes straight into the nested engine's load API (through the exec
tunnel, as the sandbox proper's root), never to disk. A copy that ends early (its deadline, a
cancelled call, a failed load) cuts both streams: nothing is left running in either engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.engine.types import ImageCopy
from manyoyo_mcp.errors import TimedOut
from manyoyo_mcp.sandbox.inside import PROPER_ROOT
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS
from manyoyo_mcp.threads import bounded, in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine


async def copy_image(engine: Engine, ref: str, container_id: str, kind: str, timeout_s: float) -> ImageCopy:
    """Copy the host image `ref` into the `kind` engine of the dind sandbox `container_id`,
    stopped at `timeout_s` seconds. Raises ImageMissing, TimedOut and EngineFailure."""
    transfer = await in_thread(engine.image_transfer, ref, container_id, ENGINE_SOCKETS[kind], kind, PROPER_ROOT)
    try:
        copied, timed_out = await bounded(transfer.run, timeout_s=timeout_s, abort=transfer.abort)
    finally:
        with anyio.CancelScope(shield=True):
            await in_thread(transfer.close)
    if timed_out or copied is None:
        raise TimedOut(
            f"copying image {ref!r} into the sandbox ran past {timeout_s:g}s and was stopped "
            f"({transfer.sent} bytes sent); nothing was loaded. Call again with a larger timeout_s"
        )
    return copied

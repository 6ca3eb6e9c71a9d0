"""A host image copied into a sandbox's own engine: `docker save` streamed into its load API.

Nothing touches the disk. The copy runs in a worker thread (`run`); `abort()`, from any other
thread, cuts both of its streams, so a copy that ends early (its deadline, a cancelled call, a
failed load) leaves neither the host's export nor the sandbox's load open. `close()` after use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from manyoyo_mcp.engine.errors import Mapped
from manyoyo_mcp.engine.exec_transport import end_response
from manyoyo_mcp.engine.nested import NestedEngine
from manyoyo_mcp.engine.types import ImageCopy

CHUNK = 1 << 20


class ImageTransfer:
    """One image on its way from the host's engine (`export`, a started `GET /images/{ref}/get`)
    into `nested`; `host_id` is the host image's id, for finding it when the load names none."""

    def __init__(self, export: Any, mapped: Mapped, nested: NestedEngine, ref: str, host_id: str) -> None:
        self._export = export
        self._mapped = mapped
        self._nested = nested
        self._ref = ref
        self._host_id = host_id
        self.sent = 0

    def _chunks(self) -> Iterator[bytes]:
        with self._mapped("the image export"):
            for chunk in self._export.iter_content(CHUNK):
                self.sent += len(chunk)
                yield chunk

    def run(self) -> ImageCopy:
        """Blocking: stream the whole image in; its names, the bytes sent, its id and size there."""
        loaded = self._nested.load(self._chunks())
        image = self._nested.image(self._ref) or self._nested.image(self._host_id)
        return ImageCopy(tuple(loaded), self.sent, image.id if image else self._host_id, image.size if image else 0)

    def abort(self) -> None:
        """Cut both streams (any thread): a `run` in progress ends with an error."""
        end_response(self._export)
        self._nested.abort()

    def close(self) -> None:
        end_response(self._export)
        self._nested.close()

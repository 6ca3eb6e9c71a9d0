"""Images shared between podman sandboxes: one read-only store per scope instead of a copy each.

Podman reads images from additional image stores (containers-storage.conf(5),
`additionalimagestores`): read-only, shared by many, their layers used as lower layers in place.
The store is a volume of this scope (ownership.image_store_volume), mounted read-only into every
podman sandbox (plan.py, outer-init, inner-init). Only a store keeper writes it: a short-lived
sandbox of the server's own, with no network, which no agent reaches, whose podman keeps its
storage in the store. Every sandbox proper maps its root to the same host uid, so what a keeper's
root writes is root's in every sandbox.

Loading an image into a podman sandbox (load_image, preloads) therefore asks whether the sandbox
sees the host image's id already (in the store, or its own storage); if not, a keeper copies it
into the store once, and every podman sandbox of the scope sees it from then on. Docker sandboxes
always get a copy: dockerd has no read-only image store.

Nothing is ever removed from the store while the server runs: a sandbox's containers may use its
layers, which no keeper can see: remove its volume when no podman sandbox of the scope runs.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.egress import NetworkChoice
from manyoyo_mcp.engine import Mount
from manyoyo_mcp.engine.types import ImageCopy
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.image_copy import copy_image
from manyoyo_mcp.sandbox.inside import PROPER_ROOT
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS, IMAGE_STORE
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.view import Sandbox, parse_time
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.sandbox.service import SandboxService

log = logging.getLogger(__name__)
KEEPER_KIND = "store-keeper"
"""The kind label of a store keeper's container: no listing of sandboxes includes it."""


class ImageStore:
    """The shared image store of one server's scope (see the module's docstring)."""

    def __init__(self, service: SandboxService) -> None:
        self.service = service
        self.volume = ownership.image_store_volume(service.settings.scope)
        self._making = anyio.Lock()
        self._filling = anyio.Lock()

    async def for_new_sandbox(self, engine_kind: str, image: str) -> str | None:
        """The store's volume a new dind sandbox of `engine_kind` and sandbox `image` reads, made
        (its volume, then a keeper to lay it out) when it is missing; None when images are not
        shared (the operator's `shared_images`, a docker sandbox, a sandbox image older than the
        store: no `shared-images` label), or when the store could not be made (the sandbox then
        copies images, as before; logged, and tried again at the next create)."""
        if not self.service.settings.shared_images or engine_kind != "podman":
            return None
        labels = await in_thread(self.service.engine.image_labels, image)
        if (labels or {}).get(ownership.IMAGE_SHARES) != "podman":
            return None
        try:
            async with self._making:
                await self._make()
        except ManyoyoError as exc:
            log.warning("the shared image store could not be made (%s): this sandbox gets copies", exc)
            return None
        return self.volume

    async def _make(self) -> None:
        """Create the volume if it is missing (also when removed while this server runs); a new
        one gets its layout from a keeper (podman refuses a read-only store without it). A store
        whose first keeper was cut short is laid out by the next keeper: until then, sandboxes go
        without it (inner-init)."""
        existing = await in_thread(self.service.engine.list_volumes, self._labels())
        if self.volume not in existing:
            await in_thread(self.service.engine.create_volume, self.volume, self._labels())
            await self._with_keeper((), self.service.settings.exec_timeout_s)

    async def _remove_stale_keepers(self) -> None:
        """Remove the keepers a killed server left: those begun longer ago than any load takes."""
        settings = self.service.settings
        labels = {**ownership.owner_labels(settings.scope), ownership.KIND: KEEPER_KIND}
        limit = 2 * settings.ready_timeout_s + settings.max_exec_timeout_s  # a keeper's make, then its load
        for container in await in_thread(self.service.engine.list_containers, labels):
            details = await in_thread(self.service.engine.inspect_container, container.id)
            begun = parse_time(details.created)
            if begun is not None and (datetime.now(UTC) - begun).total_seconds() > limit:
                log.info("removing the store keeper %s a stopped server left", container.name)
                await self.service.discard(Sandbox.of(details))

    async def provide(self, ref: str, sandbox: Sandbox, timeout_s: float) -> tuple[ImageCopy, bool]:
        """The host image `ref` in the dind `sandbox`'s engine: (what it got, whether from the store).

        A podman sandbox that reads the store and sees the host image's id there takes no copy;
        else a keeper copies the image into the store (`bytes_sent`: what the keeper took) and the
        sandbox is asked again. Filling the store may take half of `timeout_s` seconds (waiting
        for another fill included: a sandbox holding the store's read locks delays fills); past
        that, or when it fails, the sandbox gets its own copy in the time left. A sandbox that
        does not read the store (docker, shared images off, a store laid out after it started)
        gets its own copy, as before. Raises ImageMissing, TimedOut and EngineFailure."""
        deadline = anyio.current_time() + timeout_s
        if sandbox.labels.get(ownership.IMAGE_STORE) == self.volume:
            host = await in_thread(self.service.engine.image_tags, ref)
            found = await self._seen(sandbox, ref, host[0]) if host else None
            if host is not None and found is None:
                sent = 0
                with anyio.move_on_after(timeout_s / 2) as waited:
                    async with self._filling:  # one keeper at a time in this server; podman locks the store
                        found = await self._seen(sandbox, ref, host[0])  # filled meanwhile by another call?
                        if found is None:
                            sent = await self._fill(ref, timeout_s / 2)
                if waited.cancelled_caught:
                    log.warning("the shared image store did not take %s within %gs: copying it", ref, timeout_s / 2)
                found = found or await self._seen(sandbox, ref, host[0])
                if found is not None and found[1]:
                    return dataclasses.replace(found[0], bytes_sent=sent), True
            if found is not None:
                return found
        left = max(1.0, round(deadline - anyio.current_time(), 1))
        return await copy_image(self.service.engine, ref, sandbox.id, sandbox.engine, left), False

    async def _fill(self, ref: str, timeout_s: float) -> int:
        """`ref` copied into the store by a keeper; the bytes sent (0 when that failed: logged)."""
        try:
            return await self._with_keeper((ref,), timeout_s)
        except ManyoyoError as exc:  # the sandbox gets its own copy instead
            log.warning("the shared image store could not take %s (%s): copying it into the sandbox", ref, exc)
            return 0

    async def _seen(self, sandbox: Sandbox, ref: str, host_id: str) -> tuple[ImageCopy, bool] | None:
        """The image `ref` as the sandbox's engine sees it, if it is the host's `host_id`, and
        whether the sandbox reads it from the store (else it has a copy of its own)."""
        nested = await in_thread(
            self.service.engine.nested, sandbox.id, ENGINE_SOCKETS[sandbox.engine], sandbox.engine, PROPER_ROOT
        )
        try:
            image = await in_thread(nested.image, ref)
            shared = image is not None and image.id in await in_thread(nested.shared_image_ids)
        finally:
            await in_thread(nested.close)
        if image is None or image.id != host_id:
            return None
        return ImageCopy((ref,), 0, image.id, image.size), shared

    async def _with_keeper(self, refs: tuple[str, ...], timeout_s: float) -> int:
        """A keeper made, each of `refs` copied into the store by it, and the keeper removed; the
        bytes sent. Keepers a killed server left are removed first."""
        await self._remove_stale_keepers()
        request = CreateRequest(engine="podman", network=NetworkChoice(mode="none"), disk=None)
        keeper = await self.service.make_hidden(
            request,
            f"IMAGES-{secrets.token_hex(3)}",  # uppercase: no agent's sandbox (or its volume) is named so
            suffix=ownership.KEEPER,
            labels={ownership.KIND: KEEPER_KIND},
            mounts=(Mount(self.volume, IMAGE_STORE, "volume"),),
            env={"MANYOYO_IMAGE_STORE": "keep"},
        )
        sent = 0
        try:
            for ref in refs:
                sent += (await copy_image(self.service.engine, ref, keeper.id, "podman", timeout_s)).bytes_sent
        finally:
            with anyio.CancelScope(shield=True):
                found = Sandbox.of(await in_thread(self.service.engine.inspect_container, keeper.id))
                await self.service.discard(found)
        return sent

    def _labels(self) -> dict[str, str]:
        return {**ownership.owner_labels(self.service.settings.scope), ownership.KIND: "image-store"}

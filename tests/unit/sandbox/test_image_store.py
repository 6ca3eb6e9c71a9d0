"""When the shared image store is used, and that a store that cannot be made never blocks a create
(the logic only: tests/engine/test_image_store.py checks the store itself on a real engine)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import EngineFailure
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.image_store import ImageStore

pytestmark = pytest.mark.anyio


class UnreachableVolumes:
    """An engine whose sandbox image reads the store but which cannot list volumes."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.volume_lookups = 0

    def image_labels(self, image: str) -> dict[str, str]:
        return self.labels

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        self.volume_lookups += 1
        raise EngineFailure("the engine refused the volume listing")


def store_of(engine: UnreachableVolumes, **settings: object) -> ImageStore:
    return ImageStore(SimpleNamespace(engine=engine, settings=ServerSettings(scope="ci", **settings)))


async def test_only_podman_sandboxes_of_an_image_that_reads_the_store_use_it():
    reads = UnreachableVolumes({ownership.IMAGE_SHARES: "podman"})
    old = UnreachableVolumes({})
    assert await store_of(reads, shared_images=False).for_new_sandbox("podman", "img") is None
    assert await store_of(reads).for_new_sandbox("docker", "img") is None
    assert await store_of(old).for_new_sandbox("podman", "img") is None
    assert reads.volume_lookups == 0 and old.volume_lookups == 0


async def test_a_store_that_cannot_be_made_leaves_the_sandbox_without_it_and_is_tried_again():
    engine = UnreachableVolumes({ownership.IMAGE_SHARES: "podman"})
    store = store_of(engine)
    assert await store.for_new_sandbox("podman", "img") is None
    assert await store.for_new_sandbox("podman", "img") is None
    assert engine.volume_lookups == 2

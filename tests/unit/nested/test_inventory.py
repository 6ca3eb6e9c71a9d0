"""Prune plans (pure): what a prune would remove, in the engine's order."""

from __future__ import annotations

from manyoyo_mcp.engine import DiskUsage, NestedContainer, NestedImage, NestedInventory
from manyoyo_mcp.engine.nested import NestedVolume
from manyoyo_mcp.nested.inventory import PruneRequest, prune_plan


def test_prune_plan_follows_the_engine_order():
    def container(cid, state, image_id, volumes=()):
        return NestedContainer(cid, cid, "img", image_id, state, "", 0, None, (), tuple(volumes))

    inventory = NestedInventory(
        containers=(
            container("run", "running", "sha256:used", ["keep"]),
            container("old", "exited", "sha256:old", ["gone"]),
        ),
        images=(
            NestedImage("sha256:used", ("app:1",), 100, 0),
            NestedImage("sha256:old", ("old:1",), 200, 0),
            NestedImage("sha256:dangling", (), 300, 0),
        ),
        volumes=(NestedVolume("keep", "local"), NestedVolume("gone", "local")),
        networks=(),
    )
    usage = DiskUsage(image_bytes={"sha256:old": 50}, volume_bytes={"gone": 7}, build_cache=(("c1", 9),))
    everything = prune_plan(inventory, usage, PruneRequest(images="unused", volumes=True))
    assert [(i.kind, i.id, i.size_bytes) for i in everything] == [
        ("container", "old", None),
        ("image", "sha256:old", 50),
        ("image", "sha256:dangling", 300),
        ("volume", "gone", 7),
        ("build_cache", "c1", 9),
    ]
    dangling_only = prune_plan(inventory, usage, PruneRequest(containers=False, build_cache=False))
    assert [i.id for i in dangling_only] == ["sha256:dangling"]


def test_images_of_the_shared_store_are_never_in_a_prune_plan():
    inventory = NestedInventory(
        containers=(),
        images=(
            NestedImage("sha256:shared", ("base:1",), 100, 0, shared=True),
            NestedImage("sha256:shared-dangling", (), 100, 0, shared=True),
            NestedImage("sha256:own", ("app:1",), 200, 0),
        ),
        volumes=(),
        networks=(),
    )
    usage = DiskUsage(image_bytes={}, volume_bytes={}, build_cache=())
    plan = prune_plan(inventory, usage, PruneRequest(images="unused"))
    assert [i.id for i in plan] == ["sha256:own"]

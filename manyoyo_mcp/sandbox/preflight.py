"""What only the engine knows before a sandbox is made: its images exist, and the sandbox image
is recent enough to enforce what the sandbox is promised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import ImageMissing
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.plan import SandboxPlan

BUILD_HELP = (
    "build it with `manyoyo-mcp image build` (on a machine with no registry: `scripts/base-image`, then "
    "`manyoyo-mcp image build --base manyoyo-base:trixie`)"
)


async def check_images(engine: Engine, settings: ServerSettings, plan: SandboxPlan) -> None:
    """What only the engine knows: the images exist (and the sandbox image contains networks)."""
    labels = await in_thread(engine.image_labels, plan.spec.image)
    if labels is None:
        raise ImageMissing(f"sandbox image {plan.spec.image!r} is not on the engine: {BUILD_HELP}")
    if plan.mode == "dind" and ownership.IMAGE_NETWORK not in labels:
        # An older image ignores the network settings: its sandboxes would reach everything.
        raise ImageMissing(
            f"sandbox image {plan.spec.image!r} predates network containment (no {ownership.IMAGE_NETWORK} "
            f"label) and would not enforce the sandbox's network: rebuild it, {BUILD_HELP}"
        )
    for ref in settings.preload_images:
        if await in_thread(engine.image_tags, ref) is None:
            raise ImageMissing(
                f"the operator's preload image {ref!r} (MANYOYO_PRELOAD_IMAGES) is not on the host engine: "
                "the operator must build or pull it, or remove it from the preload list"
            )

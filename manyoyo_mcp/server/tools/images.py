"""The load_image tool: a host image copied into a sandbox's own engine."""

from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.models import LoadImageResult
from manyoyo_mcp.nested import images
from manyoyo_mcp.server.params import RunningSandbox, SandboxRef, timeout

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App


def add_load_image(app: "App") -> None:
    loadable = ", ".join(app.settings.loadable_images) or "none (the operator has not allowed any)"
    Image = Annotated[str, Field(description=f"A host image the operator allows: {loadable}.")]
    Timeout = timeout(app.settings, "Stop the copy after this many seconds (nothing is loaded then).")

    @app.tool(title="Copy a host image into a sandbox", read_only=False, destructive=False, idempotent=True)
    async def load_image(
        sandbox: SandboxRef, ctx: Context, target: RunningSandbox, image: Image, timeout_s: Timeout = None
    ) -> LoadImageResult:
        """Copy an image from the host's engine into a sandbox's own engine (sandboxes may have no registry).

        Only images the operator allows can be copied; they become usable as build bases and by run_container.
        In a podman sandbox the image comes from a read-only store shared by the server's podman sandboxes
        (`shared`: true): it takes no space in this sandbox, and the first load of an image pays for all. Such
        an image cannot be removed from inside (podman rmi refuses it).
        """
        loading = images.load_image(app.sandboxes.images, target, image, app.timeout(timeout_s))
        return await app.sandboxes.on_engine(target, loading)

"""The build_image tool: an image built by a sandbox's own engine (nested/builds.py does the work)."""

from typing import TYPE_CHECKING, Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from manyoyo_mcp.limits import parse_memory
from manyoyo_mcp.models import BuildImageResult
from manyoyo_mcp.nested import builds
from manyoyo_mcp.server.params import RunningSandbox, SandboxRef, timeout

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

BuildContext = Annotated[
    str,
    Field(
        description="Build context: a directory inside the sandbox. Relative paths start at /workspace "
        "(where the host workspace is mounted). A .dockerignore in it is honoured."
    ),
]
Dockerfile = Annotated[
    str | None,
    Field(
        description="Either a path inside the context (default 'Dockerfile'), or the Dockerfile's text "
        "itself (recognised by a line break, or a first line starting with FROM, ARG or #)."
    ),
]
Tag = Annotated[
    str | None,
    Field(description="Image name and tag, e.g. 'myapp:test'. Recommended; pass it to run_container."),
]
BuildArgs = Annotated[dict[str, str] | None, Field(description="Values for the Dockerfile's ARG instructions.")]
Target = Annotated[str | None, Field(description="Build only up to this stage of a multi-stage Dockerfile.")]
NoCache = Annotated[bool, Field(description="Build every step again, ignoring cached layers.")]
Secrets = Annotated[
    dict[str, str] | None,
    Field(
        description="Build secrets: {id: file inside the sandbox} (relative paths start at /workspace), read by "
        "`RUN --mount=type=secret,id=ID` (at /run/secrets/ID). Never in the image, its history or the context: "
        "their values are masked in the log and in every result. Pass paths, never values."
    ),
]
Builder = Annotated[
    Literal["buildkit", "classic"] | None,
    Field(
        description="Docker sandboxes: 'buildkit' (the default, as the Docker CLI: RUN --mount=type=cache, "
        "secrets, heredocs) or 'classic' (the legacy builder). Podman sandboxes always build with buildah."
    ),
]


def add_build_image(app: "App") -> None:
    Timeout = timeout(app.settings, "Stop after this many seconds.")

    @app.tool(
        title="Build an image in a sandbox",
        read_only=False,
        destructive=False,
        idempotent=False,
        open_world=True,
    )
    async def build_image(
        sandbox: SandboxRef,
        ctx: Context,
        target_sandbox: RunningSandbox,
        context: BuildContext = "/workspace",
        dockerfile: Dockerfile = None,
        tag: Tag = None,
        build_args: BuildArgs = None,
        target: Target = None,
        no_cache: NoCache = False,
        timeout_s: Timeout = None,
        secrets: Secrets = None,
        builder: Builder = None,
    ) -> BuildImageResult:
        """Build an image with the sandbox's own engine (docker or podman), from a context inside the sandbox.

        Docker sandboxes build with BuildKit (RUN --mount=type=cache, secrets, heredocs), podman ones with
        buildah (which reads the same). Each build step streams as a progress notification. The result gives
        the builder, image id, tags, size, duration and the last log lines; the full log is a file inside the
        sandbox (`log_path`), readable with exec. A failing step is a tool error naming the step with its
        output. Base images must already be in the sandbox: see load_image.
        """
        request = builds.BuildRequest(
            context=context,
            dockerfile=dockerfile,
            tag=tag,
            build_args=build_args or {},
            target=target,
            no_cache=no_cache,
            timeout_s=app.timeout(timeout_s),
            secrets=secrets or {},
            builder=builder,
        )
        max_context = parse_memory(app.settings.max_build_context)
        entry = await app.sandboxes.entry(target_sandbox)
        return await builds.build_image(
            app.engine, target_sandbox, entry, request, max_context, app.recorder, app.progress(ctx)
        )

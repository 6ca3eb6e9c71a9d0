"""Where things are in the sandbox image (sandbox/image/): each inner engine's socket as the outer
container sees it, the sandbox's storage, logs, and where the host workspace is mounted."""

from __future__ import annotations

from manyoyo_mcp.sandbox.inside import SHARED_DIR

ENGINE_SOCKETS: dict[str, str] = {"docker": f"{SHARED_DIR}/docker.sock", "podman": f"{SHARED_DIR}/podman.sock"}
"""The nested engines' sockets, at the same path in the outer container and the sandbox proper."""
SOCK_MODE_SOCKET = "/var/run/docker.sock"
"""Where a sock-mode sandbox gets the host engine's socket."""
SANDBOX_STORAGE = "/var/lib/manyoyo"
"""The sandbox's volume: everything its proper writes (root changes, engine storage) lives there."""
IMAGE_STORE = "/var/lib/manyoyo-images"
"""Where the shared image store's volume is mounted (outer-init binds it into the proper): podman's
own store under storage/, read-only in sandboxes, writable in a store keeper."""
ENGINE_LOG = "/var/log/manyoyo-engine.log"
"""The nested engine's log, inside the sandbox proper."""
WORKSPACE_TARGET = "/workspace"

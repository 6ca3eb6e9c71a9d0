"""The one seam to container engines: the only package that imports `docker`.

    connection.py      the host engine's clients, made lazily, forgotten when it goes away
    host.py            Engine: operations on the host engine (containers, volumes, images, exec)
    resources.py       what the host has (ceilings), what a container uses, stopping one
    nested.py          NestedEngine: a sandbox's own engine, through its Docker-compatible API
    exec_transport.py  the tunnel to a sandbox's engine (docker exec of socat; nothing published)
    streams.py         exec output, build events and logs, each cut from any thread
    build_context.py   a build context from inside a sandbox, re-packed with .dockerignore applied
    errors.py          docker-py's exceptions mapped to the project's, in one place
    types.py           the data going in (specs) and coming out (summaries, inventories)

Everything here is synchronous (docker-py is); async callers run it in worker threads.

The modules that import docker (host, nested, streams) load on first use of their names: the
types and errors cost no docker import, which a server listing its tools does not need. Modules
that name the engine's classes only in annotations import them under TYPE_CHECKING.
"""

import importlib
from typing import TYPE_CHECKING, Any

from manyoyo_mcp.engine.types import (
    ContainerDetails,
    ContainerSpec,
    ContainerSummary,
    DiskUsage,
    HostFacts,
    Mount,
    NestedBuildSpec,
    NestedContainer,
    NestedContainerState,
    NestedImage,
    NestedInventory,
    NestedMount,
    NestedNetwork,
    NestedPort,
    NestedRunSpec,
    NestedTmpfs,
    NestedVolume,
    PruneReport,
    RuntimeProfile,
)
from manyoyo_mcp.errors import ObjectConflict, ObjectNotFound

if TYPE_CHECKING:
    from manyoyo_mcp.engine.host import Engine
    from manyoyo_mcp.engine.nested import NestedEngine
    from manyoyo_mcp.engine.streams import BuildStream, ExecStream, LogStream

_LOADED_ON_USE = {
    "Engine": "host",
    "NestedEngine": "nested",
    "BuildStream": "streams",
    "ExecStream": "streams",
    "LogStream": "streams",
}

__all__ = [
    "BuildStream",
    "ContainerDetails",
    "ContainerSpec",
    "ContainerSummary",
    "DiskUsage",
    "Engine",
    "ExecStream",
    "HostFacts",
    "LogStream",
    "Mount",
    "NestedBuildSpec",
    "NestedContainer",
    "NestedContainerState",
    "NestedEngine",
    "NestedImage",
    "NestedInventory",
    "NestedMount",
    "NestedNetwork",
    "NestedPort",
    "NestedRunSpec",
    "NestedTmpfs",
    "NestedVolume",
    "ObjectConflict",
    "ObjectNotFound",
    "PruneReport",
    "RuntimeProfile",
]


def __getattr__(name: str) -> Any:
    module = _LOADED_ON_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

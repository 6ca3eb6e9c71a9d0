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
"""

from manyoyo_mcp.engine.host import Engine
from manyoyo_mcp.engine.nested import NestedEngine
from manyoyo_mcp.engine.streams import BuildStream, ExecStream, LogStream
from manyoyo_mcp.engine.types import (
    ContainerDetails,
    ContainerSpec,
    ContainerSummary,
    DiskUsage,
    HostFacts,
    Mount,
    NestedContainer,
    NestedContainerState,
    NestedImage,
    NestedInventory,
    NestedMount,
    NestedNetwork,
    NestedPort,
    NestedRunSpec,
    NestedVolume,
    PruneReport,
    RuntimeProfile,
)
from manyoyo_mcp.errors import ObjectConflict, ObjectNotFound

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
    "NestedContainer",
    "NestedContainerState",
    "NestedEngine",
    "NestedImage",
    "NestedInventory",
    "NestedMount",
    "NestedNetwork",
    "NestedPort",
    "NestedRunSpec",
    "NestedVolume",
    "ObjectConflict",
    "ObjectNotFound",
    "PruneReport",
    "RuntimeProfile",
]

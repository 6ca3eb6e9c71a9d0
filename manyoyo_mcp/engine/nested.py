"""A sandbox's own engine, through its Docker-compatible API (dockerd, or podman's compat API).

The client comes from `exec_transport` (an exec tunnel); errors are mapped by the mapping passed
in (engine/errors.py). Each request must be answered within the client's timeout, except streams
(a build's events, logs, an image load: bounded by their callers' deadlines, which cut them) and
requests whose own work may be long (a prune, disk usage: LONG_REQUEST_S). Where the two inner
engines differ (podman cannot prune unused images through the compat API, and keeps no separate
build cache) the difference is handled here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import IO, Any

import docker

from manyoyo_mcp.engine.errors import Mapped
from manyoyo_mcp.engine.exec_transport import abort_connections
from manyoyo_mcp.engine.streams import BuildStream, LogStream
from manyoyo_mcp.engine.types import (
    DiskUsage,
    NestedBuildSpec,
    NestedContainerState,
    NestedImage,
    NestedInventory,
    NestedNetwork,
    NestedRunSpec,
    NestedVolume,
    PruneReport,
    image_id,
    nested_container,
    tags_of,
)
from manyoyo_mcp.errors import EngineFailure, ImageMissing, ObjectNotFound

LIBPOD = "/v4.0.0/libpod"
LONG_REQUEST_S = 600
"""Pruning and measuring a sandbox's engine walk all its storage: those requests may take longer."""


class NestedEngine:
    """A sandbox's own engine (docker, or podman's Docker-compatible API). Close it after use."""

    def __init__(
        self,
        api: docker.APIClient,
        mapped: Mapped,
        kind: str = "docker",
        *,
        scope: dict[str, str] | None = None,
        owns_api: bool = True,
    ) -> None:
        """`scope`: labels that confine this view (sock mode: the host's engine, seen through the
        objects one sandbox made). Objects made here get them; others are invisible."""
        self._api = api
        self._mapped = mapped
        self.kind = kind
        self.scope = dict(scope or {})
        self._owns_api = owns_api

    def _filters(self, **more: Any) -> dict[str, Any] | None:
        filters = dict(more)
        if self.scope:
            filters["label"] = [f"{k}={v}" for k, v in self.scope.items()]
        return filters or None

    def _in_scope(self, labels: dict[str, str] | None) -> bool:
        return all((labels or {}).get(k) == v for k, v in self.scope.items())

    # -- reading --------------------------------------------------------------------------

    def version(self) -> dict[str, str]:
        with self._mapped():
            version = self._api.version()
        return {"version": version.get("Version", "?"), "api_version": version.get("ApiVersion", "?")}

    def inventory(self) -> NestedInventory:
        """Everything the nested engine holds: containers (any state), images, volumes, networks."""
        with self._mapped():
            containers = self._api.containers(all=True, filters=self._filters())
            exit_codes = {
                row["Id"]: (self._api.inspect_container(row["Id"]).get("State") or {}).get("ExitCode")
                for row in containers
                if row.get("State") == "exited"
            }
            images = self._api.images(filters=self._filters())
            shared = self.shared_image_ids()
            volumes = (self._api.volumes(filters=self._filters()) or {}).get("Volumes") or []
            networks = self._api.networks(filters=self._filters())
        return NestedInventory(
            containers=tuple(nested_container(row, exit_codes.get(row["Id"])) for row in containers),
            images=tuple(
                NestedImage(
                    id=image_id(row["Id"]),
                    tags=tags_of(row.get("RepoTags")),
                    size=int(row.get("Size") or 0),
                    created=int(row.get("Created") or 0),
                    shared=image_id(row["Id"]) in shared,
                )
                for row in {image_id(row["Id"]): row for row in reversed(images)}.values()
            ),
            volumes=tuple(NestedVolume(name=v["Name"], driver=v.get("Driver", "")) for v in volumes),
            networks=tuple(
                NestedNetwork(name=n["Name"], driver=n.get("Driver", ""), id=n.get("Id", "")) for n in networks
            ),
        )

    def shared_image_ids(self) -> set[str]:
        """The ids of the images podman reads from the server's shared image store only (read-only:
        the sandbox cannot remove them; one it also holds a copy of is its own). Podman's own API
        says which; docker has no such images."""
        if self.kind != "podman":
            return set()
        with self._mapped():
            url = self._api.base_url + f"{LIBPOD}/images/json"
            rows = self._api._result(self._api._get(url), True) or []
        read_only = {image_id(row["Id"]) for row in rows if row.get("ReadOnly")}
        return read_only - {image_id(row["Id"]) for row in rows if not row.get("ReadOnly")}

    def image(self, ref: str) -> NestedImage | None:
        try:
            with self._mapped():
                data = self._api.inspect_image(ref)
        except (ImageMissing, ObjectNotFound):
            return None
        return NestedImage(
            id=image_id(data["Id"]),
            tags=tags_of(data.get("RepoTags")),
            size=int(data.get("Size") or 0),
            created=0,
        )

    def disk_usage(self) -> DiskUsage:
        with self._mapped("the disk usage request"):
            df = self._api._result(self._api._get(self._api._url("/system/df"), timeout=LONG_REQUEST_S), True)
        return DiskUsage(
            image_bytes={
                image_id(row["Id"]): max(0, int(row.get("Size") or 0) - max(0, int(row.get("SharedSize") or 0)))
                for row in df.get("Images") or []
            },
            volume_bytes={
                row["Name"]: max(0, int((row.get("UsageData") or {}).get("Size") or 0))
                for row in df.get("Volumes") or []
            },
            build_cache=tuple(
                (row.get("ID", ""), int(row.get("Size") or 0))
                for row in df.get("BuildCache") or []
                if not row.get("InUse")
            ),
        )

    # -- images ---------------------------------------------------------------------------

    def build(self, context_tar: IO[bytes], spec: NestedBuildSpec) -> BuildStream:
        """Start a build from a tar context; read its events from the returned stream."""
        params: dict[str, Any] = {
            "dockerfile": spec.dockerfile,
            "rm": "1",
            "forcerm": "1",
            "nocache": int(spec.no_cache),
        }
        if spec.secrets:  # podman's API moves each file out of the context before the build
            params["secrets"] = json.dumps([f"id={key},src={name}" for key, name in spec.secrets.items()])
        if spec.tag:
            params["t"] = spec.tag
        if spec.build_args:
            params["buildargs"] = json.dumps(spec.build_args)
        if spec.target:
            params["target"] = spec.target
        if self.scope:
            params["labels"] = json.dumps(self.scope)
        with self._mapped():
            response = self._api._post(
                self._api._url("/build"),
                data=context_tar,
                params=params,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=None,
            )
            self._api._raise_for_status(response)
        return BuildStream(response, self._api, self._mapped)

    def load(self, chunks: Iterable[bytes]) -> list[str]:
        """Load a `docker save` tar stream; returns the names (or ids) the engine reports loaded."""
        with self._mapped():
            response = self._api._post(
                self._api._url("/images/load"),
                data=chunks,
                params={"quiet": "1"},
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=None,
            )
            self._api._raise_for_status(response)
            loaded = []
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if "error" in event:
                    raise EngineFailure(f"the sandbox's engine could not load the image: {event['error']}")
                for text in (event.get("stream") or "").splitlines():
                    for prefix in ("Loaded image: ", "Loaded image ID: ", "Loaded image(s): "):
                        if text.startswith(prefix):
                            loaded.extend(n.strip() for n in text.removeprefix(prefix).split(","))
        return loaded

    # -- containers -----------------------------------------------------------------------

    def network_exists(self, name: str) -> bool:
        with self._mapped():
            return any(n.get("Name") == name for n in self._api.networks(names=[name]))

    def create_network(self, name: str, labels: dict[str, str]) -> None:
        with self._mapped():
            self._api.create_network(name, driver="bridge", labels={**labels, **self.scope})

    def run(self, spec: NestedRunSpec) -> str:
        """Create and start a container; a container that cannot start is removed again."""
        api = self._api
        with self._mapped():
            if self.scope:  # named volumes made here carry the scope too
                present = {v["Name"] for v in (api.volumes() or {}).get("Volumes") or []}
                for mount in spec.mounts:
                    if not mount.source.startswith("/") and mount.source not in present:
                        api.create_volume(mount.source, labels=self.scope)
            host_config = api.create_host_config(
                port_bindings={
                    f"{p.container_port}/{p.protocol}": (p.host_ip, p.host_port) if p.host_ip else p.host_port
                    for p in spec.ports
                    if p.host_port is not None
                }
                or None,
                publish_all_ports=False,
                binds={m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in spec.mounts}
                or None,
                nano_cpus=spec.nano_cpus,
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_bytes,
                pids_limit=spec.pids_limit,
                network_mode=spec.network,
                cap_add=list(spec.cap_add) or None,
                sysctls=dict(spec.sysctls) or None,
                restart_policy={"Name": spec.restart[0], "MaximumRetryCount": spec.restart[1]}
                if spec.restart[0] != "no"
                else {"Name": "no"},
                init=spec.init or None,
                read_only=spec.read_only or None,
                tmpfs={t.target: ",".join(t.options) for t in spec.tmpfs} or None,
            )
            created = api.create_container(
                image=spec.image,
                command=list(spec.command) if spec.command else None,
                name=spec.name,
                environment=spec.env,
                labels={**spec.labels, **self.scope},
                working_dir=spec.workdir,
                user=spec.user,
                ports=[(p.container_port, p.protocol) for p in spec.ports] or None,
                volumes=[m.target for m in spec.mounts] or None,
                host_config=host_config,
                detach=True,
            )
        try:
            with self._mapped():
                api.start(created["Id"])
        except BaseException:
            self.remove(created["Id"], force=True)
            raise
        return created["Id"]

    def state(self, ref: str) -> NestedContainerState:
        with self._mapped():
            data = self._api.inspect_container(ref)
        if not self._in_scope((data.get("Config") or {}).get("Labels")):
            raise ObjectNotFound(f"no such container: {ref}")
        state = data.get("State") or {}
        settings = data.get("NetworkSettings") or {}
        status = state.get("Status", "unknown")
        return NestedContainerState(
            id=data["Id"],
            name=data.get("Name", "").lstrip("/"),
            image=(data.get("Config") or {}).get("Image", ""),
            state=status,
            exit_code=state.get("ExitCode") if status in ("exited", "dead", "stopped") else None,
            oom_killed=bool(state.get("OOMKilled")),
            ports=tuple(
                f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}->{private}"
                for private, bindings in (settings.get("Ports") or {}).items()
                for b in bindings or []
                if b.get("HostPort")
            ),
            ip_addresses={
                name: net["IPAddress"]
                for name, net in (settings.get("Networks") or {}).items()
                if net and net.get("IPAddress")
            },
        )

    def logs(self, ref: str, *, follow: bool, tail: int | None = None, since: int | None = None) -> LogStream:
        self._check_scope(ref)
        params: dict[str, Any] = {"stdout": 1, "stderr": 1, "follow": int(follow)}
        params["tail"] = "all" if tail is None else tail
        if since is not None:
            params["since"] = since
        with self._mapped():
            url = self._api._url("/containers/{0}/logs", ref)
            response = self._api._get(url, params=params, stream=True, timeout=None)
            self._api._raise_for_status(response)
        return LogStream(response, self._mapped)

    def wait(self, ref: str) -> int | None:
        self._check_scope(ref)
        with self._mapped():
            return self._api.wait(ref).get("StatusCode")

    def kill(self, ref: str) -> None:
        """SIGKILL a running container; one that already stopped is fine."""
        self._check_scope(ref)
        try:
            with self._mapped():
                self._api.kill(ref)
        except EngineFailure:
            if self.state(ref).state == "running":
                raise

    def stop(self, ref: str, timeout_s: int) -> None:
        self._check_scope(ref)
        with self._mapped():
            self._api.stop(ref, timeout=timeout_s)

    def remove(self, ref: str, *, force: bool) -> None:
        self._check_scope(ref)
        with self._mapped():
            self._api.remove_container(ref, force=force, v=True)

    def _check_scope(self, ref: str) -> None:
        if self.scope:
            self.state(ref)  # raises ObjectNotFound outside the scope

    # -- pruning --------------------------------------------------------------------------

    def prune_containers(self) -> PruneReport:
        done = self._prune("/containers/prune", self._filters())
        return PruneReport(tuple(done.get("ContainersDeleted") or ()), int(done.get("SpaceReclaimed") or 0))

    def prune_images(self, *, unused: bool) -> PruneReport:
        """Dangling images, or with `unused` every image no container uses."""
        if unused and self.kind == "podman":
            # podman 4's compat endpoint rejects dangling=false; its own API prunes them.
            with self._mapped("the prune request"):
                url = self._api.base_url + f"{LIBPOD}/images/prune"
                response = self._api._post(url, params={"all": "true"}, timeout=LONG_REQUEST_S)
                reports = self._api._result(response, True) or []
                failed = [r["Err"] for r in reports if r.get("Err")]
                if failed:
                    raise EngineFailure(f"the sandbox's engine could not prune every image: {failed[0]}")
                return PruneReport(
                    tuple(image_id(r["Id"]) for r in reports), sum(int(r.get("Size") or 0) for r in reports)
                )
        done = self._prune("/images/prune", self._filters(**({"dangling": False} if unused else {})))
        removed = tuple(image_id(row["Deleted"]) for row in done.get("ImagesDeleted") or [] if row.get("Deleted"))
        return PruneReport(removed, int(done.get("SpaceReclaimed") or 0))

    def prune_volumes(self) -> PruneReport:
        done = self._prune("/volumes/prune", self._filters())
        return PruneReport(tuple(done.get("VolumesDeleted") or ()), int(done.get("SpaceReclaimed") or 0))

    def prune_build_cache(self) -> PruneReport:
        if self.kind == "podman" or self.scope:
            # podman keeps build layers as images (pruned with images); the host's build cache in
            # sock mode belongs to everyone, so it is not this sandbox's to prune.
            return PruneReport()
        done = self._prune("/build/prune", None)
        return PruneReport(tuple(done.get("CachesDeleted") or ()), int(done.get("SpaceReclaimed") or 0))

    def _prune(self, path: str, filters: dict[str, Any] | None) -> dict[str, Any]:
        """POST a prune endpoint (as docker-py does, with the time a prune may take)."""
        params = {"filters": docker.utils.convert_filters(filters)} if filters else {}
        with self._mapped("the prune request"):
            response = self._api._post(self._api._url(path), params=params, timeout=LONG_REQUEST_S)
            return self._api._result(response, True)  # type: ignore[no-any-return]

    # -- connections ----------------------------------------------------------------------

    def abort(self) -> None:
        """Cut this client's connections (a stuck stream ends; docker cancels a build in progress)."""
        if self._owns_api:  # the host's shared client is never cut; a scoped build just runs out
            abort_connections(self._api)

    def close(self) -> None:
        if self._owns_api:
            with contextlib.suppress(Exception):
                self._api.close()

"""The host engine's operations: containers, volumes, images, exec, archives, and the way into a
sandbox's own engine. Synchronous (docker-py is); async callers run them in worker threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker.errors

from manyoyo_mcp.engine.channel import Channel
from manyoyo_mcp.engine.connection import CONTROL_TIMEOUT_S, REMOVAL_TIMEOUT_S
from manyoyo_mcp.engine.errors import mapped_nested
from manyoyo_mcp.engine.exec_transport import end_response, nested_api_client
from manyoyo_mcp.engine.nested import NestedEngine
from manyoyo_mcp.engine.resources import Resources
from manyoyo_mcp.engine.streams import ExecStream, start_exec, unbounded
from manyoyo_mcp.engine.transfer import ImageTransfer
from manyoyo_mcp.engine.types import ContainerDetails, ContainerSpec, ContainerSummary, Mount
from manyoyo_mcp.errors import EngineFailure, ImageMissing, ObjectNotFound


class Engine(Resources):
    """A host container engine (see Connection: reached lazily, reconnected after a failure; Resources)."""

    # -- engine ---------------------------------------------------------------------------

    def ping(self) -> dict[str, str]:
        with self._mapped():
            version = self._client().version()
        return {"version": version.get("Version", "?"), "api_version": version.get("ApiVersion", "?")}

    # -- containers -----------------------------------------------------------------------

    def list_containers(self, labels: dict[str, str]) -> list[ContainerSummary]:
        """Containers (any state) carrying every one of `labels`."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        with self._mapped():
            rows = self._client().containers(all=True, filters=filters)
        return [
            ContainerSummary(
                id=row["Id"],
                name=(row.get("Names") or ["/"])[0].lstrip("/"),
                state=row.get("State", "unknown"),
                labels=row.get("Labels") or {},
            )
            for row in rows
        ]

    def container_named(self, name: str) -> ContainerSummary | None:
        """The container whose name is exactly `name`, owned or not (for conflict checks)."""
        with self._mapped():
            rows = self._client().containers(all=True, filters={"name": name})
        for row in rows:
            names = [n.lstrip("/") for n in row.get("Names") or []]
            if name in names:
                return ContainerSummary(row["Id"], name, row.get("State", "unknown"), row.get("Labels") or {})
        return None

    def inspect_container(self, container_id: str) -> ContainerDetails:
        with self._mapped():
            data = self._client().inspect_container(container_id)
        host = data.get("HostConfig") or {}
        state = data.get("State") or {}
        config = data.get("Config") or {}
        return ContainerDetails(
            id=data["Id"],
            name=data["Name"].lstrip("/"),
            state=state.get("Status", "unknown"),
            image=config.get("Image", ""),
            labels=config.get("Labels") or {},
            created=data.get("Created", ""),
            started_at=state.get("StartedAt", ""),
            nano_cpus=host.get("NanoCpus") or 0,
            memory_bytes=host.get("Memory") or 0,
            pids_limit=host.get("PidsLimit") or 0,
            mounts=tuple(
                Mount(
                    source=m.get("Name") or m.get("Source", ""),
                    target=m.get("Destination", ""),
                    kind="volume" if m.get("Type") == "volume" else "bind",
                    read_only=not m.get("RW", True),
                )
                for m in data.get("Mounts") or []
            ),
        )

    def create_container(self, spec: ContainerSpec) -> str:
        api = self._client()
        profile = spec.profile
        with self._mapped():
            host_config = api.create_host_config(
                binds={m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in spec.mounts},
                nano_cpus=spec.nano_cpus,
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_bytes,
                pids_limit=spec.pids_limit,
                privileged=profile.privileged,
                cap_add=list(profile.cap_add) or None,
                security_opt=list(profile.security_opt) or None,
                device_cgroup_rules=list(profile.device_cgroup_rules) or None,
                cgroupns=profile.cgroupns,
                ulimits=self._ulimits(api, profile),
                restart_policy={"Name": "no"},
                network_mode=spec.network,
                extra_hosts=dict(spec.extra_hosts) or None,
                log_config=None
                if spec.log_files is None
                else {
                    "Type": "json-file",
                    "Config": {"max-size": spec.log_files[0], "max-file": str(spec.log_files[1])},
                },
                port_bindings={
                    f"{port}/{proto}": (ip,) if host is None else (ip, host) for ip, host, port, proto in spec.ports
                }
                or None,
            )
            created = api.create_container(
                image=spec.image,
                name=spec.name,
                hostname=spec.hostname,
                working_dir=spec.working_dir,
                ports=[(port, proto) for _, _, port, proto in spec.ports] or None,
                labels=spec.labels,
                environment=spec.environment,
                volumes=[m.target for m in spec.mounts],
                host_config=host_config,
                detach=True,
                stop_timeout=spec.stop_timeout_s,
            )
        return created["Id"]

    def container_log_tail(self, container_id: str, lines: int) -> str:
        """The last `lines` lines of the container's own output (stdout and stderr)."""
        with self._mapped():
            data = self._client().logs(container_id, stdout=True, stderr=True, tail=lines)
        return data.decode("utf-8", errors="replace")

    def start_container(self, container_id: str) -> None:
        with self._mapped("the request to start a container"):
            self._client().start(container_id)

    def rename_container(self, reference: str, name: str) -> None:
        """Give a container (by id, or by its current name: then the rename happens only if it
        still has that name) another name. Raises ObjectNotFound (no such container, or it has
        another name now) or ObjectConflict (the name is taken)."""
        with self._mapped("the request to rename a container"):
            self._client().rename(reference, name)

    def unpause_container(self, container_id: str) -> None:
        with self._mapped("the request to unpause a container"):
            self._client().unpause(container_id)

    def remove_container(self, container_id: str) -> None:
        """Force-remove a container and its anonymous volumes; gone already is fine."""
        api = self._client()
        with contextlib.suppress(ObjectNotFound), self._mapped("the request to remove a container"):
            url = api._url("/containers/{0}", container_id)
            params = {"v": True, "force": True}
            api._raise_for_status(api._delete(url, params=params, timeout=REMOVAL_TIMEOUT_S))

    def remove_labelled(self, labels: dict[str, str]) -> None:
        """Force-remove every container, volume, network and image carrying `labels`."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        api = self._client()
        with self._mapped():
            for row in api.containers(all=True, filters=filters):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(row["Id"], force=True, v=True)
            for row in (api.volumes(filters=filters) or {}).get("Volumes") or []:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_volume(row["Name"], force=True)
            for row in api.networks(filters=filters):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_network(row["Id"])
            for row in api.images(filters=filters):
                with contextlib.suppress(docker.errors.APIError):  # gone, or still used elsewhere
                    api.remove_image(row["Id"], force=True)

    # -- volumes and images ---------------------------------------------------------------

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        with self._mapped():
            self._client().create_volume(name=name, labels=labels)

    def remove_volume(self, name: str) -> None:
        """Remove a volume (deleting every file in it may take long); gone already is fine."""
        api = self._client()
        with contextlib.suppress(ObjectNotFound), self._mapped("the request to remove a volume"):
            url = api._url("/volumes/{0}", name)
            api._raise_for_status(api._delete(url, params={"force": True}, timeout=REMOVAL_TIMEOUT_S))

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        with self._mapped():
            found = self._client().volumes(filters=filters)
        return [v["Name"] for v in (found or {}).get("Volumes") or []]

    def host_interfaces(self, image: str, labels: dict[str, str]) -> str:
        """`ip -o addr show` as the engine's host sees it: a short-lived container of `image` in the
        host's network namespace, with no capabilities, read-only, removed at once (works with a
        remote engine too)."""
        api = self._client()
        with self._mapped():
            created = api.create_container(
                image=image,
                entrypoint=["ip", "-o", "addr", "show"],
                labels=labels,
                user="65534:65534",
                network_disabled=False,
                host_config=api.create_host_config(
                    network_mode="host", cap_drop=["ALL"], read_only=True, security_opt=["no-new-privileges"]
                ),
            )
            try:
                api.start(created["Id"])
                status = api.wait(created["Id"], timeout=60)
                output = api.logs(created["Id"], stdout=True, stderr=False).decode("utf-8", errors="replace")
            finally:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(created["Id"], force=True, v=True)  # and the image's anonymous volume
        if status.get("StatusCode") != 0:
            raise EngineFailure(f"could not list the engine host's addresses (exit {status.get('StatusCode')})")
        return output

    def image_labels(self, ref: str) -> dict[str, str] | None:
        """The labels of a host image; None if the host engine has no such image."""
        try:
            with self._mapped():
                data = self._client().inspect_image(ref)
        except (ImageMissing, ObjectNotFound):
            return None
        return dict((data.get("Config") or {}).get("Labels") or {})

    def image_present(self, ref: str) -> bool:
        try:
            with self._mapped():
                self._client().inspect_image(ref)
        except (ImageMissing, ObjectNotFound):
            return False
        return True

    def pull_image(self, ref: str) -> None:
        with self._mapped():
            self._client().pull(ref)

    def build_image(
        self, context_dir: str, tag: str, build_args: dict[str, str], no_cache: bool = False
    ) -> Iterator[str]:
        """Build from a directory on the engine's host; yields log lines, raises on a failed step."""
        with self._mapped():
            events = self._client(streaming=True).build(
                path=context_dir, tag=tag, buildargs=build_args, nocache=no_cache, rm=True, forcerm=True, decode=True
            )
            for event in events:
                if "error" in event:
                    raise EngineFailure(f"image build failed: {event['error'].strip()}")
                text = event.get("stream") or event.get("status")
                if text:
                    yield text

    # -- exec -----------------------------------------------------------------------------

    def exec_start(
        self,
        container_id: str,
        argv: list[str],
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stdin: bool = False,
    ) -> ExecStream:
        """Start `argv` in the container (as `user`, "uid:gid"; default its root); read its output
        from the returned stream, which the caller must close. With `stdin`, feed it through the
        stream (ExecStream.feed_from). Creating and starting the exec are each bounded
        (CONTROL_TIMEOUT_S: EngineTimeout); the output, by the caller's deadline."""
        with self._mapped("the request to create the command's exec"):
            created = self._client().exec_create(
                container_id,
                argv,
                stdout=True,
                stderr=True,
                stdin=stdin,
                tty=False,
                environment=env or None,
                workdir=workdir,
                user=user or "",
            )
        with self._mapped("the request to start the command"):
            response = start_exec(self._client(streaming=True), created["Id"], timeout=CONTROL_TIMEOUT_S)
        return ExecStream(exec_id=created["Id"], _response=response)

    def exec_exit_code(self, exec_id: str) -> int | None:
        try:
            with self._mapped():
                info = self._client().exec_inspect(exec_id)
        except ObjectNotFound as exc:
            raise ObjectNotFound(
                "the command's exec is gone from the engine: its sandbox was removed or restarted during the call"
            ) from exc
        return None if info.get("Running") else info.get("ExitCode")

    def nested(
        self, container_id: str, socket_path: str, kind: str = "docker", user: str | None = None
    ) -> NestedEngine:
        """The engine inside a sandbox, reached through an exec tunnel (see exec_transport) run as
        `user` ("uid:gid"; default the container's root)."""
        with self._mapped():
            host_api = self._client()
        return NestedEngine(nested_api_client(host_api, container_id, socket_path, user), mapped_nested, kind)

    def channel(self, container_id: str, socket_path: str, user: str) -> Channel:
        """Persistent HTTP to the unix socket `socket_path` in the container, tunnelled as `user`
        ("uid:gid"); see channel.py. The caller closes it."""
        return Channel(self._client, container_id, socket_path, user)

    def scoped(self, labels: dict[str, str]) -> NestedEngine:
        """This engine seen through the objects carrying `labels` (sock mode's view for one sandbox)."""
        with self._mapped():
            api = self._client()  # its streams (builds, logs, loads) ask for no timeout themselves
        return NestedEngine(api, self._mapped, "docker", scope=labels, owns_api=False)

    # -- files and image archives ---------------------------------------------------------

    def write_archive(self, container_id: str, directory: str, tar: bytes) -> None:
        """Unpack a tar archive into `directory` (which must exist) inside the container."""
        with self._mapped():
            self._client().put_archive(container_id, directory, tar)

    def image_transfer(
        self, ref: str, container_id: str, socket_path: str, kind: str, user: str | None = None
    ) -> ImageTransfer:
        """The host image `ref` on its way, `docker save`d, into the engine listening on
        `socket_path` inside `container_id` (through the exec tunnel run as `user`; never to disk).
        The export is started here (bounded by CONTROL_TIMEOUT_S); run, abort and close the transfer."""
        found = self.image_tags(ref)
        if found is None:
            raise ImageMissing(f"the host engine has no image {ref!r}: build or pull it on the host first")
        api = self._client(streaming=True)
        with self._mapped("the request to export the image"):
            export = api._get(api._url("/images/{0}/get", ref), stream=True, timeout=CONTROL_TIMEOUT_S)
            api._raise_for_status(export)
        unbounded(export)
        try:
            nested = self.nested(container_id, socket_path, kind, user)
        except BaseException:
            end_response(export)
            raise
        return ImageTransfer(export, self._mapped, nested, ref, found[0])

    def image_tags(self, ref: str) -> tuple[str, tuple[str, ...]] | None:
        """(id, tags) of a host image, or None if the host engine has no such image."""
        try:
            with self._mapped():
                data = self._client().inspect_image(ref)
        except (ImageMissing, ObjectNotFound):
            return None
        return data["Id"], tuple(data.get("RepoTags") or ())

    def image_names(self) -> list[str]:
        """Every tag the host engine holds (for matching the operator's loadable patterns)."""
        with self._mapped():
            rows = self._client().images()
        return sorted({tag for row in rows for tag in row.get("RepoTags") or [] if tag != "<none>:<none>"})

    def exec_run(
        self, container_id: str, argv: list[str], user: str | None = None, stdin: bytes | None = None
    ) -> tuple[int, str, str]:
        """A short command to completion, as `user` ("uid:gid"; default the container's root), fed
        `stdin` (then closed) if given: (exit code, stdout, stderr)."""
        api = self._client()
        output: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        with self._mapped():
            created = api.exec_create(
                container_id, argv, stdout=True, stderr=True, stdin=stdin is not None, user=user or ""
            )
            stream = ExecStream(created["Id"], start_exec(api, created["Id"]))
            try:
                if stdin is not None:
                    stream.feed(stdin)
                for kind, data in stream.chunks():
                    output[kind] += data
            finally:
                stream.close()
            code = api.exec_inspect(created["Id"]).get("ExitCode")
        decode = lambda b: bytes(b).decode("utf-8", errors="replace")  # noqa: E731
        return (code if code is not None else -1), decode(output[1]), decode(output[2])

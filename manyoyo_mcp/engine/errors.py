"""The one map from docker-py's exceptions to the project's own (manyoyo_mcp.errors), most specific
first. The host engine's connection (connection.py) and a sandbox's engine (nested.py) apply it;
nothing outside this package ever sees a docker-py exception."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import docker.errors
import requests.exceptions
import urllib3.exceptions

from manyoyo_mcp.errors import EngineFailure, ImageMissing, ManyoyoError, ObjectConflict, ObjectNotFound

Mapped = Callable[[], contextlib.AbstractContextManager[None]]

START_ENGINE_HELP = (
    "Start it (as root: `dockerd > /var/log/dockerd.log 2>&1 &`, or `sudo systemctl start docker`; "
    "in a manyoyo-mcp checkout: `scripts/engine-up`), or point DOCKER_HOST / MANYOYO_DOCKER_HOST at a "
    "running engine, then call the tool again."
)


def api_error(exc: docker.errors.DockerException) -> ManyoyoError | None:
    """The project's error for an answer the engine gave; None when it gave none (unreachable)."""
    if isinstance(exc, docker.errors.ImageNotFound):
        return ImageMissing(_explanation(exc))
    if isinstance(exc, docker.errors.NotFound):
        return ObjectNotFound(_explanation(exc))
    if isinstance(exc, docker.errors.APIError):
        if exc.status_code == 409:
            return ObjectConflict(_explanation(exc))
        return EngineFailure(f"the engine refused: {_explanation(exc)}")
    return None


@contextlib.contextmanager
def mapped_nested() -> Iterator[None]:
    """For a sandbox's engine: a lost tunnel is that call's failure, not the host engine's."""
    try:
        yield
    except docker.errors.DockerException as exc:  # first: APIError is a requests exception too
        raise (api_error(exc) or EngineFailure(f"the sandbox's engine failed: {exc}")) from exc
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as exc:
        raise EngineFailure(f"the connection to the sandbox's engine was lost ({exc})") from exc


def mapped_iter(mapped: Mapped, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A stream of chunks whose failures, while it is read, are mapped too."""
    with mapped():
        yield from chunks


def _explanation(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)

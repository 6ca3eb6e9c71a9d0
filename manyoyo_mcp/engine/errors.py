"""The one map from docker-py's exceptions to the project's own (manyoyo_mcp.errors), most specific
first. The host engine's connection (connection.py) and a sandbox's engine (nested.py) apply it;
nothing outside this package ever sees a docker-py exception."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import docker.errors
import requests.exceptions
import urllib3.exceptions

from manyoyo_mcp.errors import (
    EngineFailure,
    ImageMissing,
    ManyoyoError,
    NestedEngineLost,
    ObjectConflict,
    ObjectNotFound,
)

Mapped = Callable[..., contextlib.AbstractContextManager[None]]
"""A context that maps docker-py's exceptions; it may take the phase (what the engine was asked)."""

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
def mapped_nested(phase: str = "a request") -> Iterator[None]:
    """For a sandbox's engine: a lost tunnel (or no answer in time) is NestedEngineLost, that
    sandbox's failure, never the host engine's; the server then looks into the sandbox."""
    try:
        yield
    except docker.errors.DockerException as exc:  # first: APIError is a requests exception too
        raise (api_error(exc) or NestedEngineLost(f"the sandbox's engine failed: {exc}")) from exc
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if _timed_out(exc):
            raise NestedEngineLost(f"the sandbox's engine did not answer {phase} in time", timed_out=True) from exc
        raise NestedEngineLost(f"the connection to the sandbox's engine was lost ({exc})") from exc


def _timed_out(exc: BaseException) -> bool:
    """Whether a failure was a read or connect timeout (requests wraps some in a ConnectionError)."""
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    return isinstance(exc, timeouts) or any(isinstance(arg, timeouts) for arg in exc.args)


def _explanation(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)

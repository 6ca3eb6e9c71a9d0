"""HTTP/1.1 with JSON bodies over a unix socket: just what the server and a person with
`curl --unix-socket` need (persistent connections, Content-Length bodies, no chunking).

HTTP because both ends already speak it (the server's HTTP client over the exec tunnel, curl in the
sandbox) and because each answer is self-delimited, so a broken exchange is noticed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("sandboxd")
MAX_BODY = 16 << 20
MAX_HEADERS = 64
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
REASONS.update({409: "Conflict", 413: "Payload Too Large", 500: "Internal Server Error"})


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    close: bool = False

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise HttpError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise HttpError(400, "the body must be a JSON object")
        return value


Handler = Callable[[Request], Awaitable[tuple[int, dict[str, Any]]]]


async def serve(path: str, handler: Handler) -> asyncio.AbstractServer:
    """Listen on the unix socket `path` (replacing whatever is there), readable by root only."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(lambda r, w: _connection(r, w, handler), path=path)
    finally:
        os.umask(old)


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    try:
        while (request := await _read(reader)) is not None:
            try:
                status, payload = await handler(request)
            except HttpError as exc:
                status, payload = exc.status, {"error": exc.message}
            except Exception as exc:
                log.exception("%s %s failed", request.method, request.path)
                status, payload = 500, {"error": f"sandboxd failed: {type(exc).__name__}: {exc}"}
            body = json.dumps(payload, separators=(",", ":")).encode()
            head = f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            if request.close:
                break
    except HttpError as exc:
        body = json.dumps({"error": exc.message}).encode()
        writer.write(f"HTTP/1.1 {exc.status} Error\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _read(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    if not line:
        return None
    try:
        method, target, _ = line.decode("latin-1").split(" ", 2)
    except ValueError:
        raise HttpError(400, "a request line is METHOD TARGET HTTP/1.1") from None
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        if len(headers) >= MAX_HEADERS:
            raise HttpError(400, "too many headers")
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise HttpError(413, f"a body may have at most {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    close = headers.get("connection", "").lower() == "close"
    return Request(method.upper(), url.path, dict(parse_qsl(url.query)), body, close)

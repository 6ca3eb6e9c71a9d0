"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Debian's `chromium` (scripts/setup --tests installs it) runs with a throwaway profile and no
network features; one page target is driven through its WebSocket: set the viewport, load a
file, evaluate JavaScript, take screenshots. The WebSocket client below is the least RFC 6455
needed for that (client frames masked, server frames unmasked, fragments joined).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, executable: str, timeout: float = 30) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="manyoyo-chromium-", ignore_cleanup_errors=True)
        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes form a group of their own, ended with it
        )
        self._ids = 0
        self._events: list[dict[str, Any]] = []
        try:
            self._socket = _connect(_page_socket_url(Path(self._profile.name), self._process, timeout), timeout)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask Chromium to quit (it ends its helpers and flushes its profile), else end its group."""
        if getattr(self, "_socket", None) is not None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.send("Browser.close")
            self._socket.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)  # a helper left behind
        self._profile.cleanup()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; returns its result (events met meanwhile are kept)."""
        self._ids += 1
        ident = self._ids
        _send_text(self._socket, json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(_receive(self._socket))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for message in self._events:
                if message.get("method") == event:
                    self._events.remove(message)
                    return message.get("params", {})
            self._events.append(json.loads(_receive(self._socket)))
        raise TimeoutError(event)

    def open(self, url: str, width: int, height: int, *, mobile: bool = False, scripts: bool = True) -> None:
        """Load `url` in a viewport of width x height CSS pixels (a phone's when `mobile`)."""
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
        self.send("Emulation.setScriptExecutionDisabled", value=not scripts)
        self._events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            width, height = self.evaluate("[innerWidth, document.documentElement.scrollHeight]")
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))


def _page_socket_url(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    """The page target's WebSocket URL, once Chromium has written its port."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before opening its debugging port")
        if time.monotonic() > deadline:
            raise TimeoutError("chromium did not open its debugging port")
        time.sleep(0.05)
    port = port_file.read_text().split()[0]
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            raise TimeoutError("chromium opened no page")
        time.sleep(0.05)


def _connect(url: str, timeout: float) -> socket.socket:
    parts = urlparse(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("the DevTools socket closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise ConnectionError(f"DevTools refused the WebSocket: {head.decode(errors='replace')}")
    return sock


def _send_text(sock: socket.socket, text: str) -> None:
    payload, mask = text.encode(), os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def _receive(sock: socket.socket) -> str:
    """One whole text message (continuation frames joined)."""
    message = b""
    while True:
        first, second = _exactly(sock, 2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", _exactly(sock, 2))
        elif length == 127:
            (length,) = struct.unpack("!Q", _exactly(sock, 8))
        payload = _exactly(sock, length)
        opcode = first & 0x0F
        if opcode == 0x8:
            raise ConnectionError("chromium closed the DevTools socket")
        if opcode in (0x0, 0x1, 0x2):
            message += payload
            if first & 0x80:
                return message.decode()


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the DevTools socket closed")
        data += chunk
    return bytes(data)

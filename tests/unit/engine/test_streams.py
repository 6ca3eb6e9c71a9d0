"""Streams cut from another thread end quietly (pure)."""

from __future__ import annotations

import io

import pytest


class _StalledResponse:
    """A chunked log response that, once cut from another thread, fails the way http.client does."""

    def __init__(self, frames: bytes) -> None:
        self._data = io.BytesIO(frames)
        self.cut = False
        self.raw = self

    def read(self, n: int) -> bytes:
        data = self._data.read(n)
        if not data and self.cut:
            raise AttributeError("'NoneType' object has no attribute 'close'")
        return data

    def close(self) -> None:
        self.cut = True


def test_a_log_stream_cut_by_close_ends_quietly_and_keeps_what_was_read():
    from contextlib import nullcontext

    from manyoyo_mcp.engine.nested import LogStream

    response = _StalledResponse(b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n")
    stream = LogStream(response, nullcontext)
    frames = stream.frames()
    assert next(frames) == (1, b"hi\n")
    stream.close()
    assert list(frames) == []
    uncut = LogStream(_StalledResponse(b""), nullcontext)
    uncut._response.cut = True  # failing without our close is an error, not an end
    with pytest.raises(AttributeError):
        list(uncut.frames())

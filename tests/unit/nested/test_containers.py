"""container_logs' `since` (pure)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.nested.containers import since_epoch


def test_since_takes_seconds_ago_or_a_zoned_time():
    assert abs(since_epoch(60) - (time.time() - 60)) < 2
    assert since_epoch("2026-11-29T10:00:00Z") == int(datetime(2026, 11, 29, 10, tzinfo=UTC).timestamp())
    assert since_epoch("2026-11-29T11:00:00+01:00") == since_epoch("2026-11-29T10:00:00Z")
    for bad in ("yesterday", "2026-11-29T10:00:00", "-5"):
        with pytest.raises(InvalidArgument):
            since_epoch(bad)

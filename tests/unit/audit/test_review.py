"""Reading the log as a reviewer (pure): time filters."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.anyio


def test_time_filters_take_durations_and_iso_times():
    from manyoyo_mcp.audit.review import parse_moment

    assert abs(parse_moment("2h").timestamp() - (time.time() - 7200)) < 5
    assert parse_moment("2026-11-29T10:00:00Z") == parse_moment("2026-11-29T11:00:00+01:00")

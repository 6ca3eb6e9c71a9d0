"""A day's log written by the server's own audit writer, shared by the review tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from manyoyo_mcp.audit.report import Review, review

from .day import write_day


@pytest.fixture(scope="session")
def day_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("day"))


@pytest.fixture(scope="session")
def day(day_log: Path) -> Review:
    return review(day_log)

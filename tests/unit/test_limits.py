"""Resource limits (pure): memory read as Docker reads it, defaults, ceilings."""

import pytest

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.limits import Limits, format_memory, parse_memory, resolve_limits

DEFAULTS = Limits(cpus=2, memory_bytes=4 * 1024**3, pids=4096)
CEILINGS = Limits(cpus=4, memory_bytes=8 * 1024**3, pids=8192)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512m", 512 * 1024**2),
        ("2g", 2 * 1024**3),
        ("2G", 2 * 1024**3),
        ("1.5g", int(1.5 * 1024**3)),
        ("256MiB", 256 * 1024**2),
        ("1048576", 1024**2),
        (1024, 1024),
    ],
)
def test_memory_is_read_the_way_docker_reads_it(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1g", "2x", "1e9", "g"])
def test_unreadable_memory_is_refused_with_the_forms_allowed(text):
    with pytest.raises(InvalidArgument, match="512m"):
        parse_memory(text)


def test_memory_formats_back_to_its_shortest_unit():
    assert format_memory(4 * 1024**3) == "4g"
    assert format_memory(1536 * 1024**2) == "1536m"
    assert format_memory(1000) == "1000"


def test_omitted_limits_take_the_defaults():
    assert resolve_limits(cpus=None, memory=None, pids=None, defaults=DEFAULTS, ceilings=CEILINGS) == DEFAULTS


def test_a_default_above_its_ceiling_is_lowered_to_the_ceiling():
    low = Limits(cpus=1, memory_bytes=1024**3, pids=100)
    assert resolve_limits(cpus=None, memory=None, pids=None, defaults=DEFAULTS, ceilings=low) == low


@pytest.mark.parametrize(
    ("cpus", "memory", "pids", "message"),
    [
        (5, None, None, "cpus must be more than 0 and at most 4"),
        (0, None, None, "cpus must be more than 0"),
        (None, "9g", None, "memory must be between 128m and 8g"),
        (None, "1m", None, "memory must be between 128m and 8g"),
        (None, None, 9000, "pids must be between 64 and 8192"),
        (None, None, 1, "pids must be between 64 and 8192"),
    ],
)
def test_limits_beyond_the_ceilings_are_refused_naming_the_range(cpus, memory, pids, message):
    with pytest.raises(InvalidArgument, match=message):
        resolve_limits(cpus=cpus, memory=memory, pids=pids, defaults=DEFAULTS, ceilings=CEILINGS)


def test_limits_at_the_ceilings_pass():
    chosen = resolve_limits(cpus=4, memory="8g", pids=8192, defaults=DEFAULTS, ceilings=CEILINGS)
    assert chosen == CEILINGS

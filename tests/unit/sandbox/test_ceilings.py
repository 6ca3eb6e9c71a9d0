"""Ceilings from the host (pure): shares of what the host has, the operator's values lowered to them,
and the totals all of a scope's sandboxes may hold together."""

from __future__ import annotations

import pytest

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import HostFacts
from manyoyo_mcp.limits import Limits
from manyoyo_mcp.sandbox.ceilings import derive, over_total

GIB = 1024**3
# This project's CI machines: 2 CPUs, 23.5 GiB, pid_max 32768, ~21 GB free.
CI = HostFacts(cpus=2, memory_bytes=25_276_510_208, pid_max=32768, disk_free_bytes=21 * GIB, source="this machine")
BIG = HostFacts(cpus=64, memory_bytes=512 * GIB, pid_max=4_194_304, disk_free_bytes=2000 * GIB, source="this machine")
REMOTE = HostFacts(cpus=8, memory_bytes=32 * GIB, pid_max=32768, disk_free_bytes=None, source="the engine's report")


def settings(**given: object) -> ServerSettings:
    return ServerSettings(scope="t", allowed_host_roots=("/srv",), **given)


def test_per_sandbox_ceilings_are_shares_of_the_host():
    ceilings = derive(settings(), CI)
    assert ceilings.sandbox.cpus == 1.5  # 0.75 of 2 CPUs
    assert ceilings.sandbox.pids == 8192  # 0.25 of pid_max 32768, not the whole of it
    assert ceilings.sandbox.disk_bytes == int(0.8 * 21 * GIB)  # below max_disk (64g): the total's
    assert ceilings.defaults.cpus == 2 and ceilings.defaults.disk_bytes == 8 * GIB  # lowered when used


def test_an_operators_value_is_lowered_to_the_hosts_share_and_a_lower_one_kept():
    assert derive(settings(max_cpus=32, max_pids=100_000), CI).sandbox.cpus == 1.5
    assert derive(settings(max_cpus=32, max_pids=100_000), CI).sandbox.pids == 8192
    assert derive(settings(max_cpus=1, max_pids=1000), CI).sandbox == Limits(1, 16 * GIB, 1000, int(0.8 * 21 * GIB))
    assert derive(settings(host_cpu_share=1), BIG).sandbox.cpus == 64


def test_totals_are_shares_of_the_hosts_cpus_memory_pids_and_free_disk():
    total = derive(settings(), CI).total
    assert total.cpus == 8  # time-shared: four times the CPUs
    assert total.memory_bytes == int(0.75 * CI.memory_bytes)
    assert total.pids == 16384
    assert total.disk_bytes == int(0.8 * 21 * GIB)
    assert derive(settings(max_total_disk="10g"), CI).total.disk_bytes == 10 * GIB


def test_no_sandbox_may_ask_for_more_than_the_total():
    ceilings = derive(settings(max_total_memory="6g", max_total_pids=2000), BIG)
    assert ceilings.sandbox.memory_bytes == 6 * GIB and ceilings.sandbox.pids == 2000


def test_a_remote_engines_free_disk_is_unknown_so_only_the_operators_total_bounds_it():
    assert derive(settings(), REMOTE).total.disk_bytes is None
    assert derive(settings(), REMOTE).sandbox.disk_bytes == 64 * GIB  # max_disk
    assert derive(settings(max_total_disk="100g"), REMOTE).total.disk_bytes == 100 * GIB


def test_quotas_off_leave_no_disk_ceiling_or_default():
    ceilings = derive(settings(disk_quota="off"), CI)
    assert ceilings.sandbox.disk_bytes is None and ceilings.defaults.disk_bytes is None


TOTAL = Limits(cpus=4, memory_bytes=8 * GIB, pids=1000, disk_bytes=20 * GIB)
ONE = Limits(cpus=1, memory_bytes=2 * GIB, pids=200, disk_bytes=5 * GIB)


@pytest.mark.parametrize(
    ("new", "running", "disks", "what"),
    [
        (ONE, [ONE] * 3, [5 * GIB] * 3, None),  # exactly at every total: fits
        (Limits(1.5, GIB, 10, GIB), [ONE] * 3, [], "cpus"),
        (Limits(0.5, 3 * GIB, 10, GIB), [ONE] * 3, [], "memory"),
        (Limits(0.5, GIB, 401, GIB), [ONE] * 3, [], "pids"),
        (Limits(0.5, GIB, 10, 6 * GIB), [ONE] * 3, [5 * GIB] * 3, "disk"),
        (Limits(0.5, GIB, 10, 6 * GIB), [], [5 * GIB] * 3, "disk"),  # stopped sandboxes keep their disks
        (Limits(0.5, GIB, 10, None), [], [5 * GIB] * 4, None),  # no quota asked: nothing to count
    ],
)
def test_a_sandbox_past_a_total_is_named_by_what_it_exceeds(new, running, disks, what):
    problem = over_total(new, running, disks, TOTAL)
    assert (problem[0] if problem else None) == what
    if problem:
        assert "stop or remove a sandbox" in problem[1] and f"MANYOYO_MAX_TOTAL_{what.upper()}" in problem[1]

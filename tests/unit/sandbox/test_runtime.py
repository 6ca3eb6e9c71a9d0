"""Runtime profiles: the outer container's security settings, by name."""

import pytest

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.sandbox.runtime import PROFILES, runtime_profile


def test_the_default_profile_works_without_privileged():
    profile = runtime_profile("standard")
    assert not profile.privileged
    assert set(profile.cap_add) == {"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"}


def test_an_unknown_profile_lists_the_known_ones():
    with pytest.raises(InvalidArgument, match="privileged, standard"):
        runtime_profile("loose")
    assert set(PROFILES) == {"privileged", "standard"}


@pytest.mark.parametrize("name", ["standard", "privileged"])
def test_a_dind_sandbox_starts_with_unlimited_locked_memory(name):
    # crun in the nested engine raises it to load cgroup v2's device filter; nothing inside may.
    assert ("memlock", -1, -1) in runtime_profile(name).ulimits

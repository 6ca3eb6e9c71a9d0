"""describe_policy's data: what an agent reads to plan calls that will pass."""

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.policy.describe import describe


def test_it_says_where_the_agents_commands_run_and_what_of_the_host_is_open():
    containment = describe(ServerSettings(runtime_profile="privileged"))["containment"]
    assert containment["runtime_profile"] == "privileged"
    assert "user namespace" in containment["where_your_commands_run"]
    assert "none of the probed routes" in containment["host_routes_open"]


def test_every_rule_id_is_listed_with_what_is_allowed():
    listed = describe(ServerSettings())["rules"]
    assert [entry["id"] for entry in listed] == list(rule_ids.TABLE)
    assert all(entry["refuses"] and entry["allowed"] for entry in listed)

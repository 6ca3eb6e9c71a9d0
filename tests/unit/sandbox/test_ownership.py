"""Ownership (pure): a reference is an exact sandbox name or a full id; names and engine-side names."""

import pytest

from manyoyo_mcp.config.run_profiles import SANDBOX_NAME
from manyoyo_mcp.engine import ContainerSummary
from manyoyo_mcp.sandbox import ownership

FULL_ID = "a" * 64
OWNED = [
    ContainerSummary(id=FULL_ID, name="manyoyo-dev", state="running", labels={ownership.SANDBOX: "dev"}),
    ContainerSummary(id="b" * 64, name="manyoyo-web", state="exited", labels={ownership.SANDBOX: "web"}),
]


@pytest.mark.parametrize("reference", ["dev", FULL_ID])
def test_a_reference_is_an_exact_sandbox_name_or_a_full_id(reference):
    found = ownership.match_reference(reference, OWNED)
    assert found is not None and found.id == FULL_ID


@pytest.mark.parametrize(
    "reference",
    [
        "a",  # Docker would take a unique id prefix: never here
        "a" * 12,
        "a" * 63,
        "manyoyo-dev",  # the engine-side container name is not a sandbox name
        "DEV",
        "dev ",
        "de",
        "",
        "A" * 64,
    ],
)
def test_prefixes_and_near_misses_match_nothing(reference):
    assert ownership.match_reference(reference, OWNED) is None


@pytest.mark.parametrize("name", ["dev", "a", "my-sandbox_2.1", "x" * 40])
def test_sandbox_names_of_the_allowed_form_pass(name):
    assert SANDBOX_NAME.fullmatch(name)


FULLWIDTH_DEV = "\uff44\uff45\uff56"  # looks like "dev"


@pytest.mark.parametrize(
    "name", ["", "-dev", ".dev", "Dev", "dev/x", "dev x", "x" * 41, "d\u00e9v", "dev\n", "dev\x00", FULLWIDTH_DEV]
)
def test_sandbox_names_outside_the_pattern_fail(name):
    assert not SANDBOX_NAME.fullmatch(name)


def test_engine_side_names_carry_the_prefix_and_the_scope():
    assert ownership.container_name("default", "dev") == "manyoyo-dev"
    assert ownership.container_name("ci", "dev") == "manyoyo-ci-dev"
    assert ownership.engine_volume_name("ci", "dev") == "manyoyo-ci-dev-engine"

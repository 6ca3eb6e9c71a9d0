"""The user a call names, as parsed before the sandbox is asked (pure)."""

import pytest

from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.sandbox.users import parse_user


@pytest.mark.parametrize(
    ("spec", "parts"),
    [("root", ("root", "")), ("1000", ("1000", "")), ("1000:0", ("1000", "0")), ("dev:docker", ("dev", "docker"))],
)
def test_users_split_into_user_and_group(spec, parts):
    assert parse_user(spec) == parts


@pytest.mark.parametrize("spec", ["", ":0", "root:", "a:b:c", "$(id)", "root\n", "-u"])
def test_malformed_users_say_the_forms(spec):
    with pytest.raises(InvalidArgument, match="'root', a user name"):
        parse_user(spec)

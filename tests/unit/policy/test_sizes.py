"""Absurd inputs are refused at the gate, before anything reads them, with the limit they passed
(arguments.too-large); each has a twin just inside the limit that passes. The refusal never
repeats the input."""

from __future__ import annotations

import pytest

from manyoyo_mcp.policy import sizes

from .test_rules import judge

WORD = sizes.ONE_ARGUMENT
EXEC = {"sandbox": "s", "command": "true"}
RUN = {"sandbox": "s", "image": "busybox"}

CASES = [
    # (tool, arguments too large, the same just inside the limit)
    ("exec", {**EXEC, "command": "x" * (WORD + 1)}, {**EXEC, "command": "x" * WORD}),
    ("exec", {**EXEC, "command": "é" * (WORD // 2 + 1)}, {**EXEC, "command": "é" * (WORD // 2)}),  # bytes, not chars
    ("exec", {**EXEC, "command": ["echo", "x" * (WORD + 1)]}, {**EXEC, "command": ["echo", "x" * WORD]}),
    ("exec", {**EXEC, "command": ["z" * 1000] * 1001}, {**EXEC, "command": ["z" * 1000] * 1000}),
    ("exec", {**EXEC, "command": ["z" * 100_000] * 11}, {**EXEC, "command": ["z" * 100_000] * 10}),
    ("exec", {**EXEC, "env": {"B": "w" * WORD}}, {**EXEC, "env": {"B": "w" * (WORD - 2)}}),
    ("exec", {**EXEC, "env": {f"V{i}": "v" * 9_000 for i in range(30)}}, {**EXEC, "env": {"V": "v" * 9_000}}),
    ("exec", {**EXEC, "workdir": "/" + "a" * 5000}, {**EXEC, "workdir": "/" + "a" * 255}),
    ("exec", {**EXEC, "workdir": "/tmp/" + "a" * 256}, {**EXEC, "workdir": "/tmp/" + "a" * 255 + "/b"}),
    ("exec", {**EXEC, "sandbox": "k1" * 3000}, {**EXEC, "sandbox": "k1" * 30}),
    ("create_sandbox", {"workspace": "/srv/projects/" + "a" * 5000}, {"workspace": "/srv/projects/app"}),
    ("create_sandbox", {"workspace": "/srv/projects/" + "/".join(["b" * 200] * 30)}, {"workspace": "/srv/projects"}),
    ("create_sandbox", {"name": "x" * 5000}, {"name": "x" * 40}),
    ("create_sandbox", {"env": {"A": "v" * 300_000}}, {"env": {"A": "v" * 100_000}}),
    ("create_sandbox", {"env": {"A" * 5000: "v"}}, {"env": {"A" * 100: "v"}}),
    ("create_sandbox", {"memory": "9" * 5000}, {"memory": "2g"}),
    ("launch_agent", {"prompt": "p" * 300_000}, {"prompt": "p" * 100_000}),
    (
        "build_image",
        {"sandbox": "s", "dockerfile": "FROM x\n" + "#" * 2_000_000},
        {"sandbox": "s", "dockerfile": "FROM x\n" + "#" * 900_000},
    ),
    ("build_image", {"sandbox": "s", "tag": "t" * 5000}, {"sandbox": "s", "tag": "t" * 100}),
    ("build_image", {"sandbox": "s", "build_args": {"V": "b" * WORD}}, {"sandbox": "s", "build_args": {"V": "b" * 99}}),
    ("run_container", {**RUN, "command": "echo " + "q" * 200_000}, {**RUN, "command": "echo q"}),
    ("run_container", {**RUN, "image": "i" * 5000}, {**RUN, "image": "i" * 200}),
    ("run_container", {**RUN, "ports": ["80"] * 1001}, {**RUN, "ports": ["80"] * 3}),
    ("run_container", {**RUN, "volumes": ["/workspace/" + "d" * 300 + ":/d"]}, {**RUN, "volumes": ["/workspace/d:/d"]}),
    ("run_container", {**RUN, "sysctls": {"k" * 5000: "1"}}, {**RUN, "sysctls": {"net.ipv4.tcp_fin_timeout": "1"}}),
    ("container_logs", {"sandbox": "s", "container": "c" * 5000}, {"sandbox": "s", "container": "c" * 128}),
    ("load_image", {"sandbox": "s", "image": "l" * 5000}, {"sandbox": "s", "image": "node:22"}),
]


def _settings():
    from .test_rules import _settings

    return _settings(loadable_images=("node:*",))


@pytest.mark.parametrize(("tool", "absurd", "twin"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_an_absurdly_large_argument_is_refused_naming_its_limit(tool, absurd, twin):
    refused = judge(tool, absurd, _settings())
    assert (refused.allowed, refused.rule) == (False, "arguments.too-large"), refused.reason
    assert "at most" in refused.reason and len(refused.reason) < 400
    passed = judge(tool, twin, _settings())
    assert passed.rule != "arguments.too-large", passed.reason


def test_the_limits_are_in_describe_policy():
    described = sizes.limits()
    assert str(sizes.ONE_ARGUMENT) in described["command, prompt"]
    assert str(sizes.PATH) in described["workspace, workdir, context, path, volumes"]

"""The policy's rules (pure), judged the way the gate judges: the tool's own argument model validates,
then the rules decide; every decision carries a rule id; unknown tools and broken rules fail closed."""

from __future__ import annotations

import functools
import os

import pytest

from manyoyo_mcp import policy
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.server import build_server
from manyoyo_mcp.server.gate import AuditedServer


def _settings(**values) -> ServerSettings:
    return ServerSettings(allowed_host_roots=("/srv/projects",), **values)


@functools.cache
def _server(settings_json: str) -> AuditedServer:
    return build_server(ServerSettings.model_validate_json(settings_json))


def judge(tool: str, arguments: dict, settings: ServerSettings | None = None) -> policy.Decision:
    """The gate's decision: the tool's own argument model validates, then the policy's rules judge."""
    return _server((settings or _settings()).model_dump_json()).judge(tool, arguments)[0]


@pytest.mark.parametrize(
    ("tool", "arguments", "rule"),
    [
        ("create_sandbox", {"image": "ubuntu:latest"}, "sandbox.image-allowlist"),
        ("create_sandbox", {"workspace": "/etc"}, "host.mount-system-path"),
        ("create_sandbox", {"workspace": "/var/run/docker.sock"}, "host.mount-engine-socket"),
        ("exec", {"sandbox": "s", "command": "true", "timeout_s": 10**9}, "limits.timeout-ceiling"),
        ("build_image", {"sandbox": "s", "context": "/proc"}, "build.context-protected-path"),
        ("build_image", {"sandbox": "s", "context": "../../var/lib/docker"}, "build.context-protected-path"),
        (
            "run_container",
            {"sandbox": "s", "image": "x", "volumes": ["/var/run/docker.sock:/s"]},
            "nested.mount-protected-path",
        ),
        ("run_container", {"sandbox": "s", "image": "x", "volumes": ["//proc//:/p:ro"]}, "nested.mount-protected-path"),
        *(
            ("run_container", {"sandbox": "s", "image": "x", "volumes": [volume]}, "nested.mount-protected-path")
            for volume in (
                "/var/run/docker.sock:/var/run/docker.sock",
                "/run/podman/podman.sock:/s",
                "/:/host",
                "/proc:/p",
                "/workspace/../proc:/p",
                "//sys/:/s",
                "/var/lib/docker:/d",
                "/dev:/dev",
            )
        ),
        ("load_image", {"sandbox": "s", "image": "manyoyo-sandbox:latest"}, "image.load-allowlist"),
        ("docker_run_on_host", {}, "tool.unknown"),
        ("build_image", {"sandbox": "s", "build_args": {"NPM_TOKEN": "abc"}}, "build.secret-args"),
        ("build_image", {"sandbox": "s", "build_args": {"db_password": "x"}}, "build.secret-args"),
        ("build_image", {"sandbox": "s", "build_args": {"V": "ghp_" + "a" * 36}}, "build.secret-args"),
        ("build_image", {"sandbox": "s", "build_args": {"URL": "https://u:pw12345@host/x"}}, "build.secret-args"),
        ("build_image", {"sandbox": "s", "secrets": {"t": "/proc/self/environ"}}, "build.secret-protected-path"),
        ("build_image", {"sandbox": "s", "secrets": {"t": "../../run/secrets/x"}}, "build.secret-protected-path"),
        ("build_image", {"sandbox": "s", "secrets": {"a": "ok", "b": "/"}}, "build.secret-protected-path"),
        ("build_image", {"sandbox": "s", "secrets": {"t": "//var/lib/docker/key"}}, "build.secret-protected-path"),
    ],
)
def test_each_denial_names_its_rule(tool, arguments, rule):
    decided = judge(tool, arguments)
    assert (decided.allowed, decided.rule) == (False, rule), decided.reason
    assert decided.reason


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("create_sandbox", {"workspace": "/srv/projects/app"}),
        ("exec", {"sandbox": "s", "command": "true", "timeout_s": 10}),
        ("build_image", {"sandbox": "s", "context": "app"}),
        ("run_container", {"sandbox": "s", "image": "x", "volumes": ["/workspace/data:/d", "cache:/c"]}),
        ("load_image", {"sandbox": "s", "image": "node:22"}),
        ("list_sandboxes", {}),
        ("build_image", {"sandbox": "s", "build_args": {"NODE_VERSION": "22", "URL": "https://host/x"}}),
        ("build_image", {"sandbox": "s", "secrets": {"npm": ".npmrc", "key": "/home/dev/.ssh/id_ed25519"}}),
        ("exec", {"sandbox": "s", "command": "id", "user": "1000:1000"}),
        ("run_container", {"sandbox": "s", "image": "x", "init": True, "read_only": True, "tmpfs": ["/tmp"]}),
    ],
)
def test_harmless_calls_are_allowed_with_a_rule_id(tool, arguments):
    decided = judge(tool, arguments, _settings(loadable_images=("node:*",)))
    assert decided.allowed and decided.rule == f"tool.{tool}"


def test_a_rule_that_breaks_denies_the_call(monkeypatch):
    def broken(arguments, settings):
        raise RuntimeError("bug")

    monkeypatch.setitem(policy.RULES, "exec", (broken,))
    decided = judge("exec", {"sandbox": "s", "command": "true"})
    assert (decided.allowed, decided.rule) == (False, "policy.error")


def test_the_default_root_is_the_folder_the_server_starts_in(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert ServerSettings().allowed_host_roots == (os.getcwd(),)


def test_secret_build_args_can_be_warned_about_instead():
    arguments = {"sandbox": "s", "build_args": {"API_KEY": "abc"}}
    decided = judge("build_image", arguments, _settings(secret_build_args="warn"))
    assert decided.allowed and decided.rule == "build.secret-args-warned" and "API_KEY" in decided.reason
    assert judge("build_image", arguments, _settings(secret_build_args="allow")).rule == "tool.build_image"


RUN = {"sandbox": "s", "image": "x"}


@pytest.mark.parametrize(
    ("bad", "twin", "rule"),
    [
        ({"cap_add": ["SYS_ADMIN"]}, {"cap_add": ["NET_RAW"]}, "nested.capability"),
        ({"cap_add": ["sys_admin"]}, {"cap_add": ["net_raw"]}, "nested.capability"),
        ({"cap_add": ["CAP_SYS_ADMIN"]}, {"cap_add": ["CAP_NET_RAW"]}, "nested.capability"),
        ({"cap_add": ["Cap_Sys_Module"]}, {"cap_add": ["Cap_Chown"]}, "nested.capability"),
        ({"cap_add": ["ALL"]}, {"cap_add": ["KILL"]}, "nested.capability"),
        ({"cap_add": ["all"]}, {"cap_add": ["kill"]}, "nested.capability"),
        ({"cap_add": [" NET_ADMIN "]}, {"cap_add": [" NET_BIND_SERVICE "]}, "nested.capability"),
        ({"cap_add": ["SYS_PTRACE"]}, {"cap_add": ["SETUID"]}, "nested.capability"),
        ({"cap_add": ["ＳＹＳ_ADMIN"]}, {"cap_add": ["SETGID"]}, "nested.capability"),  # noqa: RUF001
        ({"cap_add": ["SYS_ADMIN\x00"]}, {"cap_add": ["MKNOD"]}, "nested.capability"),
        (
            {"sysctls": {"kernel.core_pattern": "|/x"}},
            {"sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"}},
            "nested.sysctl",
        ),
        (
            {"sysctls": {"kernel/core_pattern": "|/x"}},
            {"sysctls": {"net/ipv4/ping_group_range": "0 1"}},
            "nested.sysctl",
        ),
        ({"sysctls": {"net.ipv4.ip_forward": "1"}}, {"sysctls": {"net.ipv4.tcp_fin_timeout": "30"}}, "nested.sysctl"),
        ({"sysctls": {"vm.overcommit_memory": "1"}}, {"sysctls": {"kernel.shm_rmid_forced": "1"}}, "nested.sysctl"),
        ({"restart": "always"}, {"restart": "no"}, "nested.restart-policy"),
        ({"restart": "unless-stopped"}, {"restart": "on-failure"}, "nested.restart-policy"),
        ({"restart": "on-failure:100"}, {"restart": "on-failure:3"}, "nested.restart-policy"),
        ({"restart": "no:3"}, {"restart": "NO"}, "nested.restart-policy"),
        ({"tmpfs": ["/tmp:suid"]}, {"tmpfs": ["/tmp:nosuid"]}, "nested.tmpfs"),
        ({"tmpfs": ["/tmp:dev"]}, {"tmpfs": ["/tmp:nodev"]}, "nested.tmpfs"),
        ({"tmpfs": ["/tmp:size=64m,mpol=bind"]}, {"tmpfs": ["/tmp:size=64m,mode=1777"]}, "nested.tmpfs"),
        ({"tmpfs": ["/tmp:size=lots"]}, {"tmpfs": ["/tmp:size=50%"]}, "nested.tmpfs"),
        ({"tmpfs": ["/tmp:mode=rwx"]}, {"tmpfs": ["/tmp:mode=0755"]}, "nested.tmpfs"),
        ({"tmpfs": ["/tmp:uid=-1"]}, {"tmpfs": ["/tmp:uid=1000,gid=1000"]}, "nested.tmpfs"),
        ({"tmpfs": ["/run", "/tmp:huge=always"]}, {"tmpfs": ["/run", "/tmp:exec,rw"]}, "nested.tmpfs"),
        ({"tmpfs": ["/tmp:context=x"]}, {"tmpfs": ["/tmp:nr_inodes=1k"]}, "nested.tmpfs"),
    ],
)
def test_nested_options_outside_the_allowlists_are_refused_and_their_twins_pass(bad, twin, rule):
    refused = judge("run_container", {**RUN, **bad})
    allowed = judge("run_container", {**RUN, **twin})
    assert (refused.allowed, refused.rule) == (False, rule), refused.reason
    assert allowed.allowed, allowed.reason


@pytest.mark.parametrize(
    ("spec", "owner", "refused"),
    [
        ("65536", (1000, 1000), "65536"),
        ("0:70000", (1000, 1000), "70000"),
        ("100000:100000", (1000, 1000), "100000"),
        ("4294967294", (0, 0), "4294967294"),
        ("dev:65536", (1000, 1000), "65536"),
    ],
)
def test_a_user_id_the_sandbox_proper_does_not_map_is_refused_naming_it(spec, owner, refused):
    decided = policy.user_denial(spec, owner)
    assert decided is not None and (decided.allowed, decided.rule) == (False, "sandbox.user-unmapped")
    assert f"id {refused} " in decided.reason and f"{owner[0]}:{owner[1]}" in decided.reason


@pytest.mark.parametrize(
    ("spec", "owner"),
    [
        ("root", (1000, 1000)),
        ("65535:65535", (1000, 1000)),
        ("0", (0, 0)),
        ("100000:100000", (100000, 100000)),  # the workspace owner's own ids, kept as themselves
        ("100000", (100000, 5000)),
        ("dev:docker", (1000, 1000)),
        ("nobody", (1000, 1000)),
    ],
)
def test_users_the_sandbox_proper_maps_pass(spec, owner):
    assert policy.user_denial(spec, owner) is None

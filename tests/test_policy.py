"""The policy (pure): host paths for workspaces, in many encodings, each bad one with a harmless twin;
every tool's decision carries a rule id; unknown tools and broken rules fail closed."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from manyoyo_mcp import policy
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy.host_paths import judge_host_path
from manyoyo_mcp.server import build_server
from manyoyo_mcp.server.gate import AuditedServer


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fake home folder with credential folders, a project, and symlinks pointing at both."""
    home = tmp_path / "home" / "dev"
    for folder in (".ssh", ".docker", ".aws", ".kube", ".config/gcloud", "projects/app/src", ".manyoyo/audit"):
        (home / folder).mkdir(parents=True)
    (home / "projects" / "link-to-ssh").symlink_to(home / ".ssh")
    (home / "projects" / "link-to-app").symlink_to(home / "projects" / "app")
    (home / "projects" / "link-to-etc").symlink_to("/etc")
    (home / "projects" / "sock-dir").mkdir()
    return home


def verdict(home: Path, given: str, roots: tuple[str, ...] | None = None):
    return judge_host_path(given, roots=roots or (str(home / "projects"),), home=str(home))


# (bad path, rule it must hit, harmless twin that must pass). {h} is the fake home.
HOST_PATHS = [
    ("/", "host.mount-system-path", "{h}/projects/app"),
    ("//", "host.mount-system-path", "{h}//projects//app"),
    ("/etc", "host.mount-system-path", "{h}/projects/app/src"),
    ("/etc/", "host.mount-system-path", "{h}/projects/app/src/"),
    ("/ETC/../etc", "host.mount-system-path", "{h}/projects/app/../app"),
    ("/proc/self/root", "host.mount-system-path", "{h}/projects/app/./src"),
    ("/sys/fs/cgroup", "host.mount-system-path", "{h}/projects"),
    ("/dev", "host.mount-system-path", "{h}/projects/app"),
    ("/boot", "host.mount-system-path", "{h}/projects/app"),
    ("/root", "host.mount-system-path", "{h}/projects/app"),
    ("/var/lib/docker/volumes", "host.mount-system-path", "{h}/projects/app"),
    ("/var/run/docker.sock", "host.mount-engine-socket", "{h}/projects/app"),
    ("/run/docker.sock", "host.mount-engine-socket", "{h}/projects/app"),
    ("/run/containerd/containerd.sock", "host.mount-engine-socket", "{h}/projects/app"),
    ("/run/podman/podman.sock", "host.mount-engine-socket", "{h}/projects/app"),
    ("/var/run", "host.mount-system-path", "{h}/projects/app"),
    ("{h}/projects/sock-dir/docker.sock", "host.mount-engine-socket", "{h}/projects/sock-dir"),
    ("{h}", "host.mount-home", "{h}/projects/app"),
    ("{h}/", "host.mount-home", "{h}/projects/app/"),
    ("~", "host.mount-home", "~/projects/app"),
    ("~/", "host.mount-home", "~/projects/app/"),
    ("{h}/projects/..", "host.mount-home", "{h}/projects/app/.."),
    ("~/.ssh", "host.mount-credentials", "~/projects/app"),
    ("~/.ssh/", "host.mount-credentials", "~/projects/app/src"),
    ("{h}/.docker", "host.mount-credentials", "{h}/projects/app"),
    ("~/.aws", "host.mount-credentials", "~/projects/app"),
    ("~/.kube", "host.mount-credentials", "~/projects/app"),
    ("~/.config/gcloud", "host.mount-credentials", "~/projects/app"),
    ("~/.config", "host.mount-credentials", "~/projects/app"),
    ("~/.manyoyo/audit", "host.mount-credentials", "~/projects/app"),
    ("{h}/projects/link-to-ssh", "host.mount-credentials", "{h}/projects/link-to-app"),
    ("{h}/projects/link-to-etc", "host.mount-system-path", "{h}/projects/link-to-app"),
    ("{h}/projects/app/../../.ssh", "host.mount-credentials", "{h}/projects/app/../app"),
    ("{h}/../dev/.aws", "host.mount-credentials", "{h}/../dev/projects/app"),
    ("/srv", "host.mount-outside-roots", "{h}/projects/app"),
    ("{h}/..", "host.mount-credentials", "{h}/projects/app"),
    ("{h}/projects-evil", "host.mount-outside-roots", "{h}/projects/app"),
    ("{h}/projects/app\x00/etc", "host.path-invalid", "{h}/projects/app"),
    ("", "host.path-invalid", "{h}/projects/app"),
    ("/ｅtc", "host.mount-outside-roots", "{h}/projects/app"),  # noqa: RUF001 (a look-alike 'e')
    ("/home", "host.mount-outside-roots", "{h}/projects/app"),
]


@pytest.mark.parametrize(("bad", "rule", "twin"), HOST_PATHS)
def test_bad_host_paths_are_refused_and_their_twins_pass(home, monkeypatch, bad, rule, twin):
    monkeypatch.setenv("HOME", str(home))
    if "sock-dir/docker.sock" in bad:
        Path(bad.format(h=home)).touch()
    refused = verdict(home, bad.format(h=home).replace("~", str(home)) if bad.startswith("~") else bad.format(h=home))
    allowed = verdict(
        home, twin.format(h=home).replace("~", str(home), 1) if twin.startswith("~") else twin.format(h=home)
    )
    assert (refused.allowed, refused.rule) == (False, rule), refused.reason
    assert allowed.allowed, allowed.reason


def test_a_tilde_is_the_home_folder_given():
    decided = judge_host_path("~/.ssh", roots=("/",), home="/home/someone")
    assert decided.rule == "host.mount-credentials" and "/home/someone/.ssh" in decided.reason


def test_a_folder_holding_credentials_is_refused_even_inside_a_root(home):
    decided = judge_host_path(str(home.parent), roots=(str(home.parent.parent),), home=str(home))
    assert decided.rule == "host.mount-credentials"


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
    ],
)
def test_nested_options_outside_the_allowlists_are_refused_and_their_twins_pass(bad, twin, rule):
    refused = judge("run_container", {**RUN, **bad})
    allowed = judge("run_container", {**RUN, **twin})
    assert (refused.allowed, refused.rule) == (False, rule), refused.reason
    assert allowed.allowed, allowed.reason

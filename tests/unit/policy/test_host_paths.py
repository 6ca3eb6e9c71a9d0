"""Host paths for workspaces (pure), in many encodings, each bad one with a harmless twin."""

from __future__ import annotations

from pathlib import Path

import pytest

from manyoyo_mcp.policy.host_paths import judge_host_path


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
    ("{h}/projects/" + "a" * 256, "host.path-invalid", "{h}/projects/" + "a" * 255),  # NAME_MAX
    ("{h}/projects/" + "/".join(["b" * 200] * 30), "host.path-invalid", "{h}/projects/" + "/".join(["b"] * 30)),
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


# The operator's read-only grant (host.credential-grant): what it lifts and what it never does. {h} is the fake
# home. (path as the operator wrote it, rule with grant=True, a harmless twin that is granted)
GRANTS = [
    ("~/.config", "host.mount-credentials", "~/.config/gcloud"),  # holds credential folders: never granted
    ("{h}/..", "host.mount-credentials", "~/.ssh"),
    ("~/.manyoyo", "host.mount-credentials", "~/.docker"),  # the server's own files: never granted
    ("~/.manyoyo/env", "host.mount-credentials", "~/.docker/config.json"),
    ("~/.manyoyo/audit", "host.mount-credentials", "~/.aws"),
    ("~", "host.mount-home", "~/.kube"),
    ("/etc", "host.mount-system-path", "~/.ssh/"),
    ("/root", "host.mount-system-path", "{h}/projects/link-to-ssh"),  # a symlink the operator wrote, resolved
    ("{h}/projects/link-to-etc", "host.mount-system-path", "{h}/.ssh"),
    ("/var/run/docker.sock", "host.mount-engine-socket", "~/.docker"),
    ("~/.docker/run", "host.mount-engine-socket", "~/.docker/config.json"),  # with Docker Desktop's socket in it
    ("/srv", "host.mount-outside-roots", "~/.docker"),  # not a credential: the grant lifts nothing else
]


@pytest.mark.parametrize(("bad", "rule", "twin"), GRANTS)
def test_a_grant_lifts_only_the_credential_rule_for_a_credential_folder_itself(home, bad, rule, twin):
    (home / ".docker" / "config.json").write_text("{}")
    (home / ".manyoyo" / "env").mkdir()
    if "docker/run" in bad:
        (home / ".docker" / "run").mkdir()
        (home / ".docker" / "run" / "docker.sock").touch()

    def granted(given: str):
        path = given.format(h=home).replace("~", str(home), 1)
        return judge_host_path(
            path,
            roots=(str(home / "projects"),),
            home=str(home),
            extra_protected=(str(home / ".manyoyo" / "audit"),),
            grant=True,
        )

    refused, allowed = granted(bad), granted(twin)
    assert (refused.allowed, refused.rule, refused.grantable) == (False, rule, False), refused.reason
    assert (allowed.allowed, allowed.rule) == (True, "host.credential-grant"), allowed.reason


def test_without_a_grant_a_credential_folder_is_refused_and_marked_grantable(home):
    refused = verdict(home, str(home / ".docker"))
    assert (refused.allowed, refused.rule, refused.grantable) == (False, "host.mount-credentials", True)
    holding = verdict(home, str(home / ".config"))
    assert (holding.rule, holding.grantable) == ("host.mount-credentials", False)
    assert "holds ~/.config/gcloud" in holding.reason

"""The way into a sandbox proper: what `docker exec` runs for a command (pure)."""

import json

import pytest

from manyoyo_mcp.errors import EngineFailure
from manyoyo_mcp.sandbox.inside import ROOT, Entry, SandboxUser, parse_state

STATE = {
    "engine": "docker",
    "user": {"name": "alice", "uid": 1000, "gid": 1000},
    "env": ["PATH=/usr/bin:/bin", "TOKEN=s3cret", "HOME=/root"],
    "cgroup": 1,
    "workdir": "/workspace",
}
PREFIX = ["crun", "--root", "/run/manyoyo/crun", "exec"]


def test_a_command_enters_the_proper_as_the_workspace_owner_in_the_workspace_with_the_sandbox_env():
    command = Entry(parse_state(json.dumps(STATE))).command(["ls", "-la"], env={"EXTRA": "1"})
    assert command.argv[:4] == PREFIX and command.argv[-3:] == ["inner", "ls", "-la"]
    flags = command.argv[4:-3]
    assert flags[:2] == ["--cwd=/workspace", "--user=1000:1000"]
    # crun exec replaces the environment when given any: the whole of it is passed, ours on top.
    assert flags[2:] == [
        "--env=PATH=/usr/bin:/bin",
        "--env=TOKEN=s3cret",
        "--env=HOME=/home/alice",
        "--env=USER=alice",
        "--env=LOGNAME=alice",
        "--env=EXTRA=1",
    ]
    assert command.env == {} and command.workdir is None


def test_another_user_and_workdir_can_be_asked_for():
    entry = Entry(parse_state(json.dumps(STATE)))
    command = entry.command(["id"], user=ROOT, workdir="/tmp", env={})
    assert "--cwd=/tmp" in command.argv and "--user=0:0" in command.argv and "--env=HOME=/root" in command.argv


def test_an_argument_that_looks_like_a_flag_stays_the_commands():
    command = Entry(parse_state(json.dumps(STATE))).command(["--help", "--env=X=1"], env={})
    assert command.argv[-3:] == ["inner", "--help", "--env=X=1"]  # crun stops parsing at the container id


def test_on_cgroup_v2_commands_join_the_leaf_the_init_made():
    command = Entry(parse_state(json.dumps({**STATE, "cgroup": 2}))).command(["true"], env={})
    assert "--cgroup=init" in command.argv


def test_sock_mode_runs_the_command_itself_in_the_container():
    command = Entry(None).command(["ls"], workdir="/w", env={"A": "1"})
    assert (command.argv, command.env, command.workdir) == (["ls"], {"A": "1"}, "/w")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({**STATE, "user": {"name": "x; rm -rf /", "uid": 1, "gid": 1}}),
        json.dumps({**STATE, "user": {"name": "bob", "uid": -1, "gid": 1}}),
        json.dumps({"engine": "docker"}),
    ],
)
def test_a_state_file_that_is_not_the_inits_is_refused(text):
    with pytest.raises(EngineFailure, match="state file"):
        parse_state(text)


def test_users_homes():
    assert ROOT.home == "/root" and SandboxUser(name="dev", uid=1000, gid=1000).home == "/home/dev"


def test_a_user_from_the_sandboxs_user_database_brings_its_home():
    entry = Entry(parse_state(json.dumps(STATE)))
    nobody = SandboxUser(name="nobody", uid=65534, gid=65534, home_dir="/nonexistent")
    command = entry.command(["id"], user=nobody, env={})
    assert "--user=65534:65534" in command.argv and "--env=HOME=/nonexistent" in command.argv
    assert "--env=USER=nobody" in command.argv


def test_in_sock_mode_another_user_goes_to_docker_exec():
    command = Entry(None).command(["id"], user=SandboxUser(name="1234", uid=1234, gid=0, home_dir="/"), env={})
    assert (command.argv, command.user) == (["id"], "1234:0")
    assert Entry(None).command(["id"], env={}).user is None


def test_the_owner_is_the_states_user_and_sock_mode_has_none():
    assert Entry(parse_state(json.dumps(STATE))).owner == (1000, 1000)
    assert Entry(None).owner is None

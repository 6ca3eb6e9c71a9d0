"""The seed guide's configuration files, copied from it as they are, loaded the way `serve` loads
them: ~/.manyoyo/run/<name>.json files are run profiles, a project file's top-level keys are the
implicit default, and Example 1's read-only ~/.docker mount is the operator's grant."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp import policy
from manyoyo_mcp.audit.log import read_records
from manyoyo_mcp.config.agents import agent_table, resolve_agent
from manyoyo_mcp.config.layers import USER_FILE
from manyoyo_mcp.config.loader import ConfigError, LoadedConfig, load_config
from manyoyo_mcp.config.run_profiles import IMPLICIT_RUN, RunProfile
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.sandbox.launch import ChosenProfile, from_profile
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.server import build_server
from manyoyo_mcp.server.gate import AuditedServer

from ...seed_configs import EXAMPLE_1_DIND_DEV, EXAMPLE_2_PROJECT, QUICK_START_DIND

TOKEN = "sk-ant-api03-stand-in-credential-0123456789"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder as the guide leaves it: the two run files, the env file they name, ~/.docker."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    write(home / ".manyoyo/env/anthropic_claudecode.env", f'export ANTHROPIC_AUTH_TOKEN="{TOKEN}"\n')
    write(home / ".docker/config.json", '{"auths": {}}\n')
    write(home / ".manyoyo/run/dind.json", QUICK_START_DIND)
    write(home / ".manyoyo/run/dind-dev.json", EXAMPLE_1_DIND_DEV)
    return home


@pytest.fixture
def myproject(tmp_path: Path) -> Path:
    folder = tmp_path / "myproject"
    write(folder / ".manyoyo.json", EXAMPLE_2_PROJECT)
    return folder


def load(project: Path | str = "", **environ: str) -> LoadedConfig:
    """The configuration as `serve` loads it: the default user file (absent here), its run folder."""
    return load_config(USER_FILE, project, environ=environ)


@functools.cache
def _server(settings_json: str) -> AuditedServer:
    return build_server(ServerSettings.model_validate_json(settings_json))


def judge(settings: ServerSettings, tool: str, **arguments: object) -> tuple[policy.Decision, policy.ToolCall | None]:
    """The gate's judgement (validated arguments, then the policy), as for an agent's call."""
    if tool == "launch_agent":
        arguments.setdefault("prompt", "x")
    return _server(settings.model_dump_json()).judge(tool, arguments)


def test_the_run_files_are_profiles_named_after_their_files_without_a_user_file(home: Path):
    loaded = load()
    runs = loaded.settings.runs
    assert set(runs) == {"dind", "dind-dev"}
    assert loaded.defined_in["dind"] == [str(home / ".manyoyo/run/dind.json")]
    dind = runs["dind"]
    assert (dind.sandbox_name(), dind.container_mode) == ("my-dind", "dind")
    assert dind.env_file == (str(home / ".manyoyo/env/anthropic_claudecode.env"),)  # a bare name: ~/.manyoyo/env
    assert resolve_agent(dind.yolo or "", agent_table({}))[0] == "claude"  # "c"
    assert dind.environment() == {"ANTHROPIC_AUTH_TOKEN": TOKEN}
    dev = runs["dind-dev"]
    assert (dev.sandbox_name(), dev.volumes) == ("my-dind-dev", ("~/.docker:/root/.docker:ro",))
    assert dev.granted_volumes == {"~/.docker:/root/.docker:ro": str(home / ".manyoyo/run/dind-dev.json")}
    assert loaded.settings.implicit_run is None  # no top-level keys anywhere: nothing applies unasked
    decision, call = judge(loaded.settings, "launch_agent", profile="dind")
    assert decision.allowed and call is not None and call.profile == dind


def test_example_2s_project_file_is_the_default_profile_of_that_project(home: Path, myproject: Path):
    settings = load(myproject).settings
    decision, call = judge(settings, "create_sandbox")
    assert decision.allowed and call is not None
    assert call.profile_name == IMPLICIT_RUN and call.profile == settings.implicit_run
    request = from_profile(CreateRequest(), ChosenProfile.read(IMPLICIT_RUN, call.profile))
    assert (request.name, request.mode) == ("my-ci", "dind")
    assert request.env == {"CI": "true", "NODE_ENV": "test"}
    # The agent's own values still win; the named profiles get the project's env too.
    assert from_profile(CreateRequest(name="other", env={"CI": "false"}), ChosenProfile.read("", call.profile)).env == {
        "CI": "false",
        "NODE_ENV": "test",
    }
    assert settings.runs["dind"].environment() == {"CI": "true", "NODE_ENV": "test", "ANTHROPIC_AUTH_TOKEN": TOKEN}


def test_the_implicit_default_merges_the_user_files_top_level_keys_below_the_projects(home: Path, myproject: Path):
    write(home / ".manyoyo/manyoyo.json", '{env: {CI: "operator", TZ: "UTC"}, engine: "podman"}')
    implicit = load(myproject).settings.implicit_run
    assert implicit is not None
    assert (implicit.container_name, implicit.engine) == ("my-ci", "podman")
    # The project's variables sit below the operator's, as everywhere.
    assert implicit.environment() == {"CI": "operator", "TZ": "UTC", "NODE_ENV": "test"}


def test_default_run_wins_over_the_implicit_default(home: Path, myproject: Path):
    write(home / ".manyoyo/manyoyo.json", '{mcp: {default_run: "dind"}}')
    settings = load(myproject).settings
    _, call = judge(settings, "create_sandbox")
    assert call is not None and call.profile_name == "dind"
    assert call.profile is not None and call.profile.environment()["CI"] == "true"  # the project's keys still apply
    _, named = judge(settings, "create_sandbox", profile="dind-dev")
    assert named is not None and named.profile_name == "dind-dev"


def test_example_1s_read_only_credential_mount_is_the_operators_grant(home: Path):
    settings = load().settings
    for tool in ("create_sandbox", "launch_agent"):
        decision, _ = judge(settings, tool, profile="dind-dev")
        assert (decision.allowed, decision.rule) == (True, "host.credential-grant"), decision.reason
        assert "~/.docker:/root/.docker:ro" in decision.reason
        assert str(home / ".manyoyo/run/dind-dev.json") in decision.reason
    described = policy.describe(settings)
    assert described["credential_grants"] == [
        {
            "profile": "dind-dev",
            "volume": "~/.docker:/root/.docker:ro",
            "host_path": str(home / ".docker"),
            "read_only": True,
            "from": str(home / ".manyoyo/run/dind-dev.json"),
        }
    ]
    assert "host.credential-grant" in {rule["id"] for rule in described["rules"]}


@pytest.mark.anyio
async def test_the_grant_is_recorded_in_the_audit_log_as_an_allow_decision(home: Path, tmp_path: Path):
    audit = tmp_path / "audit"
    settings = load(MANYOYO_AUDIT_DIR=str(audit), MANYOYO_DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock").settings
    async with Client(build_server(settings)) as client:
        await client.call_tool("create_sandbox", {"profile": "dind-dev"})  # fails later: there is no engine here
    decisions = [r for _, _, r, _ in read_records(audit) if r and r.get("event") == "decision"]
    assert [(d["allowed"], d["rule"]) for d in decisions] == [(True, "host.credential-grant")]
    assert "~/.docker:/root/.docker:ro" in decisions[0]["reason"]


@pytest.mark.parametrize("mode", ["", ":rw"])
def test_example_1_made_read_write_is_refused_saying_what_is_allowed(home: Path, mode: str):
    write(home / ".manyoyo/run/dind-dev.json", EXAMPLE_1_DIND_DEV.replace("/root/.docker:ro", f"/root/.docker{mode}"))
    decision, _ = judge(load().settings, "create_sandbox", profile="dind-dev")
    assert (decision.allowed, decision.rule) == (False, "host.mount-credentials")
    assert "may only be mounted read-only" in decision.reason and "':ro'" in decision.reason


@pytest.mark.parametrize(
    "project_file",
    [
        EXAMPLE_2_PROJECT.replace('"env"', '"volumes": ["~/.docker:/root/.docker:ro"],\n    "env"'),
        '{runs: {"dind-dev": {volumes: ["~/.docker:/root/.docker:ro"]}}}',
    ],
)
def test_example_1s_mount_moved_to_the_project_file_is_refused(home: Path, myproject: Path, project_file: str):
    write(myproject / ".manyoyo.json", project_file)
    with pytest.raises(
        ConfigError, match=r"\.manyoyo\.json: .*volumes: a project file cannot set host folders"
    ) as raised:
        load(myproject)
    assert "only as the operator's read-only grant" in str(raised.value)
    assert "only the operator can, in ~/.manyoyo/manyoyo.json or run/<name>.json" in str(raised.value)


def test_a_credential_mount_no_operator_file_wrote_is_refused(home: Path):
    settings = load().settings
    written = RunProfile(volumes=("~/.docker:/root/.docker:ro",), yolo="c")  # not read from a user file
    settings = settings.model_copy(update={"runs": {**settings.runs, "made": written}})
    decision, _ = judge(settings, "create_sandbox", profile="made")
    assert (decision.allowed, decision.rule) == (False, "host.mount-credentials")
    assert "never from a project file or an agent's arguments" in decision.reason
    assert not [g for g in policy.describe(settings)["credential_grants"] if g["profile"] == "made"]


@pytest.mark.parametrize(
    ("volume", "rule"),
    [
        ("~/.config:/root/.config:ro", "host.mount-credentials"),  # holds ~/.config/gcloud, ~/.config/gh
        ("~/.manyoyo/env:/env:ro", "host.mount-credentials"),  # the server's own files: never granted
        ("~/.manyoyo:/m:ro", "host.mount-credentials"),
        ("~:/home:ro", "host.mount-home"),
        ("/etc:/host-etc:ro", "host.mount-system-path"),
        ("~/.docker/run/docker.sock:/var/run/docker.sock:ro", "host.mount-engine-socket"),
    ],
)
def test_a_read_only_volume_of_the_operator_grants_only_a_credential_folder_itself(home: Path, volume: str, rule: str):
    write(home / ".config/gcloud/credentials.db", "x")
    write(home / ".manyoyo/manyoyo.json", f'{{runs: {{p: {{volumes: ["{volume}"]}}}}}}')
    decision, _ = judge(load().settings, "create_sandbox", profile="p")
    assert (decision.allowed, decision.rule) == (False, rule), decision.reason


def test_a_granted_folder_holding_an_engine_socket_is_refused(home: Path):
    socket = home / ".docker/run/docker.sock"  # Docker Desktop's: a read-only mount still connects
    write(socket, "")
    decision, _ = judge(load().settings, "create_sandbox", profile="dind-dev")
    assert (decision.allowed, decision.rule) == (False, "host.mount-engine-socket")


def test_the_grant_never_reaches_an_agents_workspace(home: Path):
    settings = load().settings
    for workspace in ("~/.docker", str(home / ".docker")):
        decision, _ = judge(settings, "create_sandbox", profile="dind-dev", workspace=workspace)
        assert (decision.allowed, decision.rule) == (False, "host.mount-credentials")
        decision, _ = judge(settings, "launch_agent", profile="dind-dev", workspace=workspace)
        assert (decision.allowed, decision.rule) == (False, "host.mount-credentials")


def test_a_run_file_and_runs_of_the_same_name_are_an_error_naming_both_files(home: Path):
    user = write(home / ".manyoyo/manyoyo.json", '{runs: {dind: {yolo: "cx"}}}')
    with pytest.raises(ConfigError) as raised:
        load()
    message = str(raised.value)
    assert "run profile 'dind' is defined twice" in message
    assert str(user) in message and str(home / ".manyoyo/run/dind.json") in message


@pytest.mark.parametrize(
    "profile",
    [
        "./x.json",
        "/tmp/x.json",
        "~/x.json",
        "./myproject/.manyoyo.json",
        "myproject/.manyoyo.json",
        "../run/dind.json",
        "run\\dind.json",
        "dind.json",
        "x.json5",
        ".manyoyo.json",
    ],
)
@pytest.mark.parametrize("tool", ["create_sandbox", "launch_agent"])
def test_an_agents_profile_given_as_a_file_path_is_refused(home: Path, myproject: Path, tool: str, profile: str):
    write(myproject / "x.json", '{"containerMode": "sock", "volumes": ["/:/host"]}')  # a file an agent wrote
    settings = load(myproject).settings
    decision, _ = judge(settings, tool, profile=profile)
    assert (decision.allowed, decision.rule) == (False, "profile.file-path")
    assert "only the operator's named run profiles are allowed" in decision.reason
    assert "dind, dind-dev" in decision.reason
    twin, _ = judge(settings, tool, profile="dind")  # the same profile by its name
    assert twin.allowed, twin.reason


def test_a_refused_file_path_names_the_profile_it_may_mean(home: Path):
    decision, _ = judge(load().settings, "create_sandbox", profile="~/.manyoyo/run/dind.json")
    assert "did you mean the profile 'dind'?" in decision.reason

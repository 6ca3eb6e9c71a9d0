"""Planning a sandbox (pure): what create_sandbox will ask the engine for, checked without Docker."""

from __future__ import annotations

import pytest

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Mount
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.plan import CreateRequest, plan_sandbox
from manyoyo_mcp.sandbox.runtime import PROFILES, SOCK_PROFILE

SETTINGS = ServerSettings(scope="ci", max_cpus=4, default_memory="1g", allowed_host_roots=("/srv",))
JOB_BOUNDS = {
    "MANYOYO_JOBS_MAX_COUNT": "100",
    "MANYOYO_JOBS_MAX_BYTES": str(1024**3),
    "MANYOYO_JOB_OUTPUT_MAX_BYTES": str(128 * 1024**2),
    "MANYOYO_JOB_LEFTOVERS": "report",
}


def test_a_dind_sandbox_gets_its_engine_storage_volume_labels_and_the_standard_profile():
    plan = plan_sandbox(CreateRequest(), SETTINGS, name="dev")
    spec = plan.spec
    assert (plan.name, plan.engine, plan.mode, plan.volume) == ("dev", "docker", "dind", "manyoyo-ci-dev-engine")
    assert spec.name == "manyoyo-ci-dev" and spec.hostname == "dev" and spec.image == SETTINGS.sandbox_image
    assert spec.mounts == (Mount("manyoyo-ci-dev-engine", "/var/lib/manyoyo", "volume"),)
    assert spec.labels == {
        ownership.MANAGED: "true",
        ownership.SCOPE: "ci",
        ownership.SANDBOX: "dev",
        ownership.ENGINE: "docker",
        ownership.MODE: "dind",
        ownership.KIND: "sandbox",
    }
    assert plan.volume_labels == {**spec.labels, ownership.KIND: "engine-storage"}
    assert spec.environment == {"MANYOYO_ENGINE": "docker", "MANYOYO_SANDBOX": "dev", **JOB_BOUNDS}
    assert spec.profile == PROFILES["standard"] and spec.working_dir is None and spec.ports == ()
    assert spec.stop_timeout_s == 30  # time for the nested engine to stop its containers
    assert (spec.nano_cpus, spec.memory_bytes, spec.pids_limit) == (2_000_000_000, 1024**3, 4096)


def test_a_podman_sandbox_keeps_everything_in_the_same_volume():
    plan = plan_sandbox(CreateRequest(engine="podman"), SETTINGS, name="pod")
    assert plan.spec.mounts[0] == Mount("manyoyo-ci-pod-engine", "/var/lib/manyoyo", "volume")
    assert plan.spec.environment["MANYOYO_ENGINE"] == "podman"


def test_the_workspace_owners_name_reaches_the_sandbox_when_known():
    plan = plan_sandbox(CreateRequest(), SETTINGS, name="u", workspace="/srv/app", user_name="alice")
    assert plan.spec.environment["MANYOYO_USER_NAME"] == "alice"


def test_a_sock_sandbox_mounts_the_hosts_socket_with_dockers_defaults_and_no_volume():
    plan = plan_sandbox(CreateRequest(mode="sock"), SETTINGS, name="s", host_socket="/run/docker.sock")
    assert plan.volume is None and plan.mode == "sock" and plan.engine == "docker"
    assert plan.spec.mounts == (Mount("/run/docker.sock", "/var/run/docker.sock", "bind"),)
    assert plan.spec.profile == SOCK_PROFILE and plan.spec.environment["MANYOYO_ENGINE"] == "sock"
    assert plan.spec.stop_timeout_s is None
    with pytest.raises(InvalidArgument, match="sock mode uses the host's Docker engine"):
        plan_sandbox(CreateRequest(mode="sock", engine="podman"), SETTINGS, name="s", host_socket="/s")


def test_the_workspace_and_a_profiles_folders_ports_and_env_reach_the_spec():
    request = CreateRequest(
        env={"A": "1"}, workspace_target="/src/app", ports=(("127.0.0.1", None, 8080, "tcp"),), first="true"
    )
    plan = plan_sandbox(request, SETTINGS, name="w", workspace="/srv/app", volumes=(("/srv/data", "/data", True),))
    assert plan.spec.mounts[1:] == (Mount("/srv/app", "/src/app", "bind"), Mount("/srv/data", "/data", "bind", True))
    assert plan.spec.working_dir == "/src/app" and plan.spec.labels[ownership.WORKSPACE] == "/srv/app"
    assert plan.volume_labels[ownership.WORKSPACE] == "/srv/app"
    assert plan.spec.ports == (("127.0.0.1", None, 8080, "tcp"),) and plan.spec.environment["A"] == "1"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (CreateRequest(cpus=8), "cpus must be more than 0 and at most 4"),
        (CreateRequest(memory="64m"), "memory must be between 128m"),
        (CreateRequest(pids=10), "pids must be between 64"),
        (CreateRequest(env={"BAD-NAME": "x"}), "letters, digits and '_'"),
    ],
)
def test_limits_beyond_the_ceilings_and_bad_env_names_are_refused(request_, message):
    with pytest.raises(InvalidArgument, match=message):
        plan_sandbox(request_, SETTINGS, name="x")


def test_the_operators_bounds_on_jobs_reach_a_dind_sandboxs_sandboxd_and_not_a_sock_mode_one():
    bounded = SETTINGS.model_copy(update={"jobs_max_count": 7, "job_output_max_bytes": "2m", "job_leftovers": "kill"})
    env = plan_sandbox(CreateRequest(), bounded, name="dev").spec.environment
    assert (env["MANYOYO_JOBS_MAX_COUNT"], env["MANYOYO_JOB_OUTPUT_MAX_BYTES"]) == ("7", str(2 * 1024**2))
    assert env["MANYOYO_JOB_LEFTOVERS"] == "kill"
    sock = plan_sandbox(CreateRequest(mode="sock"), bounded, name="s", host_socket="/var/run/docker.sock")
    assert not any(key.startswith("MANYOYO_JOB") for key in sock.spec.environment)

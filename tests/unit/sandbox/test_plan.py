"""Planning a sandbox (pure): what create_sandbox will ask the engine for, checked without Docker."""

from __future__ import annotations

import pytest

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import HostFacts, Mount
from manyoyo_mcp.errors import InvalidArgument, PolicyDenied
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.ceilings import derive
from manyoyo_mcp.sandbox.plan import CreateRequest
from manyoyo_mcp.sandbox.plan import plan_sandbox as plan_with
from manyoyo_mcp.sandbox.runtime import LOOP_DEVICE_RULES, PROFILES, SOCK_PROFILE

SETTINGS = ServerSettings(
    scope="ci", max_cpus=4, default_memory="1g", default_disk="2g", max_disk="10g", allowed_host_roots=("/srv",)
)
HOST = HostFacts(cpus=8, memory_bytes=32 * 1024**3, pid_max=4194304, disk_free_bytes=100 * 1024**3, source="test")
GIB = 1024**3
JOB_BOUNDS = {
    "MANYOYO_JOBS_MAX_COUNT": "100",
    "MANYOYO_JOBS_MAX_BYTES": str(1024**3),
    "MANYOYO_JOB_OUTPUT_MAX_BYTES": str(128 * 1024**2),
    "MANYOYO_JOB_LEFTOVERS": "report",
}


def plan_sandbox(request, settings=SETTINGS, **given):
    return plan_with(request, settings, derive(settings, HOST), **given)


def test_a_dind_sandbox_gets_its_engine_storage_volume_labels_and_the_standard_profile():
    plan = plan_sandbox(CreateRequest(), name="dev")
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
        ownership.DISK: str(2 * GIB),
        ownership.KIND: "sandbox",
        ownership.NETWORK: "public",
        ownership.NETWORK_ALLOW: "",
    }
    owner = {k: v for k, v in spec.labels.items() if k not in (ownership.NETWORK, ownership.NETWORK_ALLOW)}
    assert plan.volume_labels == {**owner, ownership.KIND: "engine-storage"}
    assert spec.network == "manyoyo-ci-dev-net" and plan.network_labels[ownership.KIND] == "network"
    assert spec.environment.pop("MANYOYO_NETWORK").startswith('{"mode":"public"')
    assert spec.environment == {
        "MANYOYO_ENGINE": "docker",
        "MANYOYO_SANDBOX": "dev",
        "MANYOYO_REGISTRY_MIRRORS": "",
        "MANYOYO_DISK_BYTES": str(2 * GIB),
        "MANYOYO_DISK_QUOTA": "required",
        **JOB_BOUNDS,
    }
    # A disk quota is a loop device's filesystem: the outer container may use loop devices, nothing more.
    assert spec.profile.device_cgroup_rules == LOOP_DEVICE_RULES == ("b 7:* rwm", "c 10:237 rwm")
    assert spec.profile.cap_add == PROFILES["standard"].cap_add and not spec.profile.privileged
    assert spec.working_dir is None and spec.ports == ()
    assert spec.log_files == ("10m", 3)  # its own output on the host's disk stays bounded
    assert spec.stop_timeout_s == 30  # time for the nested engine to stop its containers
    assert (spec.nano_cpus, spec.memory_bytes, spec.pids_limit) == (2_000_000_000, 1024**3, 4096)


def test_a_podman_sandbox_keeps_everything_in_the_same_volume():
    plan = plan_sandbox(CreateRequest(engine="podman"), name="pod")
    assert plan.spec.mounts[0] == Mount("manyoyo-ci-pod-engine", "/var/lib/manyoyo", "volume")
    assert plan.spec.environment["MANYOYO_ENGINE"] == "podman"


def test_the_docker_cli_of_a_podman_sandbox_builds_with_the_api_podman_serves_unless_the_agent_says_otherwise():
    assert plan_sandbox(CreateRequest(engine="podman"), SETTINGS, name="p").spec.environment["DOCKER_BUILDKIT"] == "0"
    assert "DOCKER_BUILDKIT" not in plan_sandbox(CreateRequest(), SETTINGS, name="d").spec.environment
    chosen = plan_sandbox(CreateRequest(engine="podman", env={"DOCKER_BUILDKIT": "1"}), SETTINGS, name="p")
    assert chosen.spec.environment["DOCKER_BUILDKIT"] == "1"


def test_the_workspace_owners_name_reaches_the_sandbox_when_known():
    plan = plan_sandbox(CreateRequest(), name="u", workspace="/srv/app", user_name="alice")
    assert plan.spec.environment["MANYOYO_USER_NAME"] == "alice"


def test_a_sock_sandbox_mounts_the_hosts_socket_with_dockers_defaults_and_no_volume():
    plan = plan_sandbox(CreateRequest(mode="sock"), name="s", host_socket="/run/docker.sock")
    assert plan.volume is None and plan.mode == "sock" and plan.engine == "docker"
    assert plan.spec.mounts == (Mount("/run/docker.sock", "/var/run/docker.sock", "bind"),)
    assert plan.spec.profile == SOCK_PROFILE and plan.spec.environment["MANYOYO_ENGINE"] == "sock"
    assert "MANYOYO_DISK_BYTES" not in plan.spec.environment and plan.spec.labels[ownership.DISK] == "none"
    assert plan.spec.stop_timeout_s is None
    with pytest.raises(InvalidArgument, match="sock mode uses the host's Docker engine"):
        plan_sandbox(CreateRequest(mode="sock", engine="podman"), name="s", host_socket="/s")


def test_the_workspace_and_a_profiles_folders_ports_and_env_reach_the_spec():
    request = CreateRequest(
        env={"A": "1"}, workspace_target="/src/app", ports=(("127.0.0.1", None, 8080, "tcp"),), first="true"
    )
    plan = plan_sandbox(request, name="w", workspace="/srv/app", volumes=(("/srv/data", "/data", True),))
    assert plan.spec.mounts[1:] == (Mount("/srv/app", "/src/app", "bind"), Mount("/srv/data", "/data", "bind", True))
    assert plan.spec.working_dir == "/src/app" and plan.spec.labels[ownership.WORKSPACE] == "/srv/app"
    assert plan.volume_labels[ownership.WORKSPACE] == "/srv/app"
    assert plan.spec.ports == (("127.0.0.1", None, 8080, "tcp"),) and plan.spec.environment["A"] == "1"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (CreateRequest(memory="64m"), "memory must be between 128m"),
        (CreateRequest(pids=10), "pids must be between 64"),
        (CreateRequest(disk="1m"), "disk must be between 256m and 10g"),
        (CreateRequest(disk="lots"), "disk 'lots' is not understood"),
        (CreateRequest(env={"BAD-NAME": "x"}), "letters, digits and '_'"),
        (CreateRequest(mode="sock", disk="1g"), "sock mode has no disk quota"),
    ],
)
def test_limits_below_their_minimum_and_bad_env_names_are_refused(request_, message):
    with pytest.raises(InvalidArgument, match=message):
        plan_sandbox(request_, name="x", host_socket="/s")


@pytest.mark.parametrize(
    ("request_", "rule", "message"),
    [
        (CreateRequest(cpus=8), "limits.cpus-ceiling", "cpus must be more than 0 and at most 4"),
        (CreateRequest(memory="17g"), "limits.memory-ceiling", "memory must be between 128m and 16g"),
        (CreateRequest(pids=2_000_000), "limits.pids-ceiling", "pids must be between 64 and 1048576"),
        (CreateRequest(disk="11g"), "limits.disk-ceiling", "disk must be between 256m and 10g"),
    ],
)
def test_limits_above_their_ceilings_are_policy_denials_naming_the_rule(request_, rule, message):
    with pytest.raises(PolicyDenied, match=message) as refused:
        plan_sandbox(request_, name="x")
    assert refused.value.rule == rule


def test_a_disk_quota_within_the_ceiling_is_the_sandboxs_and_none_leaves_the_loop_devices_out():
    plan = plan_sandbox(CreateRequest(disk="5g"), name="d")
    assert plan.limits.disk_bytes == 5 * GIB and plan.spec.environment["MANYOYO_DISK_BYTES"] == str(5 * GIB)
    off = ServerSettings(scope="ci", disk_quota="off", allowed_host_roots=("/srv",))
    plan = plan_sandbox(CreateRequest(), off, name="d")
    assert plan.limits.disk_bytes is None and "MANYOYO_DISK_BYTES" not in plan.spec.environment
    assert plan.spec.profile == PROFILES["standard"]  # no loop devices without a quota
    with pytest.raises(InvalidArgument, match="disk quotas are off"):
        plan_sandbox(CreateRequest(disk="1g"), off, name="d")


def test_the_privileged_profile_has_every_device_already():
    privileged = ServerSettings(scope="ci", runtime_profile="privileged", allowed_host_roots=("/srv",))
    assert plan_sandbox(CreateRequest(), privileged, name="p").spec.profile == PROFILES["privileged"]


def test_an_image_from_before_disk_quotas_gets_none_and_the_agent_is_told():
    plan = plan_sandbox(CreateRequest(), name="o", image_makes_quota=False)
    assert plan.limits.disk_bytes is None and "MANYOYO_DISK_BYTES" not in plan.spec.environment
    assert plan.spec.profile == PROFILES["standard"] and plan.notices and "predates disk quotas" in plan.notices[0]
    assert plan_sandbox(CreateRequest(), name="o").notices == ()


def test_the_operators_bounds_on_jobs_reach_a_dind_sandboxs_sandboxd_and_not_a_sock_mode_one():
    bounded = SETTINGS.model_copy(update={"jobs_max_count": 7, "job_output_max_bytes": "2m", "job_leftovers": "kill"})
    env = plan_sandbox(CreateRequest(), bounded, name="dev").spec.environment
    assert (env["MANYOYO_JOBS_MAX_COUNT"], env["MANYOYO_JOB_OUTPUT_MAX_BYTES"]) == ("7", str(2 * 1024**2))
    assert env["MANYOYO_JOB_LEFTOVERS"] == "kill"
    sock = plan_sandbox(CreateRequest(mode="sock"), bounded, name="s", host_socket="/var/run/docker.sock")
    assert not any(key.startswith("MANYOYO_JOB") for key in sock.spec.environment)


def test_a_podman_sandbox_reads_the_shared_image_store_read_only_and_the_others_never_mount_it():
    store = ownership.image_store_volume("ci")
    podman = plan_sandbox(CreateRequest(engine="podman"), name="dev", image_store=store).spec
    docker = plan_sandbox(CreateRequest(engine="docker"), name="dev", image_store=store).spec
    sock = plan_sandbox(CreateRequest(mode="sock"), name="dev", image_store=store, host_socket="/run/d.sock").spec
    assert Mount(store, "/var/lib/manyoyo-images", "volume", read_only=True) in podman.mounts
    assert podman.environment["MANYOYO_IMAGE_STORE"] == "use" and podman.labels[ownership.IMAGE_STORE] == store
    for spec in (docker, sock):
        assert all(m.source != store for m in spec.mounts) and "MANYOYO_IMAGE_STORE" not in spec.environment
        assert ownership.IMAGE_STORE not in spec.labels
    assert store == "manyoyo-ci-images-STORE" and ownership.image_store_volume("default") == "manyoyo-images-STORE"

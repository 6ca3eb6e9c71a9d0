"""The active policy as data, for an agent to plan calls that will pass (describe_policy)."""

from __future__ import annotations

from typing import Any

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.egress import BLOCKED, MODES
from manyoyo_mcp.policy import allowlists, rule_ids, sizes
from manyoyo_mcp.policy.host_paths import CREDENTIALS, ENGINE_SOCKETS, SERVER_FILES, SYSTEM_PATHS
from manyoyo_mcp.policy.rules import RULES, profile_volume_verdicts


def describe(settings: ServerSettings) -> dict[str, Any]:
    """The active policy, for an agent to plan inside it."""
    return {
        "mode": "dind",
        "sock_mode": {
            "off": "refused: sandboxes always get their own engine",
            "confirm": "allowed when a human confirms each one through the client (elicitation)",
            "preapproved": "allowed: the operator approved sock mode in the configuration",
        }[settings.sock_mode],
        "tools": sorted(RULES),
        "containment": {
            "runtime_profile": settings.runtime_profile,
            "where_your_commands_run": (
                "in the sandbox proper: a user namespace whose root is an unprivileged uid on the host "
                "(1000000). You are root there (mount, build, run nested containers, even --privileged "
                "ones), over nothing the host owns"
            ),
            "host_routes_open": (
                "none of the probed routes (SECURITY.md, measured on every test run); a sock-mode "
                "sandbox holds the host's engine socket, which is root on the host"
            ),
        },
        "workspace": {
            "allowed_roots": list(settings.allowed_host_roots),
            "refused_system_paths": list(SYSTEM_PATHS),
            "refused_credential_paths": [*CREDENTIALS, *SERVER_FILES],
            "refused_engine_sockets": list(ENGINE_SOCKETS),
        },
        "sandbox_images": [settings.sandbox_image, *settings.extra_sandbox_images],
        "loadable_host_images": list(settings.loadable_images),
        "preloaded_images": list(settings.preload_images),
        "shared_images": (
            "podman sandboxes read loaded images from one read-only store of this server's scope; docker "
            "sandboxes get a copy each"
            if settings.shared_images
            else "off: every sandbox gets its own copy of each loaded image"
        ),
        "sandbox_limits": sandbox_limits(settings),
        "nested_container_limits": {
            "defaults": {
                "cpus": settings.nested_default_cpus,
                "memory": settings.nested_default_memory,
                "pids": settings.nested_default_pids,
            },
            "ceilings": "the sandbox's own limits",
        },
        "timeouts_s": {"default": settings.exec_timeout_s, "max": settings.max_exec_timeout_s},
        "output_cap_bytes": settings.output_cap_bytes,
        "max_write_file_bytes": settings.max_write_file_bytes,
        "max_build_context": settings.max_build_context,
        "protected_sandbox_paths": list(allowlists.FORBIDDEN_SANDBOX_PATHS),
        "never_working_directories": list(allowlists.PROC_PATHS),
        "argument_limits": sizes.limits(),
        "nested_containers": {
            "capabilities_allowed": sorted(allowlists.CAPABILITY_ALLOWLIST),
            "sysctls_allowed": sorted(allowlists.SYSCTL_ALLOWLIST),
            "restart_policies": ["no", f"on-failure[:N], N <= {allowlists.MAX_RESTARTS}"],
            "tmpfs_options": allowlists.TMPFS_FORMS,
            "users": f"{allowlists.USER_FORMS}; numeric ids 0-{allowlists.SANDBOX_IDS - 1} or the workspace owner's",
            "never": "privileged, devices, host namespaces, security options, other containers' namespaces",
        },
        "run_profiles": {
            name: {"agent": p.yolo, "mode": p.container_mode or "dind", "engine": p.engine or settings.default_engine}
            for name, p in settings.profiles().items()
        },
        "default_run_profile": settings.run_profile(None)[0],
        "credential_grants": credential_grants(settings),
        "network": network(settings),
        "quotas": {
            "sandboxes": settings.max_sandboxes,
            "containers_per_sandbox": settings.max_nested_containers,
            "idle_ttl": settings.idle_ttl,
            "idle_action": settings.idle_action,
        },
        "rules": [{"id": r.id, "refuses": r.refuses, "allowed": r.allowed} for r in rule_ids.TABLE.values()],
    }


def network(settings: ServerSettings) -> dict[str, Any]:
    """A sandbox's egress: what create_sandbox's `network` may choose, and what stays refused."""
    return {
        "default": settings.network_mode,
        "ceiling": settings.network_ceiling,
        "modes": list(MODES[: MODES.index(settings.network_ceiling) + 1]),
        "allowlist": list(settings.network_allow),
        "exceptions": list(settings.network_exceptions),
        "public_mode_refuses": [f"{cidr} ({what}, {source})" for cidr, what, source in BLOCKED]
        + ["the engine host's own addresses", "other sandboxes (each is alone on a network of its own)"],
        "proxy": settings.network_proxy,
        "registry_mirrors": list(settings.registry_mirrors),
        "enforced": "in the sandbox's outer container, out of reach of the sandbox's root (iptables, dnsmasq, "
        "tinyproxy for allowlist host names); nested containers cross the same rules",
    }


def credential_grants(settings: ServerSettings) -> list[dict[str, Any]]:
    """The credential folders the operator granted, read-only, by profile (host.credential-grant)."""
    return [
        {
            "profile": name,
            "volume": volume,
            "host_path": verdict.resolved,
            "read_only": True,
            "from": profile.granted_volumes[volume],
        }
        for name, profile in settings.profiles().items()
        for volume, verdict in profile_volume_verdicts(profile, settings)
        if verdict.rule == rule_ids.HOST_CREDENTIAL_GRANT.id
    ]


def sandbox_limits(settings: ServerSettings) -> dict[str, Any]:
    """Defaults and ceilings as the operator wrote them (describe_policy shows the host's figures
    instead once the engine has answered)."""
    return {
        "defaults": {
            "cpus": settings.default_cpus,
            "memory": settings.default_memory,
            "pids": settings.default_pids,
            "disk": None if settings.disk_quota == "off" else settings.default_disk,
        },
        "ceilings": {
            "cpus": settings.max_cpus or f"{settings.host_cpu_share:g} of the host's CPUs",
            "memory": settings.max_memory,
            "pids": settings.max_pids or f"{settings.host_pid_share:g} of the host's kernel.pid_max",
            "disk": None if settings.disk_quota == "off" else settings.max_disk,
        },
        "disk_quota": settings.disk_quota,
    }

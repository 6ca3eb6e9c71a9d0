"""The active policy as data, for an agent to plan calls that will pass (describe_policy)."""

from __future__ import annotations

from typing import Any

from manyoyo_mcp.config.settings import ServerSettings
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
        "workspace": {
            "allowed_roots": list(settings.allowed_host_roots),
            "refused_system_paths": list(SYSTEM_PATHS),
            "refused_credential_paths": [*CREDENTIALS, *SERVER_FILES],
            "refused_engine_sockets": list(ENGINE_SOCKETS),
        },
        "sandbox_images": [settings.sandbox_image, *settings.extra_sandbox_images],
        "loadable_host_images": list(settings.loadable_images),
        "preloaded_images": list(settings.preload_images),
        "sandbox_limits": {
            "defaults": {
                "cpus": settings.default_cpus,
                "memory": settings.default_memory,
                "pids": settings.default_pids,
            },
            "ceilings": {"cpus": settings.max_cpus, "memory": settings.max_memory, "pids": settings.max_pids},
        },
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
        "max_build_context": settings.max_build_context,
        "protected_sandbox_paths": list(allowlists.FORBIDDEN_SANDBOX_PATHS),
        "never_working_directories": list(allowlists.PROC_PATHS),
        "argument_limits": sizes.limits(),
        "nested_containers": {
            "capabilities_allowed": sorted(allowlists.CAPABILITY_ALLOWLIST),
            "sysctls_allowed": sorted(allowlists.SYSCTL_ALLOWLIST),
            "restart_policies": ["no", f"on-failure[:N], N <= {allowlists.MAX_RESTARTS}"],
            "never": "privileged, devices, host namespaces, security options, other containers' namespaces",
        },
        "run_profiles": {
            name: {"agent": p.yolo, "mode": p.container_mode or "dind", "engine": p.engine or settings.default_engine}
            for name, p in settings.profiles().items()
        },
        "default_run_profile": settings.run_profile(None)[0],
        "credential_grants": credential_grants(settings),
        "quotas": {"sandboxes": settings.max_sandboxes, "containers_per_sandbox": settings.max_nested_containers},
        "rules": [{"id": r.id, "refuses": r.refuses, "allowed": r.allowed} for r in rule_ids.TABLE.values()],
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

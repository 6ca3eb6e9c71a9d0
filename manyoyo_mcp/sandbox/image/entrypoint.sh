#!/bin/sh
# Start the sandbox's nested container engine (MANYOYO_ENGINE=docker|podman), then idle.
# Runs under tini as PID 1's child. Works with or without --privileged, on cgroup v1 and v2.
set -u
log=/var/log/manyoyo-engine.log

say() { echo "manyoyo-entrypoint: $*" | tee -a "$log" >&2; }

writable_cgroups() {
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        # cgroup v2: make the tree writable, move ourselves out of the root so that
        # controllers can be delegated to the nested engine's children.
        mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
        mkdir -p /sys/fs/cgroup/manyoyo-init
        while read -r pid; do
            echo "$pid" > /sys/fs/cgroup/manyoyo-init/cgroup.procs 2>/dev/null || true
        done < /sys/fs/cgroup/cgroup.procs
        for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
            echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        done
        return
    fi
    # cgroup v1: without --privileged the hierarchies arrive read-only; mount each again rw.
    for dir in /sys/fs/cgroup/*; do
        [ -d "$dir" ] || continue
        name=${dir##*/}
        touch "$dir/.manyoyo-rw" 2>/dev/null && { rm -f "$dir/.manyoyo-rw"; continue; }
        case "$name" in
            systemd) opts="none,name=systemd" ;;
            unified) continue ;;
            *) [ -L "$dir" ] && continue; opts="$name" ;;
        esac
        umount "$dir" 2>/dev/null
        mount -t cgroup -o "$opts" cgroup "$dir" 2>>"$log" || say "could not remount cgroup $name"
    done
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
}

# /run lives in the container's writable layer: after a stop and start it still holds the last
# run's pid files and sockets, which stop the engines from starting again.
clear_stale_run_state() {
    rm -rf /run/docker /run/docker.pid /run/docker.sock /run/containerd \
        /run/podman /run/containers /run/libpod /run/crun
}

# Nested networks (podman's netavark above all) set sysctls under /proc/sys/net, which an
# unprivileged outer container gets read-only. Those belong to the sandbox's own network
# namespace, so only that subtree is made writable; the rest of /proc/sys stays read-only.
writable_net_sysctls() {
    touch /proc/sys/net/ipv4/ip_forward 2>/dev/null && return
    mount --bind /proc/sys/net /proc/sys/net 2>>"$log" \
        && mount -o remount,rw,bind /proc/sys/net 2>>"$log" \
        || say "could not make /proc/sys/net writable; nested port publishing may fail"
}

start_docker() {
    dockerd --host=unix:///var/run/docker.sock >>"$log" 2>&1 &
}

start_podman() {
    mkdir -p /run/podman
    podman system service --time=0 unix:///run/podman/podman.sock >>"$log" 2>&1 &
}

if [ "${MANYOYO_ENGINE:-docker}" = sock ]; then
    say "sock mode: no engine of its own; /var/run/docker.sock is the host's engine"
    exec sleep infinity
fi
writable_cgroups
writable_net_sysctls
clear_stale_run_state
case "${MANYOYO_ENGINE:-docker}" in
    docker) start_docker ;;
    podman) start_podman ;;
    *) say "unknown MANYOYO_ENGINE '${MANYOYO_ENGINE}': expected docker or podman"; exit 2 ;;
esac
say "started ${MANYOYO_ENGINE:-docker}"
exec sleep infinity

# Shared by the scripts in scripts/vm/ (sourced, not run). Settings, paths and small helpers.
# shellcheck shell=bash disable=SC2034  # (the settings are used by the scripts that source this)

# Bump when what goes into the disk changes (guest configuration, preload method): it is part of
# the disk's cache key, so the next build makes a new disk instead of reusing an old one.
# ROOTFS_FORMAT is the same for the cached debootstrap (a change there rebuilds both).
VM_FORMAT=2
ROOTFS_FORMAT=1

VM_SUITE=bookworm
# The guest's packages. debootstrap --variant=minbase installs them with their dependencies
# (not their recommendations).
VM_PACKAGES=(
    linux-image-amd64 systemd-sysv udev dbus kmod
    docker.io iptables apparmor
    openssh-server iproute2 procps
)

VM_CACHE=${MANYOYO_VM_CACHE:-/var/cache/manyoyo-vm}      # built root filesystems and disks (kept)
VM_STATE=${MANYOYO_VM_STATE:-/var/tmp/manyoyo-vm}        # the running VM: pid, ports, overlay, log
VM_MIRROR=${MANYOYO_VM_MIRROR:-http://deb.debian.org/debian}
VM_MEM=${MANYOYO_VM_MEM:-4096}                           # MiB
VM_CPUS=${MANYOYO_VM_CPUS:-2}
VM_DISK_SIZE=${MANYOYO_VM_DISK_SIZE:-24G}                # sparse: only what is written takes space
VM_ACCEL=${MANYOYO_VM_ACCEL:-auto}                       # auto, tcg, or kvm:<cpu model>
VM_KVM_CPUS=${MANYOYO_VM_KVM_CPUS:-host max Skylake-Client qemu64}
VM_TCG_CPU=${MANYOYO_VM_TCG_CPU:-max}
VM_READY_TIMEOUT=${MANYOYO_VM_READY_TIMEOUT:-420}        # s, from qemu's start to the engine's answer
VM_KEEP=${MANYOYO_VM_KEEP:-2}                            # cached disks kept besides the one in use

GUEST_DOCKER_PORT=2375
GUEST_IP=10.0.2.15
GUEST_GATEWAY=10.0.2.2   # qemu user networking: the host, where the forwards come from
SSH_ALIAS=manyoyo-vm

log() { printf '%s vm: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$(basename "$0") needs root (debootstrap, a temporary dockerd, /dev/kvm)"
}

# Seconds since the epoch, with a fraction, and the time elapsed since such a mark.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Install Debian packages for the commands that are missing. Arguments: command=package pairs.
ensure_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing commands, install: ${missing[*]}"
    need_root
    log "installing ${missing[*]} ..."
    local t0 out
    t0=$(now)
    out=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"; } >"$out" 2>&1; then
        tail -n 20 "$out" >&2
        rm -f "$out"
        die "could not install ${missing[*]}"
    fi
    rm -f "$out"
    log "installed in $(since "$t0") s"
}

sha() { sha256sum | cut -c1-16; }

# The state of the running VM (written by up): one value a file under $VM_STATE.
state_get() { cat "$VM_STATE/$1" 2>/dev/null || true; }

# Whether the qemu recorded in the state dir still runs (and is ours: its command line names the state dir).
vm_running() {
    local pid; pid=$(state_get pid)
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$VM_STATE/"
}

# Whether a Docker engine answers /_ping on 127.0.0.1:$1 (bash's /dev/tcp: no client needed).
engine_answers() {
    # shellcheck disable=SC2016  # (expanded by the inner shell)
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /_ping HTTP/1.0\r\nHost: vm\r\n\r\n" >&3
        grep -q "^OK" <&3' _ "$1" 2>/dev/null
}

# ssh into the guest as root, with the key and host key of the disk it was booted from.
#   guest_ssh [SSH_OPTION ...] [-- REMOTE_COMMAND ...]
guest_ssh() {
    local port disk opts=()
    port=$(state_get ssh_port); disk=$(state_get disk)
    if [ -z "$port" ] || [ -z "$disk" ]; then die "no VM is running (scripts/vm/up)"; fi
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    ssh -q -i "$VM_CACHE/ssh/id_ed25519" -p "$port" \
        -o HostKeyAlias="$SSH_ALIAS" -o UserKnownHostsFile="$disk/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR "${opts[@]}" \
        root@127.0.0.1 "$@"
}

clear_state() { rm -f "$VM_STATE"/{pid,docker_port,ssh_port,disk,accel,boot_s,overlay.qcow2,qemu.pid}; }

# Stop the VM of the state dir (the caller holds $VM_STATE/lock) and forget it. Its overlay goes:
# nothing the guest wrote is kept.
stop_vm() {
    local pid _
    if vm_running; then
        pid=$(state_get pid)
        log "stopping the VM (pid $pid) ..."
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do vm_running || break; sleep 0.25; done
        if vm_running; then kill -9 "$pid" 2>/dev/null || true; sleep 0.5; fi
    fi
    clear_state
}

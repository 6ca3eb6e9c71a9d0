#!/bin/sh
# Known ways out of a container, tried from inside a sandbox (or a nested container). Each probe
# prints "<id> REACHED|BLOCKED <detail>". Probes that could change the host only ever write back
# what they read, or open for writing without writing. $1 = host canary path, $2 = the host
# engine's ID (to tell a socket that reaches the host's engine from the sandbox's own).
canary="$1"
host_engine_id="$2"

report() { echo "$1 $2 $3"; }

# 1. A host block device, made with mknod and read (the device cgroup should refuse opening it).
reached=""
for dev in /sys/dev/block/*; do
    [ -e "$dev" ] || continue
    numbers=$(basename "$dev"); major=${numbers%%:*}; minor=${numbers#*:}
    node="/tmp/.probe-blk-$major-$minor"
    mknod "$node" b "$major" "$minor" 2>/dev/null || continue
    if dd if="$node" of=/dev/null bs=512 count=1 2>/dev/null; then reached="$reached $numbers"; fi
    rm -f "$node"
done
if [ -n "$reached" ]; then report block-device REACHED "read host block device(s)$reached"
else report block-device BLOCKED "no host block device could be opened"; fi

# 2. The kernel's core_pattern (runs a host program on a crash): write back what it holds.
value=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
if printf '%s\n' "$value" 2>/dev/null > /proc/sys/kernel/core_pattern; then
    report core-pattern REACHED "/proc/sys/kernel/core_pattern is writable"
else report core-pattern BLOCKED "/proc/sys/kernel/core_pattern is read-only"; fi

# 3. /proc/sysrq-trigger: opened for writing, nothing written.
if (: > /proc/sysrq-trigger) 2>/dev/null; then report sysrq-trigger REACHED "/proc/sysrq-trigger opens for writing"
else report sysrq-trigger BLOCKED "/proc/sysrq-trigger cannot be opened for writing"; fi

# 4. A cgroup v1 release_agent (runs a host program when a cgroup empties): on the mounted
#    hierarchies, then on a hierarchy mounted anew; write back what it holds.
reached=""
for agent in /sys/fs/cgroup/*/release_agent; do
    [ -f "$agent" ] || continue
    value=$(cat "$agent" 2>/dev/null)
    if printf '%s' "$value" 2>/dev/null > "$agent"; then reached="$agent"; fi
done
if [ -z "$reached" ]; then
    mkdir -p /tmp/.probe-cg
    for controller in rdma memory pids cpu; do
        if mount -t cgroup -o "$controller" cgroup /tmp/.probe-cg 2>/dev/null; then
            if [ -f /tmp/.probe-cg/release_agent ]; then
                value=$(cat /tmp/.probe-cg/release_agent 2>/dev/null)
                if printf '%s' "$value" 2>/dev/null > /tmp/.probe-cg/release_agent; then
                    reached="a newly mounted $controller hierarchy"
                fi
            fi
            umount /tmp/.probe-cg 2>/dev/null
            [ -n "$reached" ] && break
        fi
    done
    rmdir /tmp/.probe-cg 2>/dev/null
fi
if [ -n "$reached" ]; then report release-agent REACHED "release_agent writable: $reached"
else report release-agent BLOCKED "no writable release_agent"; fi

# 5. Loading a kernel module: needs CAP_SYS_MODULE; then the init_module system call with no image.
capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if [ $(( 0x$capeff >> 16 & 1 )) = 0 ]; then
    report kernel-module BLOCKED "CAP_SYS_MODULE is not in the effective set"
elif command -v python3 >/dev/null 2>&1; then
    errno=$(python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); libc.syscall(175, None, 0, b""); print(ctypes.get_errno())' 2>/dev/null)
    case "$errno" in
        1) report kernel-module BLOCKED "init_module: EPERM" ;;
        38) report kernel-module BLOCKED "the kernel has no module support (ENOSYS)" ;;
        *) report kernel-module REACHED "init_module was allowed to try (errno $errno)" ;;
    esac
else report kernel-module REACHED "CAP_SYS_MODULE is effective"; fi

# 6. A host file outside the workspace: by its path, through every process's root, and by search.
found=""
for path in "$canary" /proc/*/root"$canary"; do
    if [ -r "$path" ] && grep -q manyoyo-canary "$path" 2>/dev/null; then found="$path"; break; fi
done
if [ -z "$found" ]; then
    found=$(find / -xdev -name "$(basename "$canary")" 2>/dev/null | head -n 1)
fi
if [ -n "$found" ]; then report host-canary REACHED "read the host canary at $found"
else report host-canary BLOCKED "the host canary is nowhere to be seen"; fi

# 7. The host's engine: any unix socket, and the usual TCP ports on the default gateway.
reached=""
for sock in $(find / -xdev -type s 2>/dev/null) /var/run/docker.sock /run/docker.sock; do
    [ -S "$sock" ] || continue
    answer=$(curl -s --max-time 2 --unix-socket "$sock" http://engine/info 2>/dev/null || wget -qO- "$sock" 2>/dev/null)
    case "$answer" in *"$host_engine_id"*) reached="$sock"; break;; esac
done
gateway=$(awk '$2 == "00000000" {print $3}' /proc/net/route 2>/dev/null | head -n 1)
if [ -z "$reached" ] && [ -n "$gateway" ]; then
    ip=$(printf '%d.%d.%d.%d' 0x$(echo "$gateway" | cut -c7-8) 0x$(echo "$gateway" | cut -c5-6) 0x$(echo "$gateway" | cut -c3-4) 0x$(echo "$gateway" | cut -c1-2))
    for port in 2375 2376; do
        answer=$(curl -s --max-time 2 "http://$ip:$port/info" 2>/dev/null || wget -T 2 -qO- "http://$ip:$port/info" 2>/dev/null)
        case "$answer" in *"$host_engine_id"*) reached="tcp://$ip:$port"; break;; esac
    done
fi
if [ -n "$reached" ]; then report host-engine REACHED "the host's engine answers at $reached"
else report host-engine BLOCKED "no socket or port reaches the host's engine"; fi

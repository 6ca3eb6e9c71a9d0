#!/bin/sh
# Network reach probes (tests/engine/test_network_reach.py): run in a sandbox, in a nested container
# (busybox) and in a sandbox whose root first tries to get around the rules. Every target is one the
# test made on this machine; each listener answers with a token, so "reached" means the token came
# back, never merely that a connect did not fail. Prints "<route> REACHED|BLOCKED|N/A <detail>".
#
# Arguments are name=value words: token, host_any (a host port bound to 0.0.0.0 and ::), host_lo (a
# host port bound to 127.0.0.1), host_addrs (the host's IPv4 addresses, space-separated), host_addrs6,
# gateway (the sandbox network's gateway), exception (address:port the operator excepted),
# internet (address), open_port, closed_port (an allowed and a not-allowed port there), names
# (allowed name), refused_name, other_addrs (another sandbox's addresses), other_ports (its ports
# there), other_published (the port the operator published for it on all the host's addresses).
set -u
for arg in "$@"; do
    name=${arg%%=*}
    case "$name" in *[!a-z0-9_]*) echo "bad argument $arg" >&2; exit 2 ;; esac
    eval "$name=\${arg#*=}"
done
B=busybox

# tcp ADDRESS PORT: did the listener's token come back?
tcp() {
    out=$(printf "GET / HTTP/1.0\r\n\r\n" | $B timeout 4 $B nc -w 2 "$1" "$2" 2>/dev/null)
    case "$out" in *"$token"*) return 0 ;; esac
    return 1
}

# reach ROUTE ADDRESS:PORT...: REACHED at the first target that answers with the token.
reach() {
    route=$1
    shift
    for target in "$@"; do
        if tcp "${target%:*}" "${target##*:}"; then echo "$route REACHED $target"; return; fi
    done
    echo "$route BLOCKED tried $*"
}

# targets PORT ADDRESS...: ADDRESS:PORT words
targets() {
    port=$1
    shift
    for address in "$@"; do printf '%s:%s ' "$address" "$port"; done
}

others=""
for port in $other_ports; do others="$others $(targets "$port" $other_addrs)"; done
# shellcheck disable=SC2046,SC2086  # address lists are space-separated on purpose
{
reach host-gateway "$gateway:$host_any"
reach host-addresses $(targets "$host_any" $host_addrs)
reach host-loopback $(targets "$host_lo" $host_addrs 127.0.0.1)
if [ -n "$host_addrs6" ]; then reach host-ipv6 $(targets "$host_any" $host_addrs6)
else echo "host-ipv6 N/A the host has no IPv6 address"; fi
reach exception "$exception"
reach internet-listed-port "$internet:$open_port"
reach internet-other-port "$internet:$closed_port"
reach other-sandbox $others $(targets "$other_published" $host_addrs)
}

# Host names: resolved by the sandbox's resolver, and fetched over HTTP (through the proxy in
# http_proxy when the sandbox has one: allowlist mode's; directly otherwise).
# resolve NAME: its address from the sandbox's resolver (nslookup asks it directly: no hosts file).
resolve() {
    $B timeout 6 $B nslookup "$1" 2>/dev/null | awk '/^Name:/ { found = 1 } found && /^Address/ { print $NF; exit }'
}

for pair in "dns-listed-name $names" "dns-other-name $refused_name"; do
    route=${pair%% *} name=${pair#* }
    if [ "$(resolve "$name")" = "$internet" ]; then echo "$route REACHED $name"
    else echo "$route BLOCKED $name"; fi
done
# HTTP by hand over nc (busybox's static wget cannot resolve names in a nested container).
http() {
    name=$1 port=$2
    if [ -n "${http_proxy:-}" ]; then
        hostport=${http_proxy#http://}
        hostport=${hostport%/}
        request="GET http://$name:$port/ HTTP/1.0\r\nHost: $name\r\n\r\n"
        set -- "${hostport%:*}" "${hostport##*:}"
    else
        address=$(resolve "$name")
        [ -n "$address" ] || { echo "no address for $name"; return; }
        request="GET / HTTP/1.0\r\nHost: $name\r\n\r\n"
        set -- "$address" "$port"
    fi
    printf "$request" | $B timeout 8 $B nc -w 4 "$1" "$2" 2>&1 | head -c 300
}

for pair in "http-listed-name $names" "http-other-name $refused_name"; do
    route=${pair%% *} name=${pair#* }
    out=$(http "$name" "$open_port")
    case "$out" in *"$token"*) echo "$route REACHED http://$name:$open_port/ ${http_proxy:+via $http_proxy}" ;;
        *) echo "$route BLOCKED ${http_proxy:+via $http_proxy}: $(echo "$out" | head -n 1)" ;; esac
done

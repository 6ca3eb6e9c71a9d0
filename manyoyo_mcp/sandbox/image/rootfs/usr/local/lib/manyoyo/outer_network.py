"""The sandbox proper's network containment, set up by outer-init as the outer root.

Every packet of the sandbox proper and of its nested containers crosses the outer container's
network namespace (the veth sbx0 <-> the proper's eth0), which the agent's root and CAP_NET_ADMIN
cannot reach. So the rules live here, written before the proper starts:

  filter   iptables/ip6tables (nft backend): what the proper may reach (MANYOYO_NETWORK's mode:
           none, public or allowlist, plus the operator's exceptions), that nothing reaches the
           outer's own stack but the resolver and the proxy, that nothing but the operator's
           published ports reaches the proper, and that nothing leaves sbx0 with a forged source;
  resolver dnsmasq on the veth, forwarding to the container's resolvers (Docker's embedded DNS);
           in allowlist mode it answers only the allowed names;
  proxy    tinyproxy on the veth in allowlist mode: HTTP(S) to the allowed host names only.

dnsmasq and tinyproxy read what the proper sends, so they run as nobody (dnsmasq binds port 53 as
root and drops to nobody before it reads a query; tinyproxy starts as nobody), and the OUTPUT rules
let nobody reach only what the proper itself may reach, plus the resolvers.

MANYOYO_NETWORK (JSON, written by the server, never by the agent): mode, allow (CIDR entries),
hosts (host-name entries), exceptions, blocked (the ranges public mode refuses, the engine host's
own addresses among them), ports (the operator's published ports), upstream_proxy. Without it
the sandbox has no network (fail closed).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

NOBODY = 65534
PROXY_PORT = 3128
PROXY_USER_AGENT_PORTS = (443,)  # CONNECT (HTTPS) only to these; plain HTTP to any port
NET_STATE = Path("/run/manyoyo/net")
LOCAL_NAMES = ("localhost", "ip6-localhost", "ip6-loopback")
CHAINS = tuple(f"MANYOYO-{name}" for name in ("IN", "FWD", "OUT", "EGRESS", "GUARD", "PUBLIC", "NOBODY"))


def settings(environ: dict[str, str]) -> dict[str, object]:
    """The server's network settings for this sandbox; mode none when they are missing or unreadable."""
    try:
        config = json.loads(environ.get("MANYOYO_NETWORK") or "")
    except ValueError:
        config = {}
    if not isinstance(config, dict) or config.get("mode") not in ("none", "public", "allowlist"):
        return {"mode": "none"}
    return config


def proxy_url(outer_address: str) -> str:
    return f"http://{outer_address}:{PROXY_PORT}"


def proper_environment(config: dict[str, object], outer_address: str) -> dict[str, str]:
    """Variables the sandbox proper gets: the proxy in allowlist mode, the operator's otherwise."""
    upstream = str(config.get("upstream_proxy") or "")
    proxy = proxy_url(outer_address) if config["mode"] == "allowlist" else upstream
    if not proxy:
        return {}
    no_proxy = "localhost,127.0.0.1,::1"
    return {name: value for key, value in (("http_proxy", proxy), ("https_proxy", proxy), ("no_proxy", no_proxy))
            for name in (key, key.upper())}  # fmt: skip


def resolv_conf(outer_address: str) -> Path:
    """The proper's /etc/resolv.conf: the resolver on the veth (the outer's own names 127.0.0.11)."""
    NET_STATE.mkdir(parents=True, exist_ok=True)
    path = NET_STATE / "resolv.conf"
    path.write_text(f"nameserver {outer_address}\noptions ndots:0\n")
    path.chmod(0o644)
    return path


def allowed_name(name: str, hosts: list[str]) -> bool:
    return any(name == host or (host.startswith("*.") and name.endswith(host[1:])) for host in hosts)


def hosts_file(config: dict[str, object]) -> Path | None:
    """In allowlist mode, the proper's /etc/hosts (and the resolver's) keeps only the allowed names
    of the container's (the operator's extra hosts among them), and localhost; otherwise None."""
    if config["mode"] != "allowlist":
        return None
    allowed = [str(h) for h in config.get("hosts") or []]
    kept = []
    for line in Path("/etc/hosts").read_text().splitlines():
        words = line.split("#", 1)[0].split()
        names = [n for n in words[1:] if n in LOCAL_NAMES or allowed_name(n, allowed)]
        if names:
            kept.append(f"{words[0]}\t{' '.join(names)}")
    NET_STATE.mkdir(parents=True, exist_ok=True)
    path = NET_STATE / "hosts"
    path.write_text("\n".join(kept) + "\n")
    path.chmod(0o644)
    return path


def upstream_resolvers() -> list[str]:
    """The outer container's own resolvers (Docker's embedded DNS on a network of its own)."""
    found = []
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            found.append(words[1])
    return found or ["127.0.0.11"]


# -- the rules ------------------------------------------------------------------------------


def _family(cidr: str) -> int:
    return ipaddress.ip_network(cidr, strict=False).version


def _match(entry: dict[str, object]) -> str:
    """An iptables match for a destination entry {cidr, port?, proto?}."""
    words = f"-d {entry['cidr']}"
    if entry.get("port"):
        words += f" -p {entry.get('proto') or 'tcp'} --dport {entry['port']}"
    elif entry.get("proto"):
        words += f" -p {entry['proto']}"
    return words


def _reject(version: int) -> list[str]:
    icmp = "icmp-admin-prohibited" if version == 4 else "icmp6-adm-prohibited"
    return ["-p tcp -j REJECT --reject-with tcp-reset", f"-j REJECT --reject-with {icmp}"]


def filter_rules(config: dict[str, object], version: int, inner: str, outer: str) -> list[str]:
    """The filter table's rules for one address family (iptables-restore lines, chains included)."""
    mode = config["mode"]
    entries = lambda key: [e for e in config.get(key) or [] if _family(str(e["cidr"])) == version]  # noqa: E731
    lines = [f":{chain} - [0:0]" for chain in CHAINS]
    lines += ["-I INPUT 1 -j MANYOYO-IN", "-I FORWARD 1 -j MANYOYO-FWD", "-I OUTPUT 1 -j MANYOYO-OUT"]
    reject = _reject(version)
    # Into the outer's own stack: loopback, answers, and from the proper the resolver and the proxy.
    lines += ["-A MANYOYO-IN -i lo -j ACCEPT", "-A MANYOYO-IN -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    if version == 4 and mode != "none":
        for proto in ("udp", "tcp"):
            lines.append(f"-A MANYOYO-IN -i sbx0 -s {inner} -d {outer} -p {proto} --dport 53 -j ACCEPT")
        if mode == "allowlist":
            lines.append(f"-A MANYOYO-IN -i sbx0 -s {inner} -d {outer} -p tcp --dport {PROXY_PORT} -j ACCEPT")
    lines += [f"-A MANYOYO-IN -i sbx0 {r}" for r in reject] + ["-A MANYOYO-IN -j DROP"]
    # Through it: answers; the operator's published ports to the proper; the proper's egress.
    lines += [
        "-A MANYOYO-FWD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        *([f"-A MANYOYO-FWD -o sbx0 -d {inner} -m conntrack --ctstate DNAT -j ACCEPT"] if version == 4 else []),
        *([f"-A MANYOYO-FWD -i sbx0 -s {inner} -j MANYOYO-EGRESS"] if version == 4 else []),
        *[f"-A MANYOYO-FWD -i sbx0 {r}" for r in reject],
        "-A MANYOYO-FWD -j DROP",
    ]
    # The guard of both modes: the operator's exceptions pass, the blocked ranges (private, loopback,
    # link-local, metadata, the engine host's own addresses) are refused; public mode passes the rest.
    lines += [f"-A MANYOYO-GUARD {_match(e)} -j ACCEPT" for e in entries("exceptions")]
    lines += [f"-A MANYOYO-GUARD -d {cidr} {r}" for cidr in config.get("blocked") or [] if _family(cidr) == version
              for r in reject]  # fmt: skip
    lines += ["-A MANYOYO-PUBLIC -j MANYOYO-GUARD", "-A MANYOYO-PUBLIC -j ACCEPT"]
    # The proper's egress by mode.
    if mode == "public":
        lines.append("-A MANYOYO-EGRESS -j MANYOYO-PUBLIC")
    elif mode == "allowlist":
        lines.append("-A MANYOYO-EGRESS -j MANYOYO-GUARD")
        lines += [f"-A MANYOYO-EGRESS {_match(e)} -j ACCEPT" for e in entries("allow")]
    lines += [f"-A MANYOYO-EGRESS {r}" for r in reject]
    # Out of the outer's own stack: nobody (the resolver, the proxy) reaches the resolvers and, for
    # the proxy, what public mode reaches (the names are the proxy's filter); root runs fixed code only.
    # (So a name resolving to a private address gets nowhere either: no rebinding filter is needed.)
    lines += ["-A MANYOYO-OUT -o lo -j ACCEPT", "-A MANYOYO-OUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    lines.append(f"-A MANYOYO-OUT -m owner --uid-owner {NOBODY} -j MANYOYO-NOBODY")
    for server in upstream_resolvers():
        if ipaddress.ip_address(server).version == version:
            lines += [f"-A MANYOYO-NOBODY -d {server} -p {p} --dport 53 -j ACCEPT" for p in ("udp", "tcp")]
    if mode == "allowlist":
        lines.append("-A MANYOYO-NOBODY -p tcp -j MANYOYO-PUBLIC")
    lines += [f"-A MANYOYO-NOBODY {r}" for r in reject]
    return ["*filter", *lines, "COMMIT"]


def nat_rules(config: dict[str, object], inner: str) -> list[str]:
    """Masquerading of the proper's egress, and the operator's published ports led to the proper."""
    lines = ["*nat", ":MANYOYO-PRE - [0:0]", ":MANYOYO-POST - [0:0]"]
    lines += ["-I PREROUTING 1 -j MANYOYO-PRE", "-I POSTROUTING 1 -j MANYOYO-POST"]
    for port, proto in config.get("ports") or []:
        to = f"{inner}:{int(port)}"
        lines.append(f"-A MANYOYO-PRE ! -i sbx0 -p {proto} --dport {int(port)} -j DNAT --to-destination {to}")
    lines.append(f"-A MANYOYO-POST -s {inner} ! -o sbx0 -j MASQUERADE")
    return [*lines, "COMMIT"]


def _restore(command: str, lines: list[str]) -> None:
    done = subprocess.run([command, "--noflush"], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr.strip()}")


def ipv6_active() -> bool:
    try:
        return bool(Path("/proc/net/if_inet6").read_text().strip())
    except OSError:
        return False


def neighbourhood() -> list[str]:
    """The outer container's own networks and gateways (the engine's host, whatever its address
    pool): refused like the host's addresses the server learned, should those be out of date."""
    found = []
    for family in ("-4", "-6"):
        routes = subprocess.run(["ip", family, "-o", "route", "show"], capture_output=True, text=True).stdout
        for line in routes.splitlines():
            words = line.split()
            if "sbx0" in words or not words:
                continue
            if "via" in words:
                found.append(words[words.index("via") + 1])
            if words[0] != "default" and "/" in words[0]:
                found.append(words[0])
    return [str(ipaddress.ip_network(cidr, strict=False)) for cidr in dict.fromkeys(found)]


def apply_rules(config: dict[str, object], inner: str, outer: str) -> None:
    config = {**config, "blocked": [*(config.get("blocked") or []), *neighbourhood()]}  # type: ignore[list-item]
    _restore("iptables-restore", filter_rules(config, 4, inner, outer) + nat_rules(config, inner))
    try:
        _restore("ip6tables-restore", filter_rules(config, 6, inner, outer))
    except RuntimeError:
        if ipv6_active():  # a family with addresses and no rules would be a way around them
            raise


# -- the resolver and the proxy --------------------------------------------------------------


def start_resolver(config: dict[str, object], outer: str) -> subprocess.Popen[bytes] | None:
    if config["mode"] == "none":
        return None
    argv = [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-",
        f"--listen-address={outer}", "--bind-interfaces", "--user=nobody", "--group=nogroup",
        "--no-resolv", "--cache-size=1000", "--no-negcache",
    ]  # fmt: skip
    upstream = upstream_resolvers()
    if config["mode"] == "allowlist":
        argv += ["--no-hosts", f"--addn-hosts={NET_STATE / 'hosts'}"]
        argv.append("--address=/#/")  # every name not allowed below: no such domain
        for name in config.get("hosts") or []:
            domain = str(name).removeprefix("*.")
            argv += [f"--server=/{domain}/{server}" for server in upstream]
    else:
        argv += [f"--server={server}" for server in upstream]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def proxy_config(config: dict[str, object], outer: str, inner: str) -> str:
    lines = [
        f"Port {PROXY_PORT}", f"Listen {outer}", f"Allow {inner}", "Timeout 600", "MaxClients 200",
        "LogLevel Warning", "DisableViaHeader Yes", f"Filter \"{NET_STATE / 'proxy-hosts'}\"", "FilterType fnmatch",
        "FilterURLs Off", "FilterDefaultDeny Yes", "FilterCaseSensitive Off",
        *[f"ConnectPort {port}" for port in PROXY_USER_AGENT_PORTS],
    ]  # fmt: skip
    upstream = str(config.get("upstream_proxy") or "")
    if upstream:
        lines.append(f"Upstream http {upstream.removeprefix('http://').rstrip('/')}")
    return "\n".join(lines) + "\n"


def start_proxy(config: dict[str, object], outer: str, inner: str) -> subprocess.Popen[bytes] | None:
    if config["mode"] != "allowlist":
        return None
    NET_STATE.mkdir(parents=True, exist_ok=True)
    (NET_STATE / "proxy-hosts").write_text("".join(f"{name}\n" for name in config.get("hosts") or []))
    (NET_STATE / "tinyproxy.conf").write_text(proxy_config(config, outer, inner))
    for name in ("proxy-hosts", "tinyproxy.conf"):
        (NET_STATE / name).chmod(0o644)
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all", "--no-new-privs"]
    argv = [*drop, "tinyproxy", "-d", "-c", str(NET_STATE / "tinyproxy.conf")]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def contain(config: dict[str, object], inner: str, outer: str) -> dict[str, object]:
    """Rules first, then the resolver and the proxy: what the sandbox's state says of its network."""
    apply_rules(config, inner, outer)
    resolver = start_resolver(config, outer)
    proxy = start_proxy(config, outer, inner)
    return {
        "mode": config["mode"],
        "resolver": f"{outer}:53" if resolver else None,
        "proxy": proxy_url(outer) if proxy else None,
        "allow": [e["cidr"] if not e.get("port") else f"{e['cidr']}:{e['port']}" for e in config.get("allow") or []],
        "hosts": list(config.get("hosts") or []),
        "pids": [p.pid for p in (resolver, proxy) if p is not None],
    }


if __name__ == "__main__":  # print the rules a configuration makes (for a reader; changes nothing)
    example = settings(dict(os.environ))
    print("\n".join(filter_rules(example, 4, "10.123.0.2", "10.123.0.1") + nat_rules(example, "10.123.0.2")))

"""What a sandbox reaches on the network under each egress mode (issue 13), measured on every run from
a sandbox (the server's `exec`), a nested container, and a sandbox whose root first tries to get
around the rules (its own iptables flushed, routes to every private range, a macvlan interface with
a forged address, raw sockets). The targets are the test's own (network_targets.py): listeners on
the host, another sandbox, and "the internet" as a namespace of the test's at a TEST-NET-2 address.

Each outcome must match EXPECTED; the run is written to build/network-reach.json and SECURITY.md's
network table must show it (`scripts/security-table` rewrites it)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.run_profiles import RunProfile
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, docker, load_testbox
from .network_targets import HostListeners, Internet, host_listeners, internet

ROOT = Path(__file__).parent.parent.parent
PROBES = (Path(__file__).parent / "network_probes.sh").read_text()
AGENT = (Path(__file__).parent / "network_agent.py").read_text()
SECURITY = ROOT / "SECURITY.md"
RESULTS = ROOT / "build" / "network-reach.json"
MODES = ("none", "allowlist", "public")
PLACES = ("sandbox", "nested", "agent")
REACHED, BLOCKED, NA = "REACHED", "BLOCKED", "N/A"

ROUTES: dict[str, str] = {
    "host-gateway": "a host port bound to `0.0.0.0`/`::`, at the gateway of the sandbox's network",
    "host-addresses": "the same port at every IPv4 address of the host (its public one, `docker0`, ...)",
    "host-loopback": "a host port bound to `127.0.0.1`, at every host address and at `127.0.0.1`",
    "host-ipv6": "the `::` port at the host's global IPv6 addresses",
    "exception": "the operator's exception: one host port at one host address, the only one excepted",
    "internet-listed-port": '"the internet" (the test\'s namespace at a TEST-NET-2 address) on the allowlisted port',
    "internet-other-port": "the same address on a port the allowlist does not name",
    "other-sandbox": "another sandbox: its outer address and its nested container's, its proper's unpublished "
    "port, its nested container's port published inside it, and the port the operator published for it "
    "on all the host's addresses",
    "dns-listed-name": 'resolve the allowlisted name (the operator\'s host entry for "the internet")',
    "dns-other-name": "resolve a name not on the allowlist (another host entry, same address)",
    "http-listed-name": "HTTP to the allowlisted name (through the sandbox's proxy when it has one)",
    "http-other-name": "HTTP to the other name (the same way)",
    "forged-source-tcp": 'TCP to "the internet" from a forged address on a new macvlan interface',
    "raw-true-source": 'a UDP datagram from a raw socket to an unlisted port of "the internet"',
    "raw-forged-source": "the same with a forged source address",
}
AGENT_ROUTES = ("forged-source-tcp", "raw-true-source", "raw-forged-source")

# The expected outcome of each route from each place (sandbox, nested, agent), under each mode.
# R: reached, b: blocked, -: not applicable there.
EXPECTED_GRID = """
route                 none  allowlist  public
host-gateway          bbb   bbb        bbb
host-addresses        bbb   bbb        bbb
host-loopback         bbb   bbb        bbb
host-ipv6             bbb   bbb        bbb
exception             bbb   RRR        RRR
internet-listed-port  bbb   RRR        RRR
internet-other-port   bbb   bbb        RRR
other-sandbox         bbb   bbb        bbb
dns-listed-name       bbb   RRR        RRR
dns-other-name        bbb   bbb        RRR
http-listed-name      bbb   RRR        RRR
http-other-name       bbb   bbb        RRR
forged-source-tcp     --b   --b        --b
raw-true-source       --b   --b        --R
raw-forged-source     --b   --b        --b
"""
LETTER = {"R": REACHED, "b": BLOCKED, "-": NA}


def expected() -> dict[tuple[str, str, str], str]:
    rows = [line.split() for line in EXPECTED_GRID.strip().splitlines()[1:]]
    return {
        (route, mode, place): LETTER[cells[m][p]]
        for route, *cells in rows
        for m, mode in enumerate(MODES)
        for p, place in enumerate(PLACES)
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    route: str
    mode: str
    place: str
    outcome: str
    detail: str


LINE = re.compile(r"^(\S+) (REACHED|BLOCKED|N/A|SENT) ?(.*)$", re.MULTILINE)


def parse(stdout: str) -> dict[str, tuple[str, str]]:
    return {m[1]: (m[2], m[3]) for m in LINE.finditer(stdout)}


@dataclasses.dataclass(frozen=True, slots=True)
class Other:
    """Another sandbox, with something listening at every way into it."""

    addresses: tuple[str, ...]
    ports: tuple[int, ...]
    published: int


async def _exec(client: Client, sandbox: str, command: list[str], timeout_s: int = 300) -> dict[str, Any]:
    return await call(client, "exec", {"sandbox": sandbox, "command": command, "timeout_s": timeout_s})


async def make_other(client: Client, token: str) -> Other:
    """Sandbox B: a listener on its proper's port 7070 (published by the operator on 0.0.0.0 of the
    host) and a nested web server published on 8080 (inside B)."""
    created = await call(client, "create_sandbox", {"name": "reach-other", "profile": "published"})
    load_testbox(created["id"], "docker")
    serve = (
        f"mkdir -p /tmp/www && echo {token} > /tmp/www/index.html && busybox httpd -p 7070 -h /tmp/www && "
        f"docker run -d --name web -p 8080:80 {TESTBOX} sh -c "
        f"'mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null && "
        "docker inspect -f '{{.NetworkSettings.IPAddress}}' web"
    )
    ran = await _exec(client, "reach-other", ["sh", "-c", serve])
    assert ran["exit_code"] == 0, ran
    inspect = json.loads(docker("inspect", created["id"]))[0]
    outer = [n["IPAddress"] for n in inspect["NetworkSettings"]["Networks"].values()]
    published = int(inspect["NetworkSettings"]["Ports"]["7070/tcp"][0]["HostPort"])
    # The operator's published port reaches the sandbox proper (led there by its outer container).
    with socket.create_connection(("127.0.0.1", published), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):  # HTTP/1.0: the answer ends when the connection does
            answer += chunk
    assert token in answer.decode(errors="replace")
    return Other((*outer, ran["stdout"].strip()), (7070, 8080, 80), published)


def probe_args(token: str, host: HostListeners, net: Internet, other: Other, gateway: str, exception: str) -> list[str]:
    return [
        f"token={token}",
        f"host_any={host.any_port}",
        f"host_lo={host.loopback_port}",
        f"host_addrs={' '.join(host.ipv4)}",
        f"host_addrs6={' '.join(host.ipv6)}",
        f"gateway={gateway}",
        f"exception={exception}",
        f"internet={net.address}",
        f"open_port={net.open_port}",
        f"closed_port={net.closed_port}",
        "names=internet.test",
        "refused_name=refused.test",
        f"other_addrs={' '.join(other.addresses)}",
        f"other_ports={' '.join(map(str, other.ports))}",
        f"other_published={other.published}",
    ]


def _records(mode: str, place: str, found: dict[str, tuple[str, str]], ran: dict[str, Any]) -> list[Record]:
    routes = [r for r in ROUTES if r not in AGENT_ROUTES or place == "agent"]
    missing = [r for r in routes if r not in found]
    assert not missing, f"{mode} {place}: no outcome for {missing}\n{ran}"
    records = [Record(r, mode, place, *found[r]) for r in routes]
    return records + [Record(r, mode, place, NA, "the agent's own routes") for r in AGENT_ROUTES if place != "agent"]


async def measure_mode(
    client: Client, mode: str, token: str, host: HostListeners, net: Internet, other: Other, exception: str
) -> list[Record]:
    name = f"reach-{mode}"
    network: Any = mode
    if mode == "allowlist":
        network = {"mode": "allowlist", "allow": [f"{net.address}:{net.open_port}", "internet.test"]}
    created = await call(client, "create_sandbox", {"name": name, "network": network})
    assert created["network"]["mode"] == mode
    try:
        load_testbox(created["id"], "docker")
        networks = json.loads(docker("inspect", created["id"]))[0]["NetworkSettings"]["Networks"]
        (gateway,) = [n["Gateway"] for n in networks.values()]
        args = probe_args(token, host, net, other, gateway, exception)
        records: list[Record] = []
        ran = await _exec(client, name, ["sh", "-c", PROBES, "probes", *args])
        records += _records(mode, "sandbox", parse(ran["stdout"]), ran)
        proxy = ["-e", "http_proxy=http://10.123.0.1:3128"] if mode == "allowlist" else []
        nested = ["docker", "run", "--rm", *proxy, TESTBOX, "sh", "-c", PROBES, "probes", *args]
        ran = await _exec(client, name, nested)
        records += _records(mode, "nested", parse(ran["stdout"]), ran)
        agent_args = [f"token={token}", f"internet={net.address}", f"open_port={net.open_port}", "udp_port=9091"]
        tricks = await _exec(client, name, ["sudo", "python3", "-c", AGENT, *agent_args])
        assert "agent-uid 0" in tricks["stdout"], tricks
        ran = await _exec(client, name, ["sh", "-c", PROBES, "probes", *args])
        found = {**parse(ran["stdout"]), **parse(tricks["stdout"])}
        for route, marker in (("raw-true-source", "-true"), ("raw-forged-source", "-forged")):
            if found[route][0] == "SENT":
                arrived = f"{token}{marker}" in net.received()
                found[route] = (REACHED if arrived else BLOCKED, "arrived" if arrived else "sent, never arrived")
        return records + _records(mode, "agent", found, ran)
    finally:
        await call(client, "remove_sandbox", {"sandbox": name})


@dataclasses.dataclass
class Measurement:
    date: str
    kernel: str
    host_engine: str
    records: list[Record]

    def outcomes(self) -> dict[tuple[str, str, str], str]:
        return {(r.route, r.mode, r.place): r.outcome for r in self.records}


async def measure(settings: ServerSettings, engine: Any) -> Measurement:
    token = f"manyoyo-net-{secrets.token_hex(4)}"
    info = json.loads(docker("info", "--format", "{{json .}}"))
    with internet(token) as net, host_listeners(token) as host:
        # One host port at one host address (not docker0's 172.17.0.1: a nested engine's own bridge
        # has that address inside the sandbox, so it never leaves it).
        exception = f"{net.host_side}:{host.exception_port}"
        measured = settings.model_copy(
            update={
                "network_exceptions": (exception,),
                "network_hosts": (f"internet.test={net.address}", f"refused.test={net.address}"),
                "runs": {"published": RunProfile(ports=("0.0.0.0::7070",))},
            }
        )
        async with Client(build_server(measured, engine)) as client:
            other = await make_other(client, token)
            try:
                records = []
                for mode in MODES:
                    records += await measure_mode(client, mode, token, host, net, other, exception)
            finally:
                await call(client, "remove_sandbox", {"sandbox": "reach-other"})
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return Measurement(when, info["KernelVersion"], f"Docker {info['ServerVersion']}", records)


def write_results(measurement: Measurement) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = {**dataclasses.asdict(measurement), "records": [dataclasses.asdict(r) for r in measurement.records]}
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")


def read_results(path: Path = RESULTS) -> Measurement:
    data = json.loads(path.read_text())
    return Measurement(data["date"], data["kernel"], data["host_engine"], [Record(**r) for r in data["records"]])


# -- SECURITY.md's table -------------------------------------------------------------------------

BEGIN = (
    "<!-- network-reach-table: generated by scripts/security-table from tests/engine/test_network_reach.py; "
    "do not edit -->"
)
END = "<!-- network-reach-table: end -->"
CELL = {REACHED: "**reached**", BLOCKED: "blocked", NA: "n/a"}


def render_table(measurement: Measurement) -> str:
    cells = measurement.outcomes()
    columns = [(mode, place) for mode in MODES for place in PLACES]
    out = [
        BEGIN,
        "`tests/engine/test_network_reach.py` runs `tests/engine/network_probes.sh` and `network_agent.py` on every",
        "test run and fails if an outcome differs from its expectations or from this table, which is generated from",
        "the last run (`scripts/security-table`). Every target is the test's own: a reach is a token coming back.",
        "",
        f"- Measured {measurement.date}, Linux {measurement.kernel}, {measurement.host_engine} on the host.",
        "",
        "| route | " + " | ".join(f"`{mode}`<br>{place}" for mode, place in columns) + " | what it tries |",
        "|---|" + "---|" * len(columns) + "---|",
    ]
    for route, tries in ROUTES.items():
        row = [CELL[cells.get((route, *column), NA)] for column in columns]
        out.append(f"| `{route}` | " + " | ".join(row) + f" | {tries} |")
    out += [
        "",
        "Places: **sandbox**: a command through the server's `exec`; **nested**: a container of the sandbox's "
        "engine (`docker run`); **agent**: the sandbox's root after flushing its own iptables, routing every "
        "private range and IPv6 out of `eth0`, adding a macvlan interface with a forged address, and sending from "
        "raw sockets.",
        END,
    ]
    return "\n".join(out)


def render_security(measurement: Measurement, text: str) -> str:
    if BEGIN not in text or END not in text:
        raise AssertionError(f"SECURITY.md has no {BEGIN!r} ... {END!r} markers to write the table between")
    before, rest = text.split(BEGIN, 1)
    return before + render_table(measurement) + rest.split(END, 1)[1]


def shown_in_security(text: str) -> dict[tuple[str, str, str], str]:
    if BEGIN not in text or END not in text:
        return {}
    back = {shown: outcome for outcome, shown in CELL.items()}
    table = {}
    for line in text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        route = cells[0].strip("`")
        for (mode, place), cell in zip([(m, p) for m in MODES for p in PLACES], cells[1:], strict=False):
            table[(route, mode, place)] = back.get(cell, cell)
    return table


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(settings: ServerSettings, engine: Any) -> Iterator[Measurement]:
    measurement = anyio.run(measure, settings, engine)
    write_results(measurement)
    yield measurement


def test_every_route_has_the_expected_outcome_under_each_mode(measured: Measurement):
    want = expected()
    wrong = [
        f"  {r.route} from {r.place} under {r.mode}: expected {want[(r.route, r.mode, r.place)]}, "
        f"measured {r.outcome} ({r.detail})"
        for r in measured.records
        if want[(r.route, r.mode, r.place)] != r.outcome and not (r.route == "host-ipv6" and r.outcome == NA)
    ]
    assert set(want) == set(measured.outcomes())
    assert not wrong, f"{len(wrong)} outcomes differ from EXPECTED_GRID:\n" + "\n".join(wrong)


def test_security_md_shows_the_network_outcomes_of_this_run(measured: Measurement):
    shown = shown_in_security(SECURITY.read_text())
    differ = [
        f"  {route} from {place} under {mode}: SECURITY.md shows {shown.get((route, mode, place))}, measured {outcome}"
        for (route, mode, place), outcome in measured.outcomes().items()
        if shown.get((route, mode, place)) != outcome
    ]
    assert not differ, (
        f"SECURITY.md's network table differs from this run ({len(differ)}):\n"
        + "\n".join(differ[:20])
        + f"\nRegenerate it from {RESULTS.relative_to(ROOT)}: scripts/security-table"
    )


def test_the_table_round_trips(measured: Measurement):
    text = render_security(measured, SECURITY.read_text())
    assert shown_in_security(text) == measured.outcomes()


def test_nothing_of_the_measurement_is_left_on_the_host(measured: Measurement, scope: str):
    # Only the measurement's own: other modules' sandboxes of this run may still be up.
    own = ("--filter", f"label=io.manyoyo.mcp.scope={scope}", "--filter", "name=reach-")
    left = docker("ps", "-aq", *own)
    networks = docker("network", "ls", "-q", *own)
    assert (left.strip(), networks.strip()) == ("", "")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "mnr" not in links and "mnr-" not in namespaces

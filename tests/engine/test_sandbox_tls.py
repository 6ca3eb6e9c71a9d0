"""HTTPS from inside a sandbox, where a TLS-intercepting proxy sits between the machine and the
internet (as on the machines that test this project): the image trusts the host's extra certificate
authorities, npm installs a tiny package from the real registry through the proxy, and curl, git,
pip, node and both nested engines' pulls take their trust from the system store the image adds the
authorities to. The last is shown against TLS listeners the test starts inside the sandbox, with
certificates from two authorities it makes: one added to the store (the request gets past TLS; a
pull then fails only because the listener is no registry), one not (each client refuses it with a
certificate error). No traffic but the one npm install leaves the machine."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox.image_build import certificate_files
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, dind_sandbox

pytestmark = pytest.mark.anyio

# Two authorities, a server certificate from each for the sandbox's address, a folder to serve (a
# file, a git repository over dumb HTTP, a pip index with one wheel, a registry's /v2/), a listener
# per authority, and the "trusted" one added to the system store as an operator would.
SETUP = r"""
set -e
address=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
mkdir -p /tmp/tls/www/simple/seedpkg && cd /tmp/tls
for ca in trusted stranger; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=manyoyo test $ca CA" \
        -keyout $ca-ca.key -out $ca-ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$address" -keyout $ca.key -out $ca.csr 2>/dev/null
    echo "subjectAltName=IP:$address,DNS:localhost" > san.ext
    openssl x509 -req -in $ca.csr -CA $ca-ca.crt -CAkey $ca-ca.key -CAcreateserial -days 1 \
        -extfile san.ext -out $ca.crt 2>/dev/null
done
echo "hello over TLS" > www/hello.txt
git init -q --bare www/repo.git && git clone -q www/repo.git work 2>/dev/null
cd work && echo seeded > README && git add README && git -c user.name=t -c user.email=t@t commit -qm seed
git push -q origin HEAD && cd ..
git -C www/repo.git update-server-info
echo "$WHEEL" | base64 -d > www/simple/seedpkg/seedpkg-1.0-py3-none-any.whl
echo '<a href="seedpkg-1.0-py3-none-any.whl">seedpkg-1.0-py3-none-any.whl</a>' > www/simple/seedpkg/index.html
nohup python3 -c "$SERVE" 8443 trusted www > trusted.log 2>&1 &
nohup python3 -c "$SERVE" 8444 stranger www > stranger.log 2>&1 &
sudo cp trusted-ca.crt /usr/local/share/ca-certificates/manyoyo-test-trusted.crt
sudo update-ca-certificates >/dev/null 2>&1
for port in 8443 8444; do
    for _ in $(seq 50); do (exec 3<>/dev/tcp/$address/$port) 2>/dev/null && break; sleep 0.1; done
done
echo $address
"""
# A static HTTPS server of a folder that answers a registry's way under /v2/ (200 on /v2/, the
# registry's JSON error otherwise). argv: port, certificate name, folder.
SERVE = r"""
import functools, http.server, json, ssl, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def send_error(self, code, message=None, explain=None):
        if not self.path.startswith("/v2/"):
            return super().send_error(code, message, explain)
        body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            return self.wfile.write(b"{}")
        return super().do_GET()
port, name, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(name + ".crt", name + ".key")
server = http.server.ThreadingHTTPServer(("0.0.0.0", port), functools.partial(Handler, directory=folder))
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""
# Each client against one listener (PORT), as the default user; one line each: NAME<TAB>exit code<TAB>output.
# The clients go to localhost (pip's truststore cannot check a certificate for an IP address: "check_hostname
# requires server_hostname"); the pulls to the sandbox's address (the engines skip verification on loopback).
CLIENTS = r"""
url=https://localhost:$PORT
c() { name=$1; shift; out=$("$@" 2>&1); printf '%s\t%s\t%s\n' "$name" "$?" "$(echo "$out" | tr '\n' ' ')"; }
rm -rf /tmp/clone-$PORT /tmp/venv-$PORT
c curl curl -sS $url/hello.txt
c git git clone -q $url/repo.git /tmp/clone-$PORT
venv=/tmp/venv-$PORT
c pip sh -c "python3 -m venv $venv && $venv/bin/pip install -q --no-cache-dir --index-url $url/simple seedpkg \
    && $venv/bin/python -c 'import seedpkg; print(seedpkg.WHO)'"
c node node -e "fetch('$url/hello.txt').then(r => r.text())
    .then(t => process.stdout.write(t), e => { console.error(String(e.cause || e)); process.exit(1) })"
c pull docker pull $ADDRESS:$PORT/seed/probe:1
"""
SHOW_TRUST = r"""
cat /usr/local/share/ca-certificates/manyoyo/*.crt 2>/dev/null; echo @@
cat /etc/ssl/certs/ca-certificates.crt; echo @@
env | grep -E '^(NODE_EXTRA_CA_CERTS|PIP_CERT|SSL_CERT_FILE)='
"""
CERTIFICATE_ERROR = re.compile(r"certificate|x509|SSL", re.IGNORECASE)


def wheel() -> str:
    """A wheel of one module (seedpkg.WHO = "seedpkg from the local index"), base64."""
    import io
    import zipfile

    files = {
        "seedpkg.py": 'WHO = "seedpkg from the local index"\n',
        "seedpkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: seedpkg\nVersion: 1.0\n",
        "seedpkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files["seedpkg-1.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in [*files, "seedpkg-1.0.dist-info/RECORD"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def sandbox(settings: ServerSettings, engine: Engine, inner: str) -> Iterator[str]:
    """A sandbox of its own per engine: the test adds an authority to its trust store."""
    loading = settings.model_copy(update={"loadable_images": (TESTBOX,)})
    yield from dind_sandbox(loading, engine, f"tls{inner[0]}-{secrets.token_hex(3)}", inner)


@pytest.fixture
def server(settings: ServerSettings, engine: Engine):
    return build_server(settings, engine)


async def run(client: Client, sandbox: str, command: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return await call(client, "exec", {"sandbox": sandbox, "command": command, "env": env or {}, "timeout_s": 300})


def pem_bodies(text: str) -> set[str]:
    return {"".join(body.split()) for body in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END", text, re.S)}


async def test_the_sandbox_trusts_the_certificate_authorities_the_host_added(server, sandbox):
    """The image build took the host's extra authorities (Debian's /usr/local/share/ca-certificates)."""
    host = set().union(*(pem_bodies(path.read_text()) for path in certificate_files(None)))
    async with Client(server) as client:
        ran = await run(client, sandbox, SHOW_TRUST)
    added, bundle, env = ran["stdout"].split("@@\n")
    assert pem_bodies(added) == host
    assert host <= pem_bodies(bundle)
    bundle_users = ("NODE_EXTRA_CA_CERTS", "PIP_CERT", "SSL_CERT_FILE")
    assert sorted(env.split()) == [f"{name}=/etc/ssl/certs/ca-certificates.crt" for name in bundle_users]


async def test_npm_installs_a_tiny_package_from_the_registry_through_the_proxy(server, sandbox):
    command = (
        "mkdir -p /tmp/npm-probe && cd /tmp/npm-probe && npm install --no-audit --no-fund is-number@7.0.0 "
        "&& node -e \"console.log(require('is-number')(42), require('is-number/package.json').version)\""
    )
    async with Client(server) as client:
        ran = await run(client, sandbox, command)
    assert ran["exit_code"] == 0, ran
    assert ran["stdout"].splitlines()[-1] == "true 7.0.0"


async def test_clients_and_nested_pulls_trust_the_system_store_and_only_it(server, sandbox, inner):
    async with Client(server) as client:
        setup = await run(client, sandbox, SETUP, {"SERVE": SERVE, "WHEEL": wheel()})
        assert setup["exit_code"] == 0, setup
        address = setup["stdout"].split()[-1]
        results = {}
        for port in ("8443", "8444"):
            ran = await run(client, sandbox, CLIENTS, {"ADDRESS": address, "PORT": port})
            rows = (line.split("\t", 2) for line in ran["stdout"].splitlines())
            results[port] = {name: (int(code), out) for name, code, out in rows}
    trusted, stranger = results["8443"], results["8444"]
    assert set(trusted) == set(stranger) == {"curl", "git", "pip", "node", "pull"}
    # Past TLS with the added authority: the clients get what was served ...
    assert trusted["curl"] == (0, "hello over TLS "), trusted
    assert trusted["git"][0] == 0 and trusted["node"] == (0, "hello over TLS "), trusted
    assert trusted["pip"] == (0, "seedpkg from the local index "), trusted
    # ... and the nested engine's pull fails only because the listener holds no image.
    assert trusted["pull"][0] != 0 and "manifest unknown" in trusted["pull"][1], trusted["pull"]
    assert not CERTIFICATE_ERROR.search(trusted["pull"][1]), trusted["pull"]
    # The other authority is in no store: every client refuses it, with a certificate error.
    for name, (code, out) in stranger.items():
        assert code != 0 and CERTIFICATE_ERROR.search(out), (name, code, out)

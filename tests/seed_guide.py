"""Every command of the user's guide to MANYOYO's dind mode (docker-in-docker-guide.md, the seed of
this project), as a table: section by section, each command as the guide writes it, what runs here
(the same command through `exec`, a structured tool, or nothing, with the reason), on which inner
engine, and what its output must show. tests/engine/test_seed_guide.py runs it; the configuration
files of the guide are tests/seed_configs.py's.

Commands run as written, as root (MANYOYO's containers run as root; here a root-owned workspace
makes root the default user), in /workspace, which holds a small Node.js project (PROJECT). The
guide's public images are local stand-ins loaded and tagged with the guide's names (node:22-alpine,
node:22, nginx:alpine, nginx, hello-world; see scripts/standin-images), since no registry is
reachable here. Where the guide names both engines each runs its own; the docker CLI also runs in
podman sandboxes (it talks to podman's Docker-compatible API there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DOCKER, PODMAN = ("docker",), ("podman",)
BOTH = ("docker", "podman")
NOT_RUN = ""
"""A step's `run` when the command does not run here: its `note` says why and what it maps to."""


@dataclass(frozen=True)
class Step:
    """One command of the guide and how it runs here."""

    seed: str
    """The command as the guide writes it."""
    run: str | None = None
    """What `exec` runs: None for `seed` itself, NOT_RUN for nothing (see `note`)."""
    expect: str = ""
    """A regular expression the output (stdout and stderr; a tool's JSON result) must match."""
    exit: int | None = 0
    """The exit code `exec` must return; None: any failure (the command cannot work here)."""
    engines: tuple[str, ...] = BOTH
    note: str = ""
    """What the command maps to here, or why it runs differently or not at all."""
    tool: str | None = None
    """A structured tool called instead of `exec`, with `arguments` (sandbox added)."""
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str | None:
        return self.seed if self.run is None else self.run or None


@dataclass(frozen=True)
class Section:
    title: str
    steps: tuple[Step, ...]

    def engines(self) -> tuple[str, ...]:
        return tuple(e for e in BOTH if any(e in step.engines for step in self.steps))


PACKAGE_JSON = {
    "name": "myapp",
    "version": "1.0.0",
    "private": True,
    "scripts": {
        # npm ci runs the project's own install scripts: the stamp makes a node_modules folder for the
        # guide's `COPY --from=deps /app/node_modules` (a project with no dependencies has none),
        # and build.js refuses to build without it.
        "postinstall": "node -e \"require('fs').mkdirSync('node_modules', {recursive: true}); "
        "require('fs').writeFileSync('node_modules/.install-stamp', 'installed by npm\\n')\"",
        "build": "node build.js",
        "test": "node test.js",
        "integration-test": "node test.js integration",
    },
}
PACKAGE_LOCK = {
    "name": "myapp",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {"": {"name": "myapp", "version": "1.0.0"}},
}
# The project the guide's commands build: `npm ci` and `npm run build` really run (no dependencies,
# so no registry), and myapp's container reports its memory limit and no_new_privs flag.
PROJECT = {
    "package.json": json.dumps(PACKAGE_JSON, indent=2) + "\n",
    "package-lock.json": json.dumps(PACKAGE_LOCK, indent=2) + "\n",
    "build.js": (
        'const fs = require("fs");\n'
        'if (!fs.existsSync("node_modules/.install-stamp")) throw new Error("run npm ci first");\n'
        'fs.mkdirSync("dist", { recursive: true });\n'
        'fs.writeFileSync("dist/index.html", "<h1>webapp built by npm run build</h1>\\n");\n'
        'console.log("built dist/index.html");\n'
    ),
    "test.js": (
        'const kind = process.argv[2] || "unit";\n'
        "console.log(`${kind} tests passed (CI=${process.env.CI}, NODE_ENV=${process.env.NODE_ENV})`);\n"
    ),
    "Dockerfile": (
        "FROM node:22-alpine\n"
        "WORKDIR /app\n"
        "COPY package*.json ./\n"
        "RUN npm ci\n"
        "COPY . .\n"
        'CMD ["sh", "-c", "echo myapp running; cat /sys/fs/cgroup/memory.max 2>/dev/null'
        ' || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep NoNewPrivs /proc/self/status"]\n'
    ),
    # Two services that reach each other by name, on the project's network.
    "compose.yaml": (
        "services:\n"
        "  web:\n"
        "    image: nginx:alpine\n"
        "  client:\n"
        "    image: manyoyo-busybox:latest\n"
        "    depends_on: [web]\n"
        '    command: ["sh", "-c", "for i in $$(seq 50); do wget -qO- http://web/ && exit 0; sleep 0.2; done;'
        ' exit 1"]\n'
    ),
    ".dockerignore": "node_modules\ndist\n",
}

EXAMPLE_3_DOCKERFILE = """cat > Dockerfile.test << 'EOF'
FROM node:22-alpine AS build
WORKDIR /app
COPY package*.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM nginx:alpine
COPY --from=build /app/dist /usr/share/nginx/html
EOF"""
PARALLEL_DOCKERFILE = """cat > Dockerfile.parallel << 'EOF'
FROM node:22 AS deps
WORKDIR /app
COPY package*.json ./
RUN npm ci

FROM node:22 AS build
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
RUN npm run build

FROM nginx:alpine
COPY --from=build /app/dist /usr/share/nginx/html
EOF"""
STORAGE_CONF = """mkdir -p ~/.config/containers
cat > ~/.config/containers/storage.conf << 'EOF'
[storage]
driver = "overlay"
graphroot = "/var/lib/containers/storage"

[storage.options]
mount_program = "/usr/bin/fuse-overlayfs"
EOF"""
REGISTRIES_CONF = """mkdir -p /etc/containers
cat > /etc/containers/registries.conf << 'EOF'
[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.example.com"
EOF"""
MANYOYO_CLI = "MANYOYO's command line; here the agent's MCP client calls the tools"
PAGE = "<h1>webapp built by npm run build</h1>"
NGINX_PAGE = "<h1>Welcome to the nginx stand-in</h1>"
GREETING = "Hello from Docker!"
IN_PLACE = "the engine is already running: the sandbox's init started it and restarts it if it dies"

SECTIONS: tuple[Section, ...] = (
    Section(
        "Quick Start",
        (
            Step(
                "manyoyo -m dind -x /bin/bash",
                NOT_RUN,
                note=f"{MANYOYO_CLI}: create_sandbox (engine docker or podman), then exec",
            ),
            Step("podman ps -a", expect=r"CONTAINER ID\s+IMAGE", engines=PODMAN),
            Step("podman run hello-world", expect=GREETING, engines=PODMAN),
            Step("podman build -t myimage .", expect=r"Successfully tagged \S*myimage:latest", engines=PODMAN),
            Step(
                "nohup dockerd &",
                "nohup dockerd > dockerd.out 2>&1 & wait $!; cat dockerd.out",
                expect=r"process with PID \d+ is still running",
                exit=0,
                engines=DOCKER,
                note=f"refused as it should be: {IN_PLACE}",
            ),
            Step("sleep 10", NOT_RUN, note="create_sandbox returns once the engine answers (GET /version)"),
            Step("docker ps -a", expect=r"CONTAINER ID\s+IMAGE"),
        ),
    ),
    Section(
        "Configuration File Method",
        (
            Step(
                "cat > ~/.manyoyo/run/dind.json << 'EOF' ...",
                NOT_RUN,
                note="the operator's run profile 'dind' (tests/seed_configs.py, test_seed_configs)",
            ),
            Step("manyoyo -r dind", NOT_RUN, note=f"{MANYOYO_CLI}: create_sandbox or launch_agent with profile 'dind'"),
        ),
    ),
    Section(
        "Podman vs Docker: Podman",
        (
            Step("podman ps -a", expect=r"CONTAINER ID", engines=PODMAN),
            Step("podman images", expect=r"localhost/hello-world\s+latest", engines=PODMAN),
            Step(
                "podman run -d nginx",
                "podman run -d nginx && podman ps --format '{{.Image}} {{.Status}}'",
                expect=r"localhost/nginx:latest Up",
                engines=PODMAN,
            ),
            Step("podman build -t myapp .", expect=r"Successfully tagged localhost/myapp:latest", engines=PODMAN),
        ),
    ),
    Section(
        "Podman vs Docker: Docker",
        (
            Step(
                "nohup dockerd > /var/log/dockerd.log 2>&1 &",
                "nohup dockerd > /var/log/dockerd.log 2>&1 & wait $!; cat /var/log/dockerd.log",
                expect=r"process with PID \d+ is still running",
                engines=DOCKER,
                note=f"{IN_PLACE}; its log is /var/log/manyoyo-engine.log",
            ),
            Step("sleep 10", NOT_RUN, note="create_sandbox returns once the engine answers"),
            Step("docker version", expect=r"Server:[\s\S]*(Engine|Podman Engine)"),
            Step("docker ps -a", expect=r"CONTAINER ID"),
            Step("docker run hello-world", expect=GREETING),
            Step(
                "docker build -t myapp .",
                expect=r"(naming to docker.io/library/myapp|Successfully tagged \S*myapp)",
                note="podman sandboxes: through podman's API with the classic builder (DOCKER_BUILDKIT=0 there)",
            ),
        ),
    ),
    Section(
        "Example 1: AI-Assisted Containerized Application Development",
        (
            Step(
                "cat > ~/.manyoyo/run/dind-dev.json << 'EOF' ...",
                NOT_RUN,
                note="the profile 'dind-dev'; ~/.docker:/root/.docker:ro is an operator grant (test_seed_configs)",
            ),
            Step(
                "manyoyo -r dind-dev",
                NOT_RUN,
                note=f"{MANYOYO_CLI}: launch_agent with profile 'dind-dev' (the real claude: test_real_agents)",
            ),
            Step(
                "manyoyo -n my-dind-dev -x /bin/bash",
                NOT_RUN,
                note=f"{MANYOYO_CLI}: exec in the sandbox 'my-dind-dev'; create_sandbox again returns it",
            ),
            Step("podman ps -a", expect=r"CONTAINER ID", engines=PODMAN),
            Step("podman images", expect=r"localhost/myapp\s+latest", engines=PODMAN),
            Step(
                "(view containers and images created by AI)",
                tool="list_nested",
                expect=r'myapp:latest"',
                note="list_nested: what the sandbox's engine holds, read through its API",
            ),
        ),
    ),
    Section(
        "Example 2: CI/CD Pipeline",
        (
            Step(
                "cat > ./myproject/.manyoyo.json << 'EOF' ...",
                NOT_RUN,
                note="the project file of a server started there: its env applies to every sandbox (test_seed_configs)",
            ),
            Step(
                "manyoyo -r ./myproject/.manyoyo.json -x /bin/bash",
                NOT_RUN,
                note=f"{MANYOYO_CLI}: the operator's serve --project ./myproject, where create_sandbox gets the "
                "file's env; a profile that is a path is refused",
            ),
            Step("npm install", expect=r"up to date|added \d+ packages"),
            Step(
                "npm test",
                "CI=true NODE_ENV=test npm test",
                expect=r"unit tests passed \(CI=true, NODE_ENV=test\)",
                note="CI and NODE_ENV come from the project file's env (set here by hand)",
            ),
            Step("podman build -t myapp:test .", expect=r"Successfully tagged localhost/myapp:test", engines=PODMAN),
            Step(
                "podman run --rm myapp:test npm run integration-test",
                expect=r"integration tests passed",
                engines=PODMAN,
            ),
            Step(
                "podman rm -f $(podman ps -aq)",
                "podman run -d nginx >/dev/null && podman rm -f $(podman ps -aq) && podman ps -aq | wc -l",
                expect=r"^\s*0\s*$",
                engines=PODMAN,
                note="a container is started first: with none, podman rm has no argument and fails",
            ),
            Step(
                "docker build -t myapp:test .",
                tool="build_image",
                arguments={"tag": "myapp:test"},
                expect=r'"tags": \[[^\]]*myapp:test"',
                note="build_image: the sandbox's engine builds /workspace",
            ),
            Step(
                "docker run --rm myapp:test npm run integration-test",
                tool="run_container",
                arguments={"image": "myapp:test", "command": "npm run integration-test", "env": {"CI": "true"}},
                expect=r"integration tests passed \(CI=true",
                note="run_container, attached",
            ),
        ),
    ),
    Section(
        "Example 3: Multi-stage Build Testing",
        (
            Step(EXAMPLE_3_DOCKERFILE),
            Step("podman build -f Dockerfile.test -t webapp:test .", expect=r"built dist/index.html", engines=PODMAN),
            Step("podman run -d -p 8080:80 webapp:test", engines=PODMAN),
            Step(
                "curl http://localhost:8080",
                "curl -sS --retry 20 --retry-connrefused --retry-delay 0 http://localhost:8080",
                expect=PAGE,
                engines=PODMAN,
                note="retried until the server listens",
            ),
            Step("podman stop $(podman ps -q)", expect=r"^[0-9a-f]{12,64}\s*$", engines=PODMAN),
            Step(
                "docker build -f Dockerfile.test -t webapp:test .",
                expect=r"built dist/index.html",
                note="the same with the docker CLI",
            ),
            Step("docker run -d -p 8080:80 webapp:test", "docker run -d -p 8080:80 --name webapp webapp:test"),
            Step(
                "curl http://localhost:8080",
                "curl -sS --retry 20 --retry-connrefused --retry-delay 0 http://localhost:8080",
                expect=PAGE,
            ),
            Step("docker stop $(docker ps -q)", "docker stop $(docker ps -q) && docker rm webapp", expect="webapp"),
            Step(
                "podman build -f Dockerfile.test -t webapp:test .",
                tool="build_image",
                arguments={"dockerfile": "Dockerfile.test", "tag": "webapp:tool"},
                expect=r'"tags": \[[^\]]*webapp:tool"',
                note="build_image with the guide's Dockerfile",
            ),
            Step(
                "podman run -d -p 8080:80 webapp:test",
                tool="run_container",
                arguments={"image": "webapp:tool", "name": "webapp-tool", "ports": ["18080:80"], "detach": True},
                expect=r'"state": "running"',
                note="run_container, detached, a port published in the sandbox",
            ),
            Step(
                "curl http://localhost:8080",
                "curl -sS --retry 20 --retry-connrefused --retry-delay 0 http://localhost:18080",
                expect=PAGE,
            ),
            Step(
                "podman stop $(podman ps -q)",
                tool="stop_container",
                arguments={"container": "webapp-tool"},
                expect=r'"state": "exited"',
                note="stop_container",
            ),
        ),
    ),
    Section(
        "Configuration Options: Environment Variables",
        (
            Step(
                "export DOCKER_HOST=unix:///var/run/docker.sock\nexport DOCKER_BUILDKIT=1\n"
                "export CONTAINER_HOST=unix:///run/podman/podman.sock",
                "export DOCKER_HOST=unix:///var/run/docker.sock DOCKER_BUILDKIT=1 && docker info --format "
                "'docker {{.ServerVersion}}'",
                expect=r"docker \d+\.\d+",
                note="the docker CLI's socket is /var/run/docker.sock in both engines' sandboxes",
            ),
            Step(
                "export CONTAINER_HOST=unix:///run/podman/podman.sock",
                "export CONTAINER_HOST=unix:///run/podman/podman.sock && podman info --format "
                "'{{.Host.RemoteSocket.Path}} remote={{.Host.ServiceIsRemote}}'",
                expect=r"podman\.sock remote=true",
                engines=PODMAN,
                note="podman's socket is also at rootful podman's usual path",
            ),
        ),
    ),
    Section(
        "Configuration Options: Storage Configuration",
        (
            Step(
                STORAGE_CONF,
                STORAGE_CONF + "\npodman info --format '{{.Store.GraphDriverName}} {{.Store.GraphRoot}}'"
                " && rm ~/.config/containers/storage.conf",
                expect=r"overlay /var/lib/containers/storage",
                engines=PODMAN,
                note="the file is rootless podman's; root's podman keeps the image's /etc/containers/storage.conf "
                "(native overlay on the sandbox's volume, no fuse-overlayfs: sandboxes get no /dev/fuse)",
            ),
        ),
    ),
    Section(
        "Configuration Options: Network Configuration",
        (
            Step("podman network create mynetwork", expect=r"^mynetwork\s*$", engines=PODMAN),
            Step(
                "podman run --network mynetwork -d nginx",
                "web=$(podman run --network mynetwork -d nginx) && podman run --rm --network mynetwork "
                "manyoyo-busybox wget -qO- http://$(podman inspect --format '{{.Name}}' $web)/ && podman rm -f $web",
                expect=NGINX_PAGE,
                engines=PODMAN,
                note="reached by name from another container on mynetwork",
            ),
            Step(
                "docker network create mynetwork",
                "docker network create mynetwork-d",
                expect=r"^[0-9a-f]{12,64}\s*$",
                note="the same with the docker CLI",
            ),
            Step(
                "docker run --network mynetwork -d nginx",
                "web=$(docker run --network mynetwork-d -d nginx) && docker run --rm --network mynetwork-d "
                "manyoyo-busybox wget -qO- http://$(docker inspect --format '{{.Name}}' $web | tr -d /)/ "
                "&& docker rm -f $web",
                expect=NGINX_PAGE,
            ),
            Step(
                "podman run --network mynetwork -d nginx",
                tool="run_container",
                arguments={"image": "nginx", "name": "web-tool", "network": "tool-net", "detach": True},
                expect=r'"tool-net"',
                note="run_container: the network is created if missing",
            ),
            Step(
                "(a container on the network reaches it by name)",
                tool="run_container",
                arguments={
                    "image": "manyoyo-busybox",
                    "command": "wget -qO- http://web-tool/",
                    "network": "tool-net",
                    "remove": True,
                },
                expect=NGINX_PAGE,
            ),
            Step(
                "(clean up)",
                tool="remove_container",
                arguments={"container": "web-tool", "force": True},
                expect=r'"name": "web-tool"',
            ),
        ),
    ),
    Section(
        "Compose: two services that talk to each other by name",
        (
            Step(
                "docker compose up --abort-on-container-exit --exit-code-from client",
                expect=r"client-1\s+\|\s+" + NGINX_PAGE,
                note="not in the guide; 'Docker Compose support' is: compose.yaml of the project",
            ),
            Step(
                "docker-compose run --rm client",
                "docker-compose run --rm client && docker-compose down",
                expect=NGINX_PAGE,
                note="the standalone docker-compose (Compose v2) too",
            ),
        ),
    ),
    Section(
        "Performance Optimization: Use Build Cache",
        (
            Step(
                "podman build --layers -t myapp .",
                "podman build --layers -t myapp . && podman build --layers -t myapp .",
                expect=r"--> Using cache",
                engines=PODMAN,
                note="built twice: the second takes its layers from cache",
            ),
            Step(
                "docker build --cache-from myapp:latest -t myapp .",
                "docker build -t myapp . && docker build --cache-from myapp:latest -t myapp .",
                expect=r"CACHED",
                engines=DOCKER,
            ),
            Step(
                "docker build --cache-from myapp:latest -t myapp .",
                exit=None,
                engines=PODMAN,
                expect=r"repository must contain neither a tag nor digest",
                note="podman's API takes --cache-from as a repository without tag: use podman build --layers",
            ),
        ),
    ),
    Section(
        "Performance Optimization: Multi-stage Parallel Build",
        (
            Step(PARALLEL_DOCKERFILE),
            Step(
                "(build it)",
                tool="build_image",
                arguments={"dockerfile": "Dockerfile.parallel", "tag": "webapp:parallel"},
                expect=r'"tags": \[[^\]]*webapp:parallel"',
                note="build_image",
            ),
            Step(
                "(build it)",
                "docker build -f Dockerfile.parallel -t webapp:parallel-cli .",
                expect=r"(Successfully tagged|naming to) \S*webapp:parallel-cli",
                note="and with the docker CLI",
            ),
        ),
    ),
    Section(
        "Performance Optimization: Use BuildKit",
        (
            Step(
                "export DOCKER_BUILDKIT=1\ndocker build -t myapp .",
                "export DOCKER_BUILDKIT=1 && docker build -t myapp .",
                expect=r"#\d+ naming to docker.io/library/myapp",
                engines=DOCKER,
            ),
            Step(
                "export DOCKER_BUILDKIT=1\ndocker build -t myapp .",
                "export DOCKER_BUILDKIT=1 && docker build -t myapp .",
                exit=None,
                engines=PODMAN,
                expect=r"registry-1\.docker\.io|moby/buildkit",
                note="BuildKit is Docker's: against podman buildx would pull moby/buildkit from Docker Hub",
            ),
        ),
    ),
    Section(
        "Security Best Practices: Limit Resource Usage",
        (
            Step(
                'manyoyo -m dind -x "podman run --cpus=1 --memory=512m myapp"',
                "podman run --cpus=1 --memory=512m myapp && podman inspect --format "
                "'{{.HostConfig.NanoCpus}}' $(podman ps -alq)",
                expect=r"myapp running\s+536870912\s[\s\S]*1000000000",
                engines=PODMAN,
                note="exec; the container reads its own memory limit",
            ),
            Step(
                'manyoyo -m dind -x "docker run --cpus=1 --memory=512m myapp"',
                "docker run --cpus=1 --memory=512m myapp",
                expect=r"myapp running\s+536870912\s",
                engines=DOCKER,
            ),
            Step(
                'manyoyo -m dind -x "podman run --cpus=1 --memory=512m myapp"',
                tool="run_container",
                arguments={"image": "myapp", "cpus": 1, "memory": "512m", "remove": True},
                expect=r"myapp running\\n536870912\\n[\s\S]*\"cpus\": 1\.0",
                note="run_container: limits default to MANYOYO_NESTED_DEFAULT_* and never exceed the sandbox's",
            ),
        ),
    ),
    Section(
        "Security Best Practices: Use Non-privileged Mode",
        (
            Step("podman run --security-opt=no-new-privileges myapp", expect=r"NoNewPrivs:\s+1", engines=PODMAN),
            Step("docker run --security-opt=no-new-privileges myapp", expect=r"NoNewPrivs:\s+1"),
        ),
    ),
    Section(
        "Security Best Practices: Scan Images for Security Vulnerabilities",
        (
            Step(
                "podman run --rm -v /var/run/docker.sock:/var/run/docker.sock aquasec/trivy image myapp:latest",
                exit=None,
                engines=PODMAN,
                expect=r'short-name "aquasec/trivy" did not resolve',
                note="cannot run here: Trivy's image and its vulnerability database come from registries; "
                "with them, the socket mounted is the sandbox's own engine's",
            ),
        ),
    ),
    Section(
        "Troubleshooting: Docker daemon Fails to Start",
        (
            Step(
                "tail -f /var/log/dockerd.log",
                "grep -E 'inner-init: started|API listen on' /var/log/manyoyo-engine.log",
                expect=r"inner-init: started (docker|podman) \(pid \d+",
                note="the engine's log (dockerd's, or podman's service's) is /var/log/manyoyo-engine.log, "
                "with the sandbox's init's lines; -f would never end",
            ),
            Step(
                "tail -f /var/log/dockerd.log",
                "grep 'API listen on' /var/log/manyoyo-engine.log",
                expect=r"API listen on /var/run/docker.sock",
                engines=DOCKER,
            ),
            Step(
                "dockerd --debug",
                "timeout 30 dockerd --debug",
                exit=None,
                engines=DOCKER,
                expect=r"process with PID \d+ is still running",
                note=f"refused: {IN_PLACE}",
            ),
            Step(
                "rm -f /var/run/docker.sock",
                "kill $(cat /run/manyoyo/shared/engine.pid) && for i in $(seq 100); do sleep 0.3; "
                "docker info >/dev/null 2>&1 && break; done; docker info --format 'back: {{.ServerVersion}}'",
                expect=r"back: \d",
                note="mapped to restarting the engine: the sandbox's init removes stale sockets and starts it again",
            ),
        ),
    ),
    Section(
        "Troubleshooting: Podman Permission Issues",
        (
            Step(
                "podman unshare cat /proc/self/uid_map",
                exit=None,
                engines=PODMAN,
                expect=r"please use unshare with rootless",
                note="podman unshare enters rootless podman's user namespace; here the sandbox is that user "
                "namespace and its podman is rootful in it: cat /proc/self/uid_map (next) shows it",
            ),
            Step("(the sandbox's user namespace)", "cat /proc/self/uid_map", expect=r"^\s*0\s+1000000\s+65536\s*$"),
            Step(
                "podman system reset",
                exit=None,
                engines=PODMAN,
                expect=r"Are you sure you want to continue",
                note="it asks for confirmation, which exec has no terminal to give: --force (next)",
            ),
            Step(
                "podman system reset",
                "podman system reset --force && podman images -q --filter readonly=false | wc -l",
                expect=r"^\s*0\s*$",
                engines=PODMAN,
                note="the sandbox's own images are gone; those of the server's shared image store stay, read-only",
            ),
            Step("podman info", expect=r"graphRoot: /var/lib/containers/storage", engines=PODMAN),
        ),
    ),
    Section(
        "Troubleshooting: Image Pull Fails",
        (
            Step(
                "ping -c 3 docker.io",
                NOT_RUN,
                note="not run: no registry is reachable from these machines (and tests send no traffic to the "
                "internet); what the sandbox's network gives is its egress mode's (next)",
            ),
            Step(
                "(ping the sandbox's gateway)",
                "ping -c 3 -W 1 $(ip route | awk '/^default/ {print $3}') || true",
                expect=r"3 packets transmitted, 0 received",
                note="refused: the gateway is the host's side, closed to every sandbox (SECURITY.md, network); "
                "pulls go to the internet or the operator's mirrors, as the egress mode allows",
            ),
            Step(
                REGISTRIES_CONF,
                REGISTRIES_CONF + "\npodman info --format '{{json .Registries}}'",
                expect=r'"Mirrors":\[\{"Location":"mirror.example.com"',
                engines=PODMAN,
                note="a mirror for the sandbox's podman (dockerd's equivalent: registry-mirrors in daemon.json)",
            ),
            Step(
                "export HTTP_PROXY=http://proxy:8080\nexport HTTPS_PROXY=http://proxy:8080",
                "export HTTP_PROXY=http://proxy:8080 HTTPS_PROXY=http://proxy:8080 && env | grep -c _PROXY=",
                expect=r"^2\s*$",
                note="for the whole sandbox (and its engine): create_sandbox's env or a profile's",
            ),
        ),
    ),
    Section(
        "Troubleshooting: Storage Space Insufficient",
        (
            Step("podman system df", expect=r"TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE", engines=PODMAN),
            Step(
                "docker system df",
                expect=r"TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE",
                engines=DOCKER,
                note="dockerd's equivalent",
            ),
            Step("podman ps -a --size", expect=r"CONTAINER ID[\s\S]*SIZE", engines=PODMAN),
            Step("docker ps -a --size", expect=r"CONTAINER ID[\s\S]*SIZE", engines=DOCKER),
            Step(
                "(what pruning would remove)",
                tool="prune",
                arguments={"images": "unused", "volumes": True, "dry_run": True},
                expect=r'"dry_run": true',
                note="prune with dry_run lists it",
            ),
            Step(
                "podman system prune -a --volumes",
                exit=None,
                engines=PODMAN,
                expect=r"Are you sure you want to continue",
                note="it asks for confirmation, which exec has no terminal to give: --force (next), or prune",
            ),
            Step("podman system prune -a --volumes", "podman system prune -a --volumes --force", engines=PODMAN),
            Step(
                "docker system prune -a --volumes",
                "docker system prune -a --volumes --force",
                expect=r"Total reclaimed space",
                engines=DOCKER,
            ),
            Step(
                "podman system prune -a --volumes",
                tool="prune",
                arguments={"images": "unused", "volumes": True},
                expect=r'"dry_run": false',
                note="prune: containers, unused images, volumes, build cache",
            ),
        ),
    ),
    Section(
        "Best Practices Summary",
        (
            Step(
                "manyoyo -m dind -r claude",
                NOT_RUN,
                note=f"{MANYOYO_CLI}: launch_agent with a profile whose yolo is claude (test_real_agents)",
            ),
            Step(
                'manyoyo --yes -m dind -x "podman build -t myapp:$CI_COMMIT_SHA . && '
                'podman run --rm myapp:$CI_COMMIT_SHA npm test"',
                "CI_COMMIT_SHA=0a1b2c3 && podman build -t myapp:$CI_COMMIT_SHA . && "
                "podman run --rm myapp:$CI_COMMIT_SHA npm test",
                expect=r"unit tests passed",
                engines=PODMAN,
                note="exec (CI_COMMIT_SHA from the pipeline: exec's env)",
            ),
            Step(
                'manyoyo --yes -m dind -x "docker build ... && docker run --rm ... npm test"',
                "CI_COMMIT_SHA=0a1b2c3 && docker build -t myapp:$CI_COMMIT_SHA . && "
                "docker run --rm myapp:$CI_COMMIT_SHA npm test",
                expect=r"unit tests passed",
                engines=DOCKER,
            ),
        ),
    ),
)

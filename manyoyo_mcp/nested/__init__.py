"""Inside a sandbox: its own engine, reached through its API, never the host's (a service of the server).

specs.py       parsing what an agent passes: image references, names, ports, volumes
connect.py     the engine a sandbox's nested tools talk to (its own; the host's, scoped, in sock mode)
containers.py  run_container (attached or detached), container_logs, stop and remove_container
builds.py      build_image: a context inside the sandbox, built by the sandbox's own engine
buildkit.py    BuildKit builds (docker): buildx run in the sandbox, fed the context; buildkit_log.py
build_api.py   builds through the engine API's builder (podman's buildah, docker's classic); build_log.py
build_secrets.py  build secrets: files in the sandbox, judged, read once, masked
inventory.py   list_nested and prune
images.py      load_image: host images copied into the sandbox's engine
"""

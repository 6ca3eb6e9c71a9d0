"""Inside a sandbox: its own engine, reached through its API, never the host's (a service of the server).

specs.py       parsing what an agent passes: image references, names, ports, volumes
connect.py     the engine a sandbox's nested tools talk to (its own; the host's, scoped, in sock mode)
containers.py  run_container (attached or detached), container_logs, stop and remove_container
builds.py      build_image: a context inside the sandbox, built by the sandbox's own engine
inventory.py   list_nested and prune
images.py      load_image: host images copied into the sandbox's engine
"""

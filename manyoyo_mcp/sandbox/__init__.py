"""Sandboxes: the outer containers, each with its own engine inside (a service of the server).

service.py      SandboxService: create (and wait for the nested engine), list, resolve, remove
execution.py    exec: a command with bounded output, progress, timeout and a verified kill
users.py        the user a command runs as: the workspace owner's, or one the call names
launch.py       sandboxes from run profiles, and agents launched headless inside them
ownership.py    the labels and names that mark what this server owns; reference matching
runtime.py      runtime profiles: the outer container's security settings
layout.py       where things are inside the sandbox image
image_build.py  building the sandbox image (its Dockerfile and entrypoint are in image/)
"""

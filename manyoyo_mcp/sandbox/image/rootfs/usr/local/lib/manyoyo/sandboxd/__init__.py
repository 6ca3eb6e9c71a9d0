"""sandboxd: the sandbox proper's command service.

A small daemon run by inner-init as the sandbox proper's root, listening on a unix socket in the
folder both layers share (SOCKET, mode 0600). The server reaches it through the host engine's
exec API (`socat` run as the proper's root uid in the outer container, as it reaches the nested
engine) over one persistent connection, and asks it to run commands ("jobs"): each in its own
session and cgroup, as a given user, with its output written to files on the sandbox's disk
(JOBS_DIR/<id>/stdout, stderr, written by the job itself) and a deadline that kills the job's
whole tree, enforced here: a job outlives the server, and a daemon started again (inner-init
restarts it) adopts the jobs it finds.

It is a convenience, never a security boundary: it runs in the agent's domain, which may kill or
replace it. The server validates everything it answers and falls back to `crun exec` when it
does not answer.

    wire.py     HTTP/1.1 with JSON bodies over the unix socket (server.py routes it)
    server.py   the routes: start, wait, poll, kill, list, read and search jobs
    jobs.py     the jobs: start, follow, kill, adopt, retention
    record.py   a job as kept on disk; the operator's bounds on jobs
    spawn.py    the job's own process (and the spare that becomes one) between fork and exec
    cgroups.py  each job's cgroup: join, kill the tree, OOM kills, what is left running
    output.py   reading the output files: ranges, head and tail, UTF-8 boundaries, search
"""

VERSION = "1"
SOCKET = "/run/manyoyo/shared/sandboxd.sock"
JOBS_DIR = "/var/lib/manyoyo-jobs"

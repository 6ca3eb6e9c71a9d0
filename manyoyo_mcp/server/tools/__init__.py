"""The tools, one module per group; each `add_*` registers one tool against the App.

    sandboxes.py  create_sandbox, list_sandboxes, remove_sandbox
    execution.py  exec
    jobs.py       job_output, stop_job, list_jobs
    output.py     read_output
    files.py      write_file, read_file, list_files
    agents.py     launch_agent
    nested.py     list_nested, run_container, container_logs, stop_container, remove_container, prune
    builds.py     build_image
    images.py     load_image
    policy.py     describe_policy

Each tool validates nothing itself (the gate did, with the tool's own argument model, and the
policy judged the call), takes its running sandbox and run profile through Resolve, calls one
service function and returns its result model.
"""

from typing import TYPE_CHECKING

from manyoyo_mcp.server.tools import agents, builds, execution, files, images, jobs, nested, output, policy, sandboxes

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import App

# In the order agents see them listed.
REGISTRARS = (
    sandboxes.add_create_sandbox,
    execution.add_exec,
    jobs.add_job_output,
    jobs.add_stop_job,
    jobs.add_list_jobs,
    output.add_read_output,
    files.add_write_file,
    files.add_read_file,
    files.add_list_files,
    agents.add_launch_agent,
    sandboxes.add_list_sandboxes,
    nested.add_list_nested,
    sandboxes.add_remove_sandbox,
    builds.add_build_image,
    nested.add_run_container,
    nested.add_container_logs,
    nested.add_stop_container,
    nested.add_remove_container,
    nested.add_prune,
    policy.add_describe_policy,
    images.add_load_image,
)


def register_all(app: "App") -> None:
    for register in REGISTRARS:
        register(app)

"""The command line without an engine: `python -m`, and a stdout that carries only protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PYTHON = sys.executable


def test_python_dash_m_runs_the_same_command_line():
    done = subprocess.run([PYTHON, "-m", "manyoyo_mcp", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("manyoyo-mcp ")


def test_serve_writes_only_json_rpc_to_stdout_and_logs_to_stderr(tmp_path):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }
    env = {"PATH": os.environ["PATH"], "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    done = subprocess.run(
        [PYTHON, "-m", "manyoyo_mcp", "serve", "--scope", "raw"],
        input=json.dumps(initialize) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    messages = [json.loads(line) for line in lines]
    assert messages[0]["id"] == 1 and messages[0]["result"]["serverInfo"]["name"] == "manyoyo-mcp"
    assert "serving on stdio" in done.stderr and "ready to read messages after" in done.stderr

#!/usr/bin/env python3
"""A small stub of the Anthropic Messages API that plays a scripted "model".

Standard library only, one file: it also runs inside a sandbox that has nothing but python3.

It answers what the Claude Code CLI sends:
- ``POST /v1/messages``, streaming (server-sent events: message_start, content_block_start /
  content_block_delta (text_delta, input_json_delta) / content_block_stop, message_delta with the
  stop_reason, message_stop) or not;
- ``POST /v1/messages/count_tokens`` (characters / ``chars_per_token``, default 4: Claude Code asks
  it to size a large tool result, so this estimate decides where results are cut);
- side requests (titles, summaries, a smaller model): plain text.

The script is a list of steps, each a tool call ``{"tool": NAME, "input": {...}}`` (optionally
``"say": TEXT`` before it) or a final text ``{"text": "..."}``; or ``{"steps": [...]}``. The step
played is chosen by the number of ``tool_result`` blocks already in the conversation, not counting
the results of the stub's own helper calls (below). A tool NAME is matched against the tools the
request offers: exactly, or as ``mcp__<server>__NAME``. After the last step it answers a text.
An input string ``"{{N.key}}"`` is replaced by ``key`` of step N's result (its JSON text), as a
model would copy an id it was given (a background job's ``job_id``, say).

The main conversation is told from side requests by its tools list: a request is "main" when it
offers a tool the script names, or one of Claude Code's helper tools (``WaitForMcpServers``,
``ToolSearch``), or (with a fixed text instead of a script) any tool at all. Side requests get
``side_text``.

When the next step's tool is not offered, the stub does what a model would: it calls
``WaitForMcpServers`` if offered (an MCP server still connecting), else ``ToolSearch`` with
``select:<full name>`` if the request names the tool in its deferred-tools list (Claude Code
defers MCP tools by default and offers them only once loaded). Failing both it calls the tool
anyway (``mcp__manyoyo__NAME``), and the client's error is what the test sees.

Everything is recorded (in memory and, if asked, as JSON Lines): each request, and for each
tool_result exactly what the client passed to the model (``content``, ``is_error``).

    python3 anthropic_stub.py --port 0 --script script.json --record out.jsonl   # prints the port
    python3 anthropic_stub.py --port 0 --text "All done."                         # fixed answer

In a test::

    with AnthropicStub(script=[{"tool": "exec", "input": {...}}, {"text": "done"}]) as stub:
        env["ANTHROPIC_BASE_URL"] = stub.url
        ...
        stub.tool_results  # [{"step": 0, "tool": "mcp__manyoyo__exec", "content": ..., "is_error": ...}]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT_TOOL = "WaitForMcpServers"
SEARCH_TOOL = "ToolSearch"
HELPER_ID_PREFIX = "toolu_help_"
MAX_WAITS = 10
MAX_SEARCHES = 2
SIDE_TEXT = "Sandbox session"
END_TEXT = "(the script has no more steps)"


def text_of(content: Any) -> str:
    """The text of a message or tool_result content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if block.get("type") == "text":
                    parts.append(block.get("text", ""))
                elif block.get("type") == "tool_result":
                    parts.append(text_of(block.get("content", "")))
        return "".join(parts)
    return ""


PLACEHOLDER = re.compile(r"\{\{(\d+)\.([A-Za-z0-9_]+)\}\}")


def filled(value: Any, counted: list[dict[str, Any]]) -> Any:
    """`value` with each "{{N.key}}" string replaced by `key` of the JSON of step N's tool result."""
    if isinstance(value, dict):
        return {k: filled(v, counted) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(v, counted) for v in value]
    found = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return value
    step, key = int(found.group(1)), found.group(2)
    try:
        return json.loads(text_of(counted[step].get("content", "")))[key]
    except (IndexError, ValueError, KeyError, TypeError):
        return value  # left as it is: the tool's error shows what went wrong


def normalize_script(script: Any) -> list[dict[str, Any]]:
    steps = script.get("steps", []) if isinstance(script, dict) else script
    if not isinstance(steps, list):
        raise ValueError("a script is a list of steps (or {'steps': [...]})")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or ("tool" in step) == ("text" in step):
            raise ValueError(f"step {i}: give either 'tool' (with 'input') or 'text': {step!r}")
        if "tool" in step and not isinstance(step.get("input", {}), dict):
            raise ValueError(f"step {i}: 'input' must be an object")
    return steps


class Model:
    """The scripted model: decides answers and keeps the record. Thread-safe."""

    def __init__(
        self,
        script: Any = None,
        text: str | None = None,
        side_text: str = SIDE_TEXT,
        record_path: str | None = None,
        helpers: bool = True,
        record_bodies: bool = True,
        chars_per_token: float = 4.0,
    ) -> None:
        if (script is None) == (text is None):
            raise ValueError("give either a script or a fixed text")
        self.steps = normalize_script(script) if script is not None else None
        self.fixed_text = text
        self.side_text = side_text
        self.helpers = helpers
        self.record_bodies = record_bodies
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.tool_results: list[dict[str, Any]] = []
        self.seen_results: set[str] = set()
        self.waits = 0
        self.counts: list[dict[str, Any]] = []
        self.chars_per_token = chars_per_token
        self.helped: dict[int, list[str]] = {}
        self.ids = itertools.count(1)
        self.record_file = open(record_path, "a", encoding="utf-8") if record_path else None  # noqa: SIM115

    # -- recording ---------------------------------------------------------------------------

    def write(self, record: dict[str, Any]) -> None:
        if self.record_file:
            self.record_file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.record_file.flush()

    def close(self) -> None:
        if self.record_file:
            self.record_file.close()
            self.record_file = None

    # -- deciding ----------------------------------------------------------------------------

    def scripted_tools(self) -> set[str]:
        return {s["tool"] for s in self.steps or [] if "tool" in s}

    @staticmethod
    def offered(body: dict[str, Any]) -> list[str]:
        return [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]

    @staticmethod
    def resolve(name: str, offered: list[str]) -> str | None:
        """The offered tool that a script's NAME means: exactly, or mcp__<server>__NAME."""
        if name in offered:
            return name
        matches = [o for o in offered if o.startswith("mcp__") and o.endswith("__" + name)]
        return matches[0] if matches else None

    def is_main(self, body: dict[str, Any]) -> bool:
        offered = self.offered(body)
        if not offered:
            return False
        wanted = self.scripted_tools()
        if not wanted:
            return True
        if WAIT_TOOL in offered or SEARCH_TOOL in offered:
            return True
        return any(self.resolve(name, offered) for name in wanted)

    @staticmethod
    def tool_uses(messages: list[Any]) -> dict[str, dict[str, Any]]:
        uses: dict[str, dict[str, Any]] = {}
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "assistant":
                for block in message.get("content") or []:
                    if isinstance(block, dict) and block.get("type") == "tool_use":
                        uses[block.get("id", "")] = block
        return uses

    @staticmethod
    def results(messages: list[Any]) -> list[dict[str, Any]]:
        found = []
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), list):
                found.extend(b for b in message["content"] if isinstance(b, dict) and b.get("type") == "tool_result")
        return found

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """What to answer a /v1/messages request: {'blocks': [...], 'stop_reason': ...}."""
        with self.lock:
            messages = body.get("messages") or []
            main = self.is_main(body)
            offered = self.offered(body)
            uses = self.tool_uses(messages)
            results = self.results(messages)
            counted = [r for r in results if not str(r.get("tool_use_id", "")).startswith(HELPER_ID_PREFIX)]
            record: dict[str, Any] = {
                "kind": "request",
                "seq": len(self.requests),
                "time": time.time(),
                "path": path,
                "main": main,
                "model": body.get("model"),
                "stream": bool(body.get("stream")),
                "tools": offered,
                "deferred": self.mentioned(body, offered),
                "messages": len(messages),
                "tool_results": len(counted),
            }
            if self.record_bodies:
                record["body"] = body
            if main:
                self.note_results(results, uses, counted)
            reply = self.decide(main, offered, counted, body)
            record["reply"] = reply
            self.requests.append(record)
            self.write(record)
            return reply

    def note_results(
        self, results: list[dict[str, Any]], uses: dict[str, dict[str, Any]], counted: list[dict[str, Any]]
    ) -> None:
        steps = {id(r): i for i, r in enumerate(counted)}
        for result in results:
            use_id = str(result.get("tool_use_id", ""))
            if use_id in self.seen_results:
                continue
            self.seen_results.add(use_id)
            use = uses.get(use_id, {})
            content = result.get("content", "")
            entry = {
                "kind": "tool_result",
                "helper": use_id.startswith(HELPER_ID_PREFIX),
                "step": steps.get(id(result)),
                "tool": use.get("name"),
                "input": use.get("input"),
                "tool_use_id": use_id,
                "is_error": bool(result.get("is_error", False)),
                "content": content,
                "text": text_of(content),
            }
            entry["chars"] = len(entry["text"])
            self.tool_results.append(entry)
            self.write(entry)

    def decide(
        self, main: bool, offered: list[str], counted: list[dict[str, Any]], body: dict[str, Any]
    ) -> dict[str, Any]:
        done = len(counted)
        if not main:
            return {"blocks": [{"type": "text", "text": self.side_text}], "stop_reason": "end_turn"}
        if self.steps is None:
            return {"blocks": [{"type": "text", "text": self.fixed_text}], "stop_reason": "end_turn"}
        if done >= len(self.steps):
            return {"blocks": [{"type": "text", "text": END_TEXT}], "stop_reason": "end_turn"}
        step = self.steps[done]
        if "text" in step:
            return {"blocks": [{"type": "text", "text": step["text"]}], "stop_reason": "end_turn"}
        name = self.resolve(step["tool"], offered)
        if name is None and self.helpers:
            helper = self.helper(step["tool"], offered, done, body)
            if helper:
                return helper
        missing = name is None
        if missing:  # not offered: call it anyway, the client answers with an error the test can see
            name = self.deferred_name(step["tool"], body) or (
                step["tool"] if step["tool"].startswith("mcp__") else f"mcp__manyoyo__{step['tool']}"
            )
        block = {"type": "tool_use", "id": f"toolu_s{done:02d}_{secrets.token_hex(8)}", "name": name}
        block["input"] = filled(step.get("input", {}), counted)
        blocks = [{"type": "text", "text": step["say"]}] if step.get("say") else []
        return {"blocks": [*blocks, block], "stop_reason": "tool_use", "step": done, "tool_missing": missing}

    def helper(self, tool: str, offered: list[str], done: int, body: dict[str, Any]) -> dict[str, Any] | None:
        """What a model does when the tool it wants is not in its list: wait for the MCP servers
        still connecting (WaitForMcpServers), or load a deferred tool's schema (ToolSearch)."""
        used = self.helped.setdefault(done, [])
        if WAIT_TOOL in offered and self.waits < MAX_WAITS:
            self.waits += 1
            used.append(WAIT_TOOL)
            call, kind = {"name": WAIT_TOOL, "input": {}}, "waiting"
        else:
            deferred = self.deferred_name(tool, body)
            if not (deferred and SEARCH_TOOL in offered and used.count(SEARCH_TOOL) < MAX_SEARCHES):
                return None
            used.append(SEARCH_TOOL)
            call, kind = {"name": SEARCH_TOOL, "input": {"query": f"select:{deferred}"}}, "searching"
        block = {"type": "tool_use", "id": HELPER_ID_PREFIX + secrets.token_hex(8), **call}
        return {"blocks": [block], "stop_reason": "tool_use", "step": done, kind: True}

    @staticmethod
    def mentioned(body: dict[str, Any], offered: list[str]) -> list[str]:
        """MCP tools the request names (a deferred-tools list) without offering them."""
        text = json.dumps([body.get("system"), body.get("messages")], ensure_ascii=False)
        return sorted(set(re.findall(r"mcp__[A-Za-z0-9_-]+__[A-Za-z0-9_-]+", text)) - set(offered))

    @staticmethod
    def deferred_name(tool: str, body: dict[str, Any]) -> str | None:
        """The full name of a tool the request mentions (in a deferred-tools list) without offering it."""
        if tool.startswith("mcp__"):
            pattern = re.escape(tool) + r"\b"
        else:
            pattern = r"mcp__[A-Za-z0-9_-]+?__" + re.escape(tool) + r"\b"
        found = re.search(pattern, json.dumps([body.get("system"), body.get("messages")], ensure_ascii=False))
        return found.group(0) if found else None

    def count_tokens(self, path: str, body: dict[str, Any]) -> int:
        """A count for /v1/messages/count_tokens: characters of text / chars_per_token. Claude Code
        asks it to size a large tool result, so this number decides where results are cut."""
        messages = body.get("messages") or []
        chars = sum(len(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
        chars += len(text_of(body.get("system") or ""))
        if body.get("tools"):
            chars += len(json.dumps(body["tools"]))
        tokens = max(1, math.ceil(chars / self.chars_per_token))
        with self.lock:
            record = {"kind": "count_tokens", "time": time.time(), "path": path, "chars": chars, "tokens": tokens}
            if self.record_bodies:
                record["body"] = body
            self.counts.append(record)
            self.write(record)
        return tokens

    # -- rendering ---------------------------------------------------------------------------

    def message(self, body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"msg_stub_{next(self.ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or "stub",
            "content": reply["blocks"],
            "stop_reason": reply["stop_reason"],
            "stop_sequence": None,
            "usage": usage(body, reply),
        }


def estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


def usage(body: dict[str, Any], reply: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": estimate_tokens(body.get("messages", [])),
        "output_tokens": estimate_tokens(reply["blocks"]),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream_events(message: dict[str, Any]) -> str:
    """The whole server-sent event stream of one message (sent at once, with a Content-Length)."""
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    out = [sse("message_start", {"type": "message_start", "message": start}), sse("ping", {"type": "ping"})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in chunks(block["text"])]
        else:
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            partial = json.dumps(block["input"], ensure_ascii=False)
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in chunks(partial)]
        out.append(sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}))
        for delta in deltas:
            out.append(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    out.append(sse("message_stop", {"type": "message_stop"}))
    return "".join(out)


def chunks(text: str, size: int = 40) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", "req_stub_" + secrets.token_hex(6))
        if content_type == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def send_json(self, status: int, value: Any) -> None:
        self.send(status, json.dumps(value, ensure_ascii=False).encode())

    def error(self, status: int, kind: str, message: str) -> None:
        self.send_json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def do_GET(self) -> None:
        self.send_json(200, {"ok": True, "stub": "anthropic"})

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.error(400, "invalid_request_error", "the body is not JSON")
            return
        model = self.server.model
        if path.endswith("/v1/messages/count_tokens"):
            self.send_json(200, {"input_tokens": model.count_tokens(self.path, body)})
        elif path.endswith("/v1/messages"):
            reply = model.answer(self.path, body)
            message = model.message(body, reply)
            if body.get("stream"):
                self.send(200, stream_events(message).encode(), "text/event-stream")
            else:
                self.send_json(200, message)
        else:
            self.error(404, "not_found_error", f"the stub does not serve {self.path}")


class StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    model: Model


class AnthropicStub:
    """The stub in-process: start(), .url, .tool_results, .requests, stop() (or a with block)."""

    def __init__(
        self,
        script: Any = None,
        text: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: str | None = None,
        side_text: str = SIDE_TEXT,
        helpers: bool = True,
        record_bodies: bool = True,
        chars_per_token: float = 4.0,
    ) -> None:
        self.model = Model(script, text, side_text, record, helpers, record_bodies, chars_per_token)
        self.server = StubHTTPServer((host, port), Handler)
        self.server.model = self.model
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.model.requests

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return self.model.tool_results

    @property
    def main_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.model.requests if r["main"]]

    @property
    def token_counts(self) -> list[dict[str, Any]]:
        return self.model.counts

    def start(self) -> AnthropicStub:
        self.thread = threading.Thread(target=self.server.serve_forever, name="anthropic-stub", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread:
            self.server.shutdown()
            self.thread.join(5)
            self.thread = None
        self.server.server_close()
        self.model.close()

    def __enter__(self) -> AnthropicStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--script", help="a JSON file: a list of steps (or {'steps': [...]})")
    what.add_argument("--text", help="answer every main request with this text")
    parser.add_argument("--record", help="append every request and tool result here (JSON Lines)")
    parser.add_argument("--side-text", default=SIDE_TEXT, help="the answer to side requests")
    parser.add_argument("--no-bodies", action="store_true", help="do not record request bodies")
    parser.add_argument("--chars-per-token", type=float, default=4.0, help="for count_tokens and usage")
    args = parser.parse_args(argv)
    script = None
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
    stub = AnthropicStub(
        script,
        args.text,
        host=args.host,
        port=args.port,
        record=args.record,
        side_text=args.side_text,
        record_bodies=not args.no_bodies,
        chars_per_token=args.chars_per_token,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(stub.port, flush=True)
    try:
        stub.server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stub.server.server_close()
        stub.model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

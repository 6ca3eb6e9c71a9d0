#!/usr/bin/env python3
"""A tiny stub of OpenAI's Responses API (`POST .../responses`, streaming), for the codex CLI.

Standard library only, one file: it runs inside a sandbox with nothing but python3. Every request
is answered with one assistant message, TEXT (server-sent events: response.created,
response.output_item.done, response.completed), and appended to RECORD as a JSON line (path,
the Authorization header's scheme, the model and the last user text).

    python3 openai_stub.py --port 8766 --text "All done." --record requests.jsonl
"""

from __future__ import annotations

import argparse
import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a Responses API request."""
    texts = [
        part.get("text", "")
        for item in body.get("input") or []
        if isinstance(item, dict) and item.get("role") == "user"
        for part in item.get("content") or []
        if isinstance(part, dict)
    ]
    return texts[-1] if texts else ""


def events(text: str, model: str) -> bytes:
    response_id = "resp_" + secrets.token_hex(8)
    message = {"type": "message", "role": "assistant", "id": "msg_" + secrets.token_hex(8),
               "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    stream = [
        {"type": "response.created", "response": {"id": response_id, "model": model}},
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": {"id": response_id, "model": model, "usage": usage}},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in stream).encode()


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        scheme = (self.headers.get("Authorization") or "").split(" ", 1)[0]
        record = {"path": self.path, "auth": scheme, "model": body.get("model"), "user": user_text(body)}
        with open(self.server.record, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        if not self.path.rstrip("/").endswith("/responses"):
            self.send_error(404, "the stub serves only POST .../responses")
            return
        payload = events(self.server.text, str(body.get("model")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Stub(ThreadingHTTPServer):
    daemon_threads = True
    text: str
    record: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--text", required=True, help="the assistant's answer to every request")
    parser.add_argument("--record", required=True, help="a JSON Lines file of the requests")
    args = parser.parse_args()
    server = Stub(("127.0.0.1", args.port), Handler)
    server.text, server.record = args.text, args.record
    server.serve_forever()


if __name__ == "__main__":
    main()

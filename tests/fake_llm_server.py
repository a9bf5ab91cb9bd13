"""A scriptable fake OpenAI-compatible server for tests: plain and streamed replies, errors, delays, drops."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.chat import ChatClient

ANSWER = "Alibaba invested 23 billion yuan in AI [1]."


@dataclass
class Reply:
    """What the fake server sends for one request: JSON, raw bytes, or server-sent events, maybe late."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    events: list[str] | None = None  # each is sent as "data: <event>\n\n"
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False  # close the connection without a reply


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    replies: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))
    requests: list[Request] = field(default_factory=list)
    answer: str = ANSWER
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path].extend(replies)

    def next_reply(self, method: str, path: str, body: Any) -> Reply:
        with self.lock:
            if self.replies[path]:
                return self.replies[path].pop(0)
        if method == "GET" and path == "/v1/models":
            return Reply(json={"object": "list", "data": [{"id": "fake-model"}, {"id": "other"}]})
        if method == "POST" and path == "/v1/chat/completions":
            if isinstance(body, dict) and body.get("stream"):
                return Reply(events=sse_events(self.answer))
            return Reply(json=completion(self.answer))
        return Reply(status=404, json={"error": {"message": f"no route {path}"}})

    def client(self, **options: Any) -> ChatClient:
        from assistant.chat import ChatClient

        options.setdefault("timeout", 5)
        return ChatClient(self.url, "fake-model", **options)

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]


def completion(content: Any, finish: str = "stop") -> dict[str, Any]:
    message = {"role": "assistant", "content": content}
    return {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def sse_events(text: str, *, done: bool = True) -> list[str]:
    pieces = re.findall(r"\S+\s*", text)
    events = [json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})]
    events += [json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}) for p in pieces]
    if done:
        events.append(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        events.append("[DONE]")
    return events


def handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            self.respond("GET")

        def do_POST(self) -> None:
            self.respond("POST")

        def respond(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            fake.requests.append(Request(method, self.path, dict(self.headers.items()), body))
            reply = fake.next_reply(method, self.path, body)
            time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            if reply.events is not None:
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for event in reply.events:
                    self.wfile.write(f"data: {event}\n\n".encode())
                    self.wfile.flush()
                self.close_connection = True
                return
            payload = reply.body if reply.body is not None else json.dumps(reply.json).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve() -> Iterator[FakeServer]:
    """A fake server on a free loopback port, shut down afterwards."""
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    httpd.daemon_threads = True
    fake.httpd = httpd
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()

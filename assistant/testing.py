"""Test doubles shipped with the library, so users' tests (and ours) need no model and no server: an embedder
(:class:`HashingEmbedder`), an OpenAI-compatible endpoint in the process (:class:`FakeLLM`), and a news site on
loopback that serves feeds and pages over real HTTP, changed between rounds (:class:`FeedSite`).

Choose the embedder for a whole process (a CLI run, the chat page) with
``ASSISTANT_EMBEDDER=assistant.testing:HashingEmbedder``, or pass an instance as ``embedder=`` to
:func:`assistant.update_index`, :meth:`assistant.Retriever.open` or :meth:`assistant.Assistant.open`.

The endpoint is an ``httpx.MockTransport``: give it to a client instead of a socket, and script what it replies::

    fake = FakeLLM("Alibaba invested 23 billion yuan [1].")
    client = ChatClient(fake.url, "fake-model", transport=fake)   # or ChatClient.from_settings(s, transport=fake)
    fake.script("/chat/completions", FakeReply(status=503), "Retried [1].")  # a 503, then an answer
    assistant = Assistant.open(index, llm=LLMAnswerer(client))
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np

__all__ = [
    "FakeLLM",
    "FakeReply",
    "FakeRequest",
    "FeedSite",
    "HashingEmbedder",
    "SiteRequest",
    "chat_chunks",
    "chat_completion",
]

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """A hashed bag of words: deterministic, instant, and close enough to meaning for plumbing tests.

    Each word adds one to a bucket chosen by its MD5; rows are L2-normalised (an empty text gets a unit vector).
    ``calls`` records every batch it embedded, which is how a test proves that unchanged articles are not
    embedded again. Its ``identity`` differs from any real model's, so an index it built refuses the real model.
    """

    name = "fake-hashing"
    identity = "fake-hashing@v1"
    dimension = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> int:
        """How many texts it has embedded in all."""
        return sum(len(batch) for batch in self.calls)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % self.dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


# -- an OpenAI-compatible endpoint in the process ------------------------------------------------------------
_PIECE = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class FakeRequest:
    """A request :class:`FakeLLM` received: ``path`` is the URL's ("/v1/chat/completions"), ``body`` the JSON it
    sent (raw bytes when it is not JSON, None when empty)."""

    method: str
    path: str
    headers: httpx.Headers
    body: Any

    @property
    def streams(self) -> bool:
        """Whether it asked for server-sent events (``"stream": true``)."""
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


@dataclass(frozen=True)
class FakeReply:
    """What :class:`FakeLLM` answers one request with.

    ``text`` is a chat answer, sent in the form the request asked for: one completion, or events when it
    streams. Otherwise ``events`` (each sent as ``data: <event>``), else ``body`` as is, else ``json``. ``error``
    (an ``httpx.TransportError``: ``ConnectError`` for a refused connection, ``ReadTimeout``, ``RemoteProtocolError``
    for a dropped one) is raised instead of replying, or after the ``events`` (a stream the network cut).
    ``delay`` seconds pass first; longer than the client's read timeout, the client times out after that timeout.
    """

    status: int = 200
    text: str | None = None
    json: Any = None
    body: bytes | None = None
    events: Sequence[str] | None = None
    content_type: str = "application/json"
    error: httpx.TransportError | None = None
    delay: float = 0.0


Responder = Callable[[FakeRequest], FakeReply | str | None]


class FakeLLM(httpx.MockTransport):
    """An OpenAI-compatible endpoint in the process, for ``ChatClient(fake.url, model, transport=fake)``.

    Replies come from, in order: the replies :meth:`script` queued for the request's path; ``respond`` (a function
    of the :class:`FakeRequest` giving a :class:`FakeReply`, an answer's text, or None to pass); the default:
    ``GET …/models`` lists ``models``, ``POST …/chat/completions`` answers ``answer`` (streamed when asked), any
    other path is a 404. Every request is kept in ``requests``. Made for synchronous clients, such as ChatClient.
    """

    url = "http://fake-llm.test/v1"  # any base URL reaches the transport; this one names no real host

    def __init__(
        self,
        answer: str = "A fake answer [1].",
        *,
        models: Sequence[str] = ("fake-model",),
        respond: Responder | None = None,
    ) -> None:
        super().__init__(self._handle)
        self.answer = answer
        self.models = list(models)
        self.respond = respond
        self.requests: list[FakeRequest] = []
        self._scripted: dict[str, list[FakeReply]] = defaultdict(list)
        self._lock = threading.Lock()

    def script(self, path: str, *replies: FakeReply | str) -> None:
        """Queue replies for the requests whose path ends with ``path`` ("/chat/completions", "/models")."""
        with self._lock:
            self._scripted[path].extend(FakeReply(text=r) if isinstance(r, str) else r for r in replies)

    def chat_requests(self) -> list[FakeRequest]:
        """The chat-completion requests received, oldest first."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        received = _received(request)
        with self._lock:
            self.requests.append(received)
            scripted = next((q for path, q in self._scripted.items() if q and received.path.endswith(path)), None)
            reply = scripted.pop(0) if scripted else None
        if reply is None and self.respond is not None:
            answered = self.respond(received)
            reply = FakeReply(text=answered) if isinstance(answered, str) else answered
        return _response(reply or self._default(received), received, request)

    def _default(self, request: FakeRequest) -> FakeReply:
        if request.method == "GET" and request.path.endswith("/models"):
            return FakeReply(json={"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})
        if request.method == "POST" and request.path.endswith("/chat/completions"):
            return FakeReply(text=self.answer)
        return FakeReply(status=404, json={"error": {"message": f"no route {request.path}"}})


def chat_completion(content: Any, finish: str = "stop") -> dict[str, Any]:
    """An OpenAI chat-completion reply whose message is ``content``."""
    message = {"role": "assistant", "content": content}
    return {
        "id": "fake-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def chat_chunks(text: str, *, done: bool = True) -> list[str]:
    """The server-sent events streaming ``text`` a word at a time; without ``done``, cut before it finishes."""
    events = [_chunk({"role": "assistant"})]
    events += [_chunk({"content": piece}) for piece in _PIECE.findall(text)]
    if done:
        events += [_chunk({}, "stop"), "[DONE]"]
    return events


def _chunk(delta: Mapping[str, str], finish: str | None = None) -> str:
    choice: dict[str, Any] = {"index": 0, "delta": dict(delta)}
    if finish:
        choice["finish_reason"] = finish
    return json.dumps({"object": "chat.completion.chunk", "choices": [choice]})


def _received(request: httpx.Request) -> FakeRequest:
    raw = request.content
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return FakeRequest(request.method, request.url.path, httpx.Headers(request.headers), body)


def _response(reply: FakeReply, received: FakeRequest, request: httpx.Request) -> httpx.Response:
    _wait(reply.delay, request)
    if reply.text is not None:  # an answer, in the form the request asked for
        shape = {"events": chat_chunks(reply.text)} if received.streams else {"json": chat_completion(reply.text)}
        reply = replace(reply, text=None, **shape)
    if reply.events is not None:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(reply.status, headers=headers, content=_stream(reply.events, reply.error))
    if reply.error is not None:
        raise reply.error
    payload = reply.body if reply.body is not None else json.dumps(reply.json).encode()
    return httpx.Response(reply.status, headers={"content-type": reply.content_type}, content=payload)


def _stream(events: Sequence[str], error: httpx.TransportError | None) -> bytes | Iterator[bytes]:
    data = [f"data: {event}\n\n".encode() for event in events]
    if error is None:
        return b"".join(data)

    def cut() -> Iterator[bytes]:
        yield from data
        raise error

    return cut()


def _wait(delay: float, request: httpx.Request) -> None:
    """Sleep ``delay`` seconds; past the request's read timeout, sleep that long and time out as a client would."""
    limit = request.extensions.get("timeout", {}).get("read")
    if limit is not None and delay > limit:
        time.sleep(limit)
        raise httpx.ReadTimeout(f"the fake endpoint took over {limit:g} s", request=request)
    if delay > 0:
        time.sleep(delay)


@dataclass
class _Route:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: a slow or hanging feed
    validators: bool = True  # ETag and Last-Modified, and 304 when the client sends them back
    modified: float = 1_700_000_000.0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class SiteRequest:
    host: str
    path: str
    headers: dict[str, str]


class FeedSite:
    """Feeds and pages served over real HTTP on ``hosts`` loopback addresses (127.0.0.1, 127.0.0.2, …: each a host of
    its own), answering conditional requests with 304, and changed by the test between rounds::

        with FeedSite(hosts=2).running() as site:
            url = site.put("/rss.xml", feed_bytes)                 # on the first host; site.url(path, 1) the second
            site.put("/slow.xml", feed_bytes, delay=5)             # a feed that hangs
            site.put("/busy.xml", b"", status=503, headers={"Retry-After": "60"})
            ... watcher.round() ...
            site.hits("/rss.xml")[-1].headers["If-None-Match"]     # what the client sent

    ``most_at_once`` is the most requests each host was answering at the same time.
    """

    def __init__(self, hosts: int = 1) -> None:
        self.hosts = [f"127.0.0.{n}" for n in range(1, hosts + 1)]
        self.routes: dict[str, _Route] = {}
        self.requests: list[SiteRequest] = []
        self.busy: dict[str, int] = defaultdict(int)
        self.most_at_once: dict[str, int] = defaultdict(int)
        self.ports: dict[str, int] = {}
        self._lock = threading.Lock()

    def url(self, path: str, host: int = 0) -> str:
        address = self.hosts[host]
        return f"http://{address}:{self.ports[address]}{path}"

    def put(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        validators: bool = True,
    ) -> str:
        """Serve ``body`` at ``path`` on every host (Last-Modified moves on when the body changed); the first host's
        URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        old = self.routes.get(path)
        route = _Route(data, status, dict(headers or {}), delay, validators)
        if old is not None:
            route.modified = old.modified + (60 if old.body != data else 0)
        self.routes[path] = route
        return self.url(path)

    def hits(self, path: str) -> list[SiteRequest]:
        return [r for r in self.requests if r.path == path]

    @contextlib.contextmanager
    def running(self) -> Iterator[FeedSite]:
        servers = []
        try:
            for host in self.hosts:
                server = ThreadingHTTPServer((host, 0), self._handler())
                server.daemon_threads = True
                self.ports[host] = server.server_port
                servers.append(server)
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            yield self
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host = str(self.connection.getsockname()[0])  # the loopback address the request came to
                with site._lock:
                    site.requests.append(SiteRequest(host, self.path, dict(self.headers.items())))
                    site.busy[host] += 1
                    site.most_at_once[host] = max(site.most_at_once[host], site.busy[host])
                try:
                    self._answer()
                finally:
                    with site._lock:
                        site.busy[host] -= 1

            def _answer(self) -> None:
                route = site.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                time.sleep(route.delay)
                stamp = email.utils.formatdate(route.modified, usegmt=True)
                asked = (self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"))
                if route.validators and route.status == 200 and (asked[0] == route.etag or asked[1] == stamp):
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                if route.validators:
                    self.send_header("ETag", route.etag)
                    self.send_header("Last-Modified", stamp)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timed out)
                    self.wfile.write(route.body)

        return Handler

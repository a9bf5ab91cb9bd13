"""A news site on loopback for the feed watcher's tests: feeds and pages served over real HTTP on several loopback
addresses (each a host of its own), answering conditional requests, and changed by the test between rounds.

Each address gets its own server; they share the routes, and record every request with the headers it carried
and how many requests each host was answering at once.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from loopback import running

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
PAGES = DATA / "real"


@dataclass
class Route:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: a slow or hanging feed
    validators: bool = True  # ETag and Last-Modified, and 304 when the client sends them back
    modified: float = field(default_factory=lambda: 1_700_000_000.0)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class Request:
    host: str
    path: str
    headers: dict[str, str]


class FeedSite:
    """Routes served on ``hosts`` loopback addresses; ``url(path, host)`` names one."""

    def __init__(self, hosts: int = 1) -> None:
        self.hosts = [f"127.0.0.{n}" for n in range(1, hosts + 1)]
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.busy: dict[str, int] = defaultdict(int)
        self.most_at_once: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.ports: dict[str, int] = {}

    def url(self, path: str, host: int = 0) -> str:
        address = self.hosts[host]
        return f"http://{address}:{self.ports[address]}{path}"

    def put(self, path: str, body: bytes | str, **options: object) -> str:
        """Serve ``body`` at ``path`` (on every host); its URL on the first host."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        old = self.routes.get(path)
        route = Route(data, **options)  # type: ignore[arg-type]
        if old is not None and old.body != data:
            route.modified = old.modified + 60
        elif old is not None:
            route.modified = old.modified
        self.routes[path] = route
        return self.url(path)

    def feed(self, name: str, **fill: str) -> bytes:
        """A test feed's bytes, with ``{base}``-style fields filled in (the first host's address)."""
        data = (FEEDS / name).read_bytes()
        for key, value in {"base": self.url(""), **fill}.items():
            data = data.replace(b"{" + key.encode() + b"}", value.encode())
        return data

    def serve_pages(self) -> None:
        """The real saved pages the summaries feed links to, under /pages/."""
        for page in ("reuters-canonical-in-body.html", "timesunion-syndicated-agency.html"):
            self.put(f"/pages/{page}", (PAGES / page).read_bytes(), headers={"Content-Type": "text/html"})

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host = self.server.server_address[0]
                with site._lock:
                    site.requests.append(Request(str(host), self.path, dict(self.headers.items())))
                    site.busy[str(host)] += 1
                    site.most_at_once[str(host)] = max(site.most_at_once[str(host)], site.busy[str(host)])
                try:
                    self._answer()
                finally:
                    with site._lock:
                        site.busy[str(host)] -= 1

            def _answer(self) -> None:
                route = site.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.delay:
                    time.sleep(route.delay)
                stamp = email.utils.formatdate(route.modified, usegmt=True)
                if (
                    route.validators
                    and route.status == 200
                    and (
                        self.headers.get("If-None-Match") == route.etag
                        or self.headers.get("If-Modified-Since") == stamp
                    )
                ):
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

    @contextmanager
    def running(self) -> Iterator[FeedSite]:
        with ExitStack() as stack:
            for host in self.hosts:
                server = ThreadingHTTPServer((host, 0), self._handler())
                server.daemon_threads = True
                self.ports[host] = server.server_address[1]
                stack.enter_context(running(server))
            yield self

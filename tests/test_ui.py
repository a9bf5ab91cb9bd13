"""The chat page's API through gradio_client against a server on a free loopback port, its HTTP surface (file
routes, uploads, the queue, binding), the URL fetch's SSRF guard, and its HTML escaping."""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import SEED, SEED_QUESTION
from loopback import free_port, running

from assistant import build_index
from assistant.answers import Answer, Citation
from assistant.errors import ConfigError
from assistant.settings import Settings

gradio_client = pytest.importorskip("gradio_client", reason="gradio is not installed: pip install -e .")

from assistant_ui.app import bind_credentials, is_loopback, serve, start  # noqa: E402
from assistant_ui.render import answer_markdown, cards_html  # noqa: E402
from assistant_ui.service import ChatService  # noqa: E402

import assistant.web.fetch  # noqa: E402
from assistant.documents import web_url  # noqa: E402
from assistant.web.fetch import FETCH_REDIRECTS, fetch_page, public_address  # noqa: E402

NO_FILTERS = ("", "", "", [], 8, "extractive")  # as of, since, until, sources, passages, answerer
UPLOAD_MB = 0.5  # the page fixture's upload limit: quick to exceed, and fractional ("0.5mb" would not start Gradio)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[tuple[str, ChatService]]:
    root = tmp_path_factory.mktemp("ui")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    shutil.copy(SEED.with_suffix(".meta.json"), corpus / SEED.with_suffix(".meta.json").name)
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus, max_file_mb=UPLOAD_MB)
    build_index([corpus], settings.index_dir, embedder=real_embedder, settings=settings)
    service = ChatService(settings, settings.index_dir, corpus / "uploads", embedder=real_embedder)
    # start(): the queue, upload limit and blocked paths `assistant serve` uses, not a test-only launch.
    demo = start(service, port=free_port(), block=False)
    try:
        yield demo.local_url, service
    finally:
        demo.close()


def content(message: dict) -> str:
    """A chat message's text: Gradio 6 sends content as a list of typed parts."""
    value = message["content"]
    if isinstance(value, list):
        return "".join(part.get("text", "") for part in value if isinstance(part, dict))
    return str(value)


@pytest.fixture(scope="module")
def client(page):
    return gradio_client.Client(page[0], verbose=False)


def test_ask_returns_the_answer_with_citations(client) -> None:
    answer = client.predict(SEED_QUESTION, *NO_FILTERS, api_name="/ask")
    assert "23 billion yuan" in answer["text"] and not answer["abstained"]
    citation = answer["citations"][0]
    assert citation["source"] == "tech news blog"
    assert citation["excerpt"][citation["span"][0] : citation["span"][1]] == citation["quote"]


def test_chat_streams_and_ends_with_the_answer_and_its_cards(client) -> None:
    job = client.submit(SEED_QUESTION, [], *NO_FILTERS, api_name="/chat")
    outputs = list(job)
    chat, cards, cleared = outputs[-1]
    assert len(outputs) >= 2  # the answer arrives in pieces before the final, checked version
    assert content(chat[0]) == SEED_QUESTION
    assert "23 billion yuan" in content(chat[-1]) and 'href="#a1-cite-1"' in content(chat[-1])
    assert 'id="a1-cite-1"' in cards and "<mark>" in cards and "tech news blog" in cards
    assert cleared == ""


def test_search_returns_passages(client) -> None:
    hits = client.predict("Baidu investment", *NO_FILTERS, api_name="/search")
    assert hits and "Baidu" in " ".join(hit["text"] for hit in hits)


def test_add_an_article_then_ask_about_it(client, page, tmp_path: Path) -> None:
    _, service = page
    article = tmp_path / "volcano.md"
    article.write_text(
        "---\ntitle: Volcano erupts near Grindavik\ndate: 2025-02-20\nsource: Reykjavik Post\n---\n\n"
        "Lava flowed from a fissure near Grindavik on Thursday, and 3,700 residents were evacuated.\n",
        encoding="utf-8",
    )
    wrong = tmp_path / "notes.exe"
    wrong.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00")
    # Binaries renamed to a text type: the name is allowed, the content is not.
    renamed = tmp_path / "report.txt"
    renamed.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)) * 8)
    elf = tmp_path / "page.html"
    elf.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64)
    result, stats, listed = client.predict(
        [gradio_client.handle_file(str(path)) for path in (article, wrong, renamed, elf)],
        "",
        "",
        "",
        api_name="/add_articles",
    )
    assert len(result["added"]) == 1 and result["articles"] == 2
    assert result["skipped"] == [
        {"file": "notes.exe", "reason": "unsupported type .exe"},
        {"file": "report.txt", "reason": "binary content, not a .txt text file"},
        {"file": "page.html", "reason": "binary content, not a .html text file"},
    ]
    # Refused files never reach the corpus, where every later start would meet them again.
    assert sorted(path.name for path in service.upload_dir.iterdir()) == ["volcano.md"]
    assert "2 articles" in stats
    assert {row[0] for row in listed["data"]} >= {"Volcano erupts near Grindavik"}
    answer = client.predict("How many residents were evacuated near Grindavik?", *NO_FILTERS, api_name="/ask")
    assert "3,700 residents" in answer["text"]
    assert answer["citations"][0]["source"] == "Reykjavik Post"
    # The seed article is still there: adding never drops what was indexed.
    assert "23 billion yuan" in client.predict(SEED_QUESTION, *NO_FILTERS, api_name="/ask")["text"]


def test_an_upload_over_the_limit_is_refused_by_the_server(page) -> None:
    url, service = page
    limit = service.max_bytes
    assert limit == UPLOAD_MB * 1024 * 1024
    over = httpx.post(url + "gradio_api/upload", files={"files": ("big.txt", b"a" * (limit + 1))}, timeout=30)
    assert over.status_code == 413 and "maximum allowed size" in over.text, (over.status_code, over.text)
    under = httpx.post(url + "gradio_api/upload", files={"files": ("ok.txt", b"a" * (limit - 1024))}, timeout=30)
    assert under.status_code == 200 and len(under.json()) == 1


def test_the_add_api_indexes_no_file_of_the_server(page) -> None:
    """A hand-made request naming a server path instead of an upload: Gradio refuses it before add_articles runs."""
    url, service = page
    before = service.library("")[1]
    seed_copy = next(service.settings.corpus_dir.glob("*.txt"))
    for path in ("/etc/passwd", str(service.index_dir / "CURRENT"), str(seed_copy)):
        payload = {"data": [[{"path": path, "meta": {"_type": "gradio.FileData"}}], "", "", ""]}
        event = httpx.post(url + "gradio_api/call/add_articles", json=payload, timeout=10).json()["event_id"]
        stream = httpx.get(f"{url}gradio_api/call/add_articles/{event}", timeout=30).text
        assert "event: error" in stream and "root:" not in stream, stream
    assert service.library("")[1] == before


def test_a_file_uploaded_by_one_session_is_served_only_at_its_unguessable_path(page) -> None:
    url, _ = page
    data = b"Upload of session A: a draft article.\n"
    uploaded = httpx.post(url + "gradio_api/upload", files={"files": ("draft.txt", data)}, timeout=10).json()[0]
    # The uploader's own client reads it back by the path it was given (how the page shows uploads)...
    assert httpx.get(url + "gradio_api/file=" + uploaded, timeout=10).content == data
    # ...but another session cannot list the folders, nor find it by the hash of what it guesses the content is:
    # the folder name is salted with a secret of this server.
    folder = Path(uploaded).parent
    for probe in (folder, folder.parent, folder.parent / hashlib.sha256(data).hexdigest() / "draft.txt"):
        response = httpx.get(url + "gradio_api/file=" + str(probe), timeout=10)
        assert response.status_code in (403, 404), (probe, response.status_code)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.7", "203.0.113.9", "myhost.lan"])
def test_serving_beyond_loopback_needs_authentication(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without authentication"):
        bind_credentials(host, Settings())
    with pytest.raises(ConfigError, match="without authentication"):  # serve refuses before building anything
        serve(Settings(index_dir=tmp_path / "idx", corpus_dir=tmp_path / "corpus"), host=host)
    assert not (tmp_path / "idx").exists()
    for malformed in ("nocolon", ":password", "user:"):
        with pytest.raises(ConfigError, match="user:password"):
            bind_credentials(host, Settings(ui_auth=malformed))
    assert bind_credentials(host, Settings(ui_auth="user:pa:ss")) == ("user", "pa:ss")


def test_loopback_needs_no_authentication_but_uses_it_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host) and bind_credentials(host, Settings()) is None
    monkeypatch.setenv("ASSISTANT_UI_AUTH", "reader:s3cret")
    assert bind_credentials("0.0.0.0", Settings()) == ("reader", "s3cret")
    assert bind_credentials("127.0.0.1", Settings()) == ("reader", "s3cret")


# -- rendering untrusted text -------------------------------------------------------------------------------
def hostile_answer(url: str | None = "javascript:alert(1)") -> Answer:
    excerpt = 'Before <script>alert(1)</script> the <img src=x onerror="alert(2)"> claim <iframe src="x"></iframe>.'
    start = excerpt.index("the")
    citation = Citation(
        1,
        1,
        "a",
        '<b onmouseover="x()">Title</b>',
        "<svg onload=alert(3)>",
        "2024-01-01",
        url,
        excerpt,
        0,
        (start, start + 40),
    )
    return Answer("q", "q", "It said <script>alert(1)</script> [1] and *bold* [9].", (citation,), False, "extractive")


def test_untrusted_text_is_escaped_and_only_http_links_are_live() -> None:
    answer = hostile_answer()
    cards = cards_html(answer, "a1")
    text = answer_markdown(answer, "a1")
    for html in (cards, text):
        assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<svg" not in html
        assert "<b " not in html and "javascript:" not in html
    assert "&lt;script&gt;" in cards and "<mark>" in cards
    assert 'href="#a1-cite-1"' in text and "#a1-cite-9" not in text  # no card 9: no link
    assert "\\*bold\\*" in text  # markdown in article text stays literal
    assert "open article" in cards_html(hostile_answer("https://example.com/story?a=1&b=2"), "a1")
    assert web_url("https://example.com/x") == "https://example.com/x"
    for bad in ("javascript:alert(1)", "data:text/html,x", "/relative", "ftp://host/x", "http://", None):
        assert web_url(bad) is None


# -- the HTTP surface ---------------------------------------------------------------------------------------
def raw_get(url: str, path: str) -> tuple[int, str]:
    """GET exactly this path: httpx would resolve "../" and re-encode before sending."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_no_file_route_serves_the_index_the_corpus_or_system_files(page, site, monkeypatch: pytest.MonkeyPatch) -> None:
    url, service = page
    root = service.settings.corpus_dir.parent
    # As `make run` has it: the server's working directory holds index/, corpus/ and a .env with secrets.
    monkeypatch.chdir(root)
    (root / ".env").write_text("ASSISTANT_LLM_API_KEY=sk-secret-marker\n", encoding="utf-8")
    site_port = site.server_address[1]
    on_disk = [service.settings.index_dir, service.settings.corpus_dir]
    on_disk += sorted(p for folder in on_disk for p in folder.rglob("*") if p.is_file())
    assert any(p.name == "CURRENT" for p in on_disk) and any(p.suffix == ".txt" for p in on_disk)
    targets = [str(p) for p in on_disk] + [
        "index/CURRENT",
        f"corpus/{SEED.name}",
        ".env",
        str(root / ".env"),
        "/etc/passwd",
        "/proc/self/environ",
        "../../../../etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "%2fetc%2fpasswd",
        "....//....//etc/passwd",
        # Gradio fetches http(s) URLs named here itself: never one on this machine.
        f"http://127.0.0.1:{site_port}/article",
        f"http://localhost:{site_port}/article",
    ]
    # Contents of the files probed (CURRENT names a gen- folder); an error message may echo the path asked for.
    secrets = ("root:x:", "gen-", "SQLite format", '"chunker"', "Alibaba", "sk-secret-marker", "PATH=")
    probes = [f"/{route}{target}" for route in ("gradio_api/file=", "gradio_api/file/", "file=") for target in targets]
    # The two folders of Gradio's own files, with traversal out of them.
    probes += [
        f"/{route}{escape}"
        for route in ("static/", "assets/", "gradio_api/static/")
        for escape in (
            "../../../../../../etc/passwd",
            "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
            "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "%2fetc%2fpasswd",
            "/etc/passwd",
            f"../../../../../../{service.settings.index_dir.relative_to('/')}/CURRENT",
        )
    ]
    try:
        for probe in probes:
            status, body = raw_get(url, probe)
            assert status in (403, 404), (probe, status)
            assert not [secret for secret in secrets if secret in body and secret not in probe], (probe, body[:200])
    finally:
        (root / ".env").unlink()
    assert site.seen == []  # and the loopback site was never asked for anything


def test_a_burst_of_twice_the_queue_gets_clean_busy_answers(
    tmp_path: Path, real_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured as an operator would, through the environment: 1 question answered at a time, 2 may wait.

    The running question is held until the burst has been sorted, so which requests are refused does not depend
    on how fast the machine answers: exactly the queue's worth waits, the rest are told the page is busy.
    """
    monkeypatch.setenv("ASSISTANT_UI_CONCURRENCY", "1")
    monkeypatch.setenv("ASSISTANT_UI_QUEUE_SIZE", "2")
    settings = Settings(progress=False, index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus")
    running, queue = settings.ui_concurrency, settings.ui_queue_size
    assert (running, queue) == (1, 2)
    settings.corpus_dir.mkdir()
    shutil.copy(SEED, settings.corpus_dir / SEED.name)
    build_index([settings.corpus_dir], settings.index_dir, embedder=real_embedder, settings=settings)

    class HeldService(ChatService):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.entered = threading.Semaphore(0)
            self.release = threading.Event()

        def ask(self, question: str, *filters):
            self.entered.release()
            self.release.wait(timeout=120)  # a bound, so a broken test cannot hang the suite
            return super().ask(question, *filters)

    service = HeldService(settings, settings.index_dir, tmp_path / "uploads", embedder=real_embedder)
    demo = start(service, port=free_port(), block=False)
    url = demo.local_url

    def ask(client) -> str:
        try:
            return client.predict(SEED_QUESTION, *NO_FILTERS, api_name="/ask")["text"]
        except Exception as exc:
            return f"refused: {exc}"

    try:
        burst = 2 * queue
        clients = [gradio_client.Client(url, verbose=False) for _ in range(running + burst)]
        with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
            try:
                first = [pool.submit(ask, client) for client in clients[:running]]
                for _ in range(running):
                    assert service.entered.acquire(timeout=60), "the first questions never started"
                start_line = threading.Barrier(burst)

                def at_once(client) -> str:
                    start_line.wait(timeout=60)
                    return ask(client)

                rest = [pool.submit(at_once, client) for client in clients[running:]]
                # The refusals come back while the running question is held; then let everything finish.
                done = [f.result() for f in _first_completed(rest, queue, timeout=60)]
            finally:
                service.release.set()  # also on failure: held questions would keep the pool from closing
            outcomes = [f.result(timeout=120) for f in first + rest]
        refused = [o for o in outcomes if o.startswith("refused")]
        answered = [o for o in outcomes if not o.startswith("refused")]
        assert all(o.startswith("refused") for o in done), done
        assert len(refused) == queue and len(answered) == running + queue, outcomes
        assert all("queue is full" in o.lower() for o in refused), refused
        assert all("23 billion yuan" in o for o in answered), answered
        # Still healthy after the burst.
        assert "23 billion yuan" in ask(gradio_client.Client(url, verbose=False))
    finally:
        service.release.set()
        demo.close()


def _first_completed(
    futures: list[concurrent.futures.Future], count: int, timeout: float
) -> list[concurrent.futures.Future]:
    done: list[concurrent.futures.Future] = []
    for future in concurrent.futures.as_completed(futures, timeout=timeout):
        done.append(future)
        if len(done) == count:
            break
    return done


def test_streamed_pieces_are_escaped_before_they_are_shown(page, tmp_path: Path) -> None:
    _, service = page
    hostile = tmp_path / "hostile.md"
    hostile.write_text(
        "---\ntitle: Lighthouse keepers\nsource: Harbor Times\n---\n\n"
        'The lighthouse keepers counted <img src=x onerror="alert(1)"> 57 ships <script>alert(2)</script> '
        "passing the harbor last winter.\n",
        encoding="utf-8",
    )
    service.add_articles([str(hostile)], "", "", "")
    outputs = list(service.chat("How many ships did the lighthouse keepers count?", [], [], *NO_FILTERS))
    assert len(outputs) >= 2
    for chat, cards, _, _ in outputs:
        for message in chat:
            text = str(message["content"])
            assert "<img" not in text and "<script" not in text, text
        assert "<img" not in cards and "<script" not in cards
    assert "57 ships" in str(outputs[-1][0][-1]["content"])


# -- fetching a URL: no way into the server's network -------------------------------------------------------
ARTICLE_HTML = (
    b"<html><head><title>Harbor ferry resumes</title></head><body><article><h1>Harbor ferry resumes</h1>"
    b"<p>The harbor ferry resumed service on Monday after a two-week strike, carrying 1,200 passengers.</p>"
    b"</article></body></html>"
)


class _Site(http.server.BaseHTTPRequestHandler):
    """A web site on a loopback address: an article, redirects, a page too big, and a redirect loop."""

    server: _SiteServer

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        parts = urlsplit(self.path)
        if parts.path == "/article":
            self._send(200, ARTICLE_HTML, {"Content-Type": "text/html"})
        elif parts.path == "/redirect":
            self._send(302, b"", {"Location": parse_qs(parts.query)["to"][0]})
        elif parts.path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif parts.path == "/big":
            self._send(200, b"x" * 5000, {"Content-Type": "text/html"})
        elif parts.path == "/big-unsized":  # no Content-Length: the limit must hold while reading
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            self.close_connection = True
        else:
            self._send(404, b"not here", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _SiteServer(http.server.ThreadingHTTPServer):
    def __init__(self, address: str) -> None:
        super().__init__((address, 0), _Site)
        self.seen: list[tuple[str, str | None]] = []


def _serve_site(address: str) -> Iterator[_SiteServer]:
    try:
        server = _SiteServer(address)
    except OSError as exc:
        pytest.skip(f"cannot listen on {address}: {exc}")
    with running(server):
        yield server


@pytest.fixture
def site() -> Iterator[_SiteServer]:
    """The internal service an attacker would like to reach, on 127.0.0.1."""
    yield from _serve_site("127.0.0.1")


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch) -> Iterator[_SiteServer]:
    """A stand-in for a public web site: on 127.0.0.2, which the fetch is told to treat as a public address."""
    real = public_address
    monkeypatch.setattr(assistant.web.fetch, "public_address", lambda address: address == "127.0.0.2" or real(address))
    yield from _serve_site("127.0.0.2")


def test_public_addresses_are_told_from_internal_ones() -> None:
    for address in ("93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "2a00:1450:4001:80b::200e"):
        assert public_address(address), address
    internal = [
        "127.0.0.1",
        "127.8.9.10",
        "::1",  # loopback
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "fd00::1",
        "100.64.0.1",  # private, shared (CGNAT)
        "169.254.169.254",
        "fe80::1",
        "fe80::1%eth0",  # link-local, the cloud metadata service
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",  # multicast
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "2001:db8::1",  # reserved, broadcast, documentation
        "0.0.0.0",
        "::",  # unspecified
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",  # IPv4 inside IPv6
    ]
    for address in internal:
        assert not public_address(address), address


def test_fetching_internal_addresses_is_refused_by_default(site: _SiteServer) -> None:
    port = site.server_address[1]
    for url in (
        f"http://127.0.0.1:{port}/article",
        f"http://localhost:{port}/article",
        f"http://2130706433:{port}/article",  # 127.0.0.1 as one number
        f"http://0x7f.1:{port}/article",
        f"http://[::ffff:127.0.0.1]:{port}/article",
        f"http://[::1]:{port}/article",
        f"http://0.0.0.0:{port}/article",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/admin",
        "https://192.168.1.1/",
    ):
        with pytest.raises(ConfigError, match=r"not a public address.*ASSISTANT_UI_FETCH_PRIVATE"):
            fetch_page(url, 10_000)
    assert site.seen == []  # refused before connecting


def test_only_http_urls_are_fetched(site: _SiteServer) -> None:
    for url in (
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:70/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "/etc/passwd",
        "http://",
    ):
        for allow_private in (False, True):
            with pytest.raises(ConfigError, match="only http"):
                fetch_page(url, 10_000, allow_private=allow_private)


def test_every_address_of_a_host_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with one public and one internal address is refused: the connection could go to either."""
    monkeypatch.setattr(assistant.web.fetch, "resolve", lambda host, port: ["93.184.216.34", "10.1.2.3"])
    refused = "connected to a host it should have refused"
    monkeypatch.setattr(assistant.web.fetch, "_get", lambda *args: pytest.fail(refused))
    with pytest.raises(ConfigError, match=r"refusing news\.example: it is not a public address"):
        fetch_page("https://news.example/story", 10_000)


def test_a_public_site_cannot_redirect_the_fetch_into_the_server_network(
    site: _SiteServer, outside: _SiteServer
) -> None:
    inside = f"http://127.0.0.1:{site.server_address[1]}/article"
    public = f"http://127.0.0.2:{outside.server_address[1]}"
    assert b"1,200 passengers" in fetch_page(public + "/article", 10_000)  # the stand-in really is fetched
    assert b"1,200 passengers" in fetch_page(f"{public}/redirect?to=/article", 10_000)  # and its redirects followed
    with pytest.raises(ConfigError, match=r"refusing 127\.0\.0\.1: it is not a public address"):
        fetch_page(f"{public}/redirect?to={inside}", 10_000)
    with pytest.raises(ConfigError, match="only http"):
        fetch_page(f"{public}/redirect?to=file:///etc/passwd", 10_000)
    assert site.seen == []


def test_the_fetch_connects_to_the_address_it_checked(site: _SiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name is resolved once: a DNS answer changing between the check and the connection (rebinding) is moot."""
    port = site.server_address[1]
    asked: list[str] = []

    def resolve_once(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(assistant.web.fetch, "resolve", resolve_once)
    # news.example has no address in the real DNS: fetched only if the connection goes to the resolved one.
    assert b"1,200 passengers" in fetch_page(f"http://news.example:{port}/article", 10_000, allow_private=True)
    assert asked == ["news.example"] and site.seen == [("/article", f"news.example:{port}")]


def test_internal_addresses_are_fetched_when_the_setting_allows(
    site: _SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().ui_fetch_private is False
    monkeypatch.setenv("ASSISTANT_UI_FETCH_PRIVATE", "true")
    assert Settings().ui_fetch_private is True
    base = f"http://127.0.0.1:{site.server_address[1]}"
    assert fetch_page(base + "/article", 10_000, allow_private=True) == ARTICLE_HTML
    assert fetch_page(f"http://localhost:{site.server_address[1]}/redirect?to=/article", 10_000, allow_private=True)
    with pytest.raises(ConfigError, match=f"more than {FETCH_REDIRECTS} redirects"):
        fetch_page(base + "/loop", 10_000, allow_private=True)
    assert site.seen.count(("/loop", f"127.0.0.1:{site.server_address[1]}")) == FETCH_REDIRECTS + 1
    for big in ("/big", "/big-unsized"):  # the size limit holds with and without a declared length
        with pytest.raises(ConfigError, match="larger than"):
            fetch_page(base + big, 4000, allow_private=True)
    with pytest.raises(ConfigError, match="HTTP 404"):
        fetch_page(base + "/missing", 10_000, allow_private=True)


def test_the_page_refuses_an_internal_url_with_a_reason(client, site: _SiteServer) -> None:
    inside = f"http://127.0.0.1:{site.server_address[1]}/article"
    result, _, _ = client.predict(None, inside, "", "", api_name="/add_articles")
    assert result["added"] == 0 and result["articles"] is None
    assert result["skipped"][0]["file"] == inside and "not a public address" in result["skipped"][0]["reason"]
    assert site.seen == []


def test_a_page_allowed_to_fetch_internal_urls_indexes_them(
    site: _SiteServer, tmp_path: Path, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_UI_FETCH_PRIVATE", "true")
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus")
    (tmp_path / "seed").mkdir()
    shutil.copy(SEED, tmp_path / "seed" / SEED.name)
    build_index([tmp_path / "seed"], settings.index_dir, embedder=fake_embedder, settings=settings)
    service = ChatService(settings, settings.index_dir, tmp_path / "uploads", embedder=fake_embedder)
    result = service.add_articles(None, f"http://127.0.0.1:{site.server_address[1]}/article", "", "")
    assert len(result["added"]) == 1 and result["skipped"] == [] and result["articles"] == 2
    assert "Harbor ferry resumes" in {row[0] for row in service.library("")[1]}


# -- updates from outside the page, and long chats ---------------------------------------------------------------


def _service(tmp_path: Path) -> tuple[ChatService, Path, Path]:
    from conftest import FakeEmbedder, news_corpus

    from assistant import build_index
    from assistant.settings import get_settings

    corpus = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=FakeEmbedder())
    return ChatService(get_settings(), index, tmp_path / "uploads", embedder=FakeEmbedder()), corpus, index


def test_the_page_answers_from_an_update_made_outside_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from conftest import FakeEmbedder

    from assistant import update_index

    service, corpus, index = _service(tmp_path)
    question = "How many passengers does the Lake Vorzhana ferry carry?"
    before = service.ask(question, "2030-01-01", "", "", [], 4, "extractive")
    assert before["generation"] == 1 and "312" not in before["text"]
    (corpus / "ferry.txt").write_text(
        "Lake Vorzhana ferry back in service\n\nThe Lake Vorzhana ferry carries 312 passengers per crossing.\n"
    )
    update_index([corpus], index, embedder=FakeEmbedder())  # as `assistant index update` would, from another process
    after = service.ask(question, "2030-01-01", "", "", [], 4, "extractive")
    assert after["generation"] == 2 and "312" in after["text"]
    assert any(c["article_id"] == "news/ferry.txt" for c in after["citations"])

    # The newest generation turns out damaged: the page keeps answering from the verified one it has open.
    (index / "CURRENT").write_text("gen-000042\n")
    with caplog.at_level("WARNING"):
        kept = service.ask(question, "2030-01-01", "", "", [], 4, "extractive")
    assert kept["generation"] == 2 and "312" in kept["text"]
    assert "keeping index generation 2" in caplog.text


def test_a_long_chat_keeps_a_bounded_history_and_unique_card_anchors(tmp_path: Path) -> None:
    from assistant_ui.service import KEPT_TURNS

    service, _, _ = _service(tmp_path)
    chat: list[dict] = []
    turns: list = []
    for n in range(KEPT_TURNS + 3):
        *_, (chat, cards, turns, _) = service.chat(
            f"What did the central bank do, part {n}?", chat, turns, "2030-01-01", "", "", [], 3, "extractive"
        )
        assert f'id="a{n + 1}-cite-1"' in cards
    assert len(turns) == KEPT_TURNS
    assert len(chat) == 2 * (KEPT_TURNS + 3)  # the transcript itself is the browser's, and stays whole

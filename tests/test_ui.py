"""The chat page's API through gradio_client against a server on a free loopback port, and its HTML escaping."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SEED, SEED_QUESTION

from assistant import build_index
from assistant.answers import Answer, Citation
from assistant.errors import ConfigError
from assistant.settings import Settings

gradio_client = pytest.importorskip("gradio_client", reason="gradio is not installed: pip install -e .")

from assistant.documents import web_url  # noqa: E402
from ui.app import ChatService, build_app, is_loopback, serve  # noqa: E402
from ui.render import answer_markdown, cards_html  # noqa: E402

NO_FILTERS = ("", "", "", [], 8, "extractive")  # as of, since, until, sources, passages, answerer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[tuple[str, ChatService]]:
    root = tmp_path_factory.mktemp("ui")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    shutil.copy(SEED.with_suffix(".meta.json"), corpus / SEED.with_suffix(".meta.json").name)
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus)
    build_index([corpus], settings.index_dir, embedder=real_embedder, settings=settings)
    service = ChatService(settings, settings.index_dir, corpus / "uploads", embedder=real_embedder)
    demo = build_app(service)
    demo.queue(default_concurrency_limit=2, max_size=16)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", service
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
    article = tmp_path / "volcano.md"
    article.write_text(
        "---\ntitle: Volcano erupts near Grindavik\ndate: 2025-02-20\nsource: Reykjavik Post\n---\n\n"
        "Lava flowed from a fissure near Grindavik on Thursday, and 3,700 residents were evacuated.\n",
        encoding="utf-8",
    )
    wrong = tmp_path / "notes.exe"
    wrong.write_bytes(b"MZ\x00\x00")
    result, stats, listed = client.predict(
        [gradio_client.handle_file(str(article)), gradio_client.handle_file(str(wrong))], "", "", "",
        api_name="/add_articles",
    )
    assert len(result["added"]) == 1 and result["articles"] == 2
    assert result["skipped"] == [{"file": "notes.exe", "reason": "unsupported type .exe"}]
    assert "2 articles" in stats
    assert {row[0] for row in listed["data"]} >= {"Volcano erupts near Grindavik"}
    answer = client.predict("How many residents were evacuated near Grindavik?", *NO_FILTERS, api_name="/ask")
    assert "3,700 residents" in answer["text"]
    assert answer["citations"][0]["source"] == "Reykjavik Post"
    # The seed article is still there: adding never drops what was indexed.
    assert "23 billion yuan" in client.predict(SEED_QUESTION, *NO_FILTERS, api_name="/ask")["text"]


def test_serving_beyond_loopback_needs_authentication(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(ConfigError, match="without authentication"):
        serve(Settings(index_dir=tmp_path / "idx"), host="0.0.0.0")
    with pytest.raises(ConfigError, match="user:password"):
        serve(Settings(index_dir=tmp_path / "idx", ui_auth="nocolon"), host="0.0.0.0")


# -- rendering untrusted text -------------------------------------------------------------------------------
def hostile_answer(url: str | None = "javascript:alert(1)") -> Answer:
    excerpt = 'Before <script>alert(1)</script> the <img src=x onerror="alert(2)"> claim <iframe src="x"></iframe>.'
    start = excerpt.index("the")
    citation = Citation(1, 1, "a", '<b onmouseover="x()">Title</b>', "<svg onload=alert(3)>", "2024-01-01", url,
                        excerpt, 0, (start, start + 40))
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


def test_no_file_route_serves_the_index_the_corpus_or_system_files(page) -> None:
    import httpx

    url, service = page
    targets = [
        "/etc/passwd",
        str(service.index_dir / "CURRENT"),
        str(next(service.settings.corpus_dir.glob("*.txt"))),
        "../../../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        ".env",
    ]
    for route in ("gradio_api/file=", "file="):
        for target in targets:
            response = httpx.get(url + route + target, timeout=10)
            assert response.status_code in (403, 404), (route, target, response.status_code)
            assert "root:" not in response.text and "gen-" not in response.text


def test_a_burst_beyond_the_queue_gets_a_clear_busy_answer(tmp_path: Path, real_embedder) -> None:
    import concurrent.futures

    settings = Settings(progress=False, index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus")
    settings.corpus_dir.mkdir()
    shutil.copy(SEED, settings.corpus_dir / SEED.name)
    build_index([settings.corpus_dir], settings.index_dir, embedder=real_embedder, settings=settings)
    demo = build_app(ChatService(settings, settings.index_dir, tmp_path / "uploads", embedder=real_embedder))
    demo.queue(default_concurrency_limit=1, max_size=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        import threading

        clients = [gradio_client.Client(url, verbose=False) for _ in range(12)]
        start = threading.Barrier(len(clients))

        def ask(client) -> str:
            start.wait()  # all at once: a burst four times the queue
            try:
                client.predict(SEED_QUESTION, *NO_FILTERS, api_name="/ask")
                return "answered"
            except Exception as exc:
                return str(exc)

        with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
            outcomes = list(pool.map(ask, clients))
        refused = [o for o in outcomes if o != "answered"]
        assert outcomes.count("answered") >= 1
        assert refused and all("queue is full" in o.lower() for o in refused), outcomes
        # Still healthy after the burst.
        assert "23 billion yuan" in gradio_client.Client(url, verbose=False).predict(
            SEED_QUESTION, *NO_FILTERS, api_name="/ask"
        )["text"]
    finally:
        demo.close()


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

"""The news features in a real headless Chromium: the short answer first (or the note that it was held back), a
question about two outlets quoted side by side, an article in another language named and quoted, the
coverage line, "Show as timeline", and permalinks that re-ask on their index generation and show both answers once
the index has changed.

Same set-up as test_browser.py (Debian's /usr/bin/chromium through Playwright, a server in-process on a loopback
port, every other host blocked), with a server of its own: these tests change its index.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import SEED, SEED_QUESTION
from loopback import free_port

from assistant import build_index
from assistant.settings import Settings

pytest.importorskip("gradio", reason="gradio is not installed: pip install -e .")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")

import assistant_ui.page as ui_page
from assistant_ui.service import ChatService
from test_browser import ANSWER_TIMEOUT, expect, tab_on
from test_browser import browser as browser  # fixtures shared with test_browser.py
from test_browser import screenshot as screenshot

REVISED = (
    "---\ntitle: Alibaba's AI spending revised\ndate: 2025-03-04\nsource: Markets Wire\n---\n\n"
    "Last year, Alibaba invested 31 billion yuan in AI during the first half of the year, a revised filing showed.\n"
)


@contextmanager
def served(settings: Settings, corpus: Path, embedder) -> Iterator[tuple[str, ChatService]]:
    """``corpus`` indexed into ``settings.index_dir`` and the page serving it on a loopback port: (URL, service)."""
    build_index([corpus], settings.index_dir, embedder=embedder, settings=settings)
    service = ChatService(settings, settings.index_dir, corpus / "uploads", embedder=embedder)
    demo = ui_page.build_app(service)
    demo.queue(default_concurrency_limit=2, max_size=16)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=ui_page.CSS)
    try:
        yield f"http://127.0.0.1:{port}/", service
    finally:
        demo.close()


@pytest.fixture(scope="module")
def news_server(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[tuple[str, ChatService]]:
    root = tmp_path_factory.mktemp("browser-news")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in (SEED, SEED.with_suffix(".meta.json")):
        shutil.copy(path, corpus / path.name)
    # A bar the one-article seed answer clears (held back by default): these tests are about the layout.
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus, reader_confidence=0.3)
    with served(settings, corpus, real_embedder) as (url, service):
        yield url, service


def test_short_answer_first_coverage_line_timeline_and_permalink(browser, news_server, screenshot, capsys) -> None:
    base, service = news_server
    with tab_on(browser, base) as tab:
        page = tab.page
        tab.ask(SEED_QUESTION)
        chat = page.locator("#chat")
        strong = chat.locator("strong", has_text="23 billion yuan").first
        expect(strong).to_be_visible()
        # The direct answer comes before the quoted evidence in the same message.
        order = chat.evaluate(
            "el => { const t = el.innerText; return [t.indexOf('23 billion yuan'), t.indexOf('According to')]; }"
        )
        assert 0 <= order[0] < order[1], order
        expect(chat.locator(".coverage").last).to_have_text("From 1 article by 1 outlet, in Feb 2025.")
        # The permalink is shown and is now the page's URL.
        link = page.locator("#permalink a.permalink")
        expect(link).to_be_attached(timeout=10_000)
        page.wait_for_function("location.search.includes('gen=')", timeout=10_000)
        query = parse_qs(urlsplit(page.url).query)
        assert query["q"] == [SEED_QUESTION] and query["gen"] == ["1"]
        screenshot(tab, "chat-short-answer-coverage", capsys)

        page.get_by_role("button", name="Show as timeline").click()
        expect(chat).to_contain_text("Timeline (oldest first)", timeout=ANSWER_TIMEOUT)
        expect(chat.locator("li").first).to_contain_text("Feb 2025 — tech news blog:")
        page.wait_for_function("location.search.includes('timeline=1')", timeout=10_000)
        screenshot(tab, "chat-timeline", capsys)
        permalink = page.url.replace("&timeline=1", "")

    # Opening the link re-asks on the same generation.
    with tab_on(browser, permalink) as tab:
        expect(tab.page.locator("#recheck")).to_contain_text("Re-asked on index generation 1", timeout=ANSWER_TIMEOUT)
        expect(tab.page.locator("#chat strong", has_text="23 billion yuan").first).to_be_visible()
        expect(tab.page.locator("#cards .card#a1-cite-1")).to_be_attached()
        # A citation link on a permalinked page scrolls to its card; it does not reload the page without the link.
        tab.page.locator('#chat a[href="#a1-cite-1"]').first.click()
        tab.page.wait_for_function("location.hash === '#a1-cite-1'", timeout=5_000)
        assert "gen=1" in tab.page.url and tab.page.locator("#a1-cite-1").count() == 1

    # The index changes (another outlet gives another figure): the link now shows then and now side by side.
    revised = Path(service.upload_dir.parent) / "revised-source.md"
    revised.write_text(REVISED, encoding="utf-8")
    assert service.add_articles([str(revised)], "", "", "")["added"]
    with tab_on(browser, permalink) as tab:
        recheck = tab.page.locator("#recheck")
        expect(recheck).to_contain_text("The index has changed since this link was made", timeout=ANSWER_TIMEOUT)
        columns = recheck.locator(".recheck-column")
        expect(columns).to_have_count(2)
        expect(columns.nth(0)).to_contain_text("Then (generation 1)")
        expect(columns.nth(1)).to_contain_text("Now (generation 2)")
        expect(columns.nth(1)).to_contain_text("31 billion yuan")
        screenshot(tab, "permalink-recheck", capsys)


def test_a_disagreement_links_both_sides_to_their_cards(browser, news_server) -> None:
    base, service = news_server
    if service.assistant.retriever.generation < 2:
        revised = Path(service.upload_dir.parent) / "revised-source.md"
        revised.write_text(REVISED, encoding="utf-8")
        assert service.add_articles([str(revised)], "", "", "")["added"]
    with tab_on(browser, base) as tab:
        tab.ask(SEED_QUESTION)
        coverage = tab.page.locator("#chat .coverage").last
        expect(coverage).to_contain_text("The sources disagree")
        links = coverage.locator("a")
        expect(links).to_have_count(2)
        for index in range(2):
            target = links.nth(index).get_attribute("href")
            assert target and target.startswith("#a1-cite-")
            expect(tab.page.locator(f"#cards .card{target}")).to_be_attached()
        second = links.nth(1).get_attribute("href")
        links.nth(1).click()
        tab.page.wait_for_function(f"location.hash === '{second}'", timeout=5_000)


@pytest.fixture(scope="module")
def unsure_server(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[str]:
    """The seed corpus served with a bar no reading clears: every direct answer is held back."""
    root = tmp_path_factory.mktemp("browser-unsure")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in (SEED, SEED.with_suffix(".meta.json")):
        shutil.copy(path, corpus / path.name)
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus, reader_confidence=1.0)
    with served(settings, corpus, real_embedder) as (url, _):
        yield url


def test_a_held_back_direct_answer_is_said_so_above_the_evidence(browser, unsure_server, screenshot, capsys) -> None:
    with tab_on(browser, unsure_server) as tab:
        tab.ask(SEED_QUESTION)
        chat = tab.page.locator("#chat")
        note = chat.locator(".held-back").last
        expect(note).to_contain_text("No direct answer: the reader is", timeout=ANSWER_TIMEOUT)
        expect(note).to_contain_text("sure of its best guess")
        expect(chat).to_contain_text("23 billion yuan")  # the quoted evidence, still there to read
        assert chat.locator("strong", has_text="23 billion yuan").count() == 0
        order = chat.evaluate(
            "el => { const t = el.innerText; return [t.indexOf('No direct answer'), t.indexOf('According to')]; }"
        )
        assert 0 <= order[0] < order[1], order
        screenshot(tab, "chat-held-back", capsys)


@pytest.fixture(scope="module")
def ferry_server(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[str]:
    """Three made-up outlets on a ferry story (tests/test_multi_article.py's articles), served in the page."""
    from conftest import write_jsonl
    from test_multi_article import ARTICLES

    root = tmp_path_factory.mktemp("browser-ferry")
    records = [
        {"id": f"a{i}", "source": source, "date": date, "title": title, "text": text}
        for i, (source, date, title, text) in enumerate(ARTICLES)
    ]
    corpus = root / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "ferry.jsonl", records)
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus)
    with served(settings, corpus, real_embedder) as (url, _):
        yield url


def test_a_question_about_two_outlets_quotes_each_with_its_card(browser, ferry_server, screenshot, capsys) -> None:
    with tab_on(browser, ferry_server) as tab:
        tab.ask(
            "Does the Harbour Gazette's report on the ferry ticket price agree with The Valley Times' report on it?"
        )
        chat = tab.page.locator("#chat")
        expect(chat).to_contain_text(
            "According to Harbour Gazette, April 2, 2024: A single ferry ticket", timeout=ANSWER_TIMEOUT
        )
        expect(chat).to_contain_text("According to The Valley Times, April 5, 2024: Ferry tickets")
        expect(chat).to_contain_text("No verdict")
        cards = tab.page.locator("#cards .card")
        expect(cards).to_have_count(2)
        expect(cards.nth(0)).to_contain_text("Harbour Gazette")
        expect(cards.nth(1)).to_contain_text("The Valley Times")
        screenshot(tab, "chat-two-outlets", capsys)


@pytest.fixture(scope="module")
def pages_server(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[str]:
    """The saved real pages (tests/data/real: a German one among English and others), served in the page."""
    root = tmp_path_factory.mktemp("browser-pages")
    corpus = root / "corpus"
    shutil.copytree(Path(__file__).parent / "data" / "real", corpus, ignore=shutil.ignore_patterns("README.md"))
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus)
    with served(settings, corpus, real_embedder) as (url, _):
        yield url


def test_an_english_question_shows_the_german_article_it_matches(browser, pages_server, screenshot, capsys) -> None:
    with tab_on(browser, pages_server) as tab:
        tab.ask("How long does the fastest train connection from Madrid to Stockholm take?")
        chat = tab.page.locator("#chat")
        expect(chat).to_contain_text("The closest matching article is in German", timeout=ANSWER_TIMEOUT)
        expect(chat).to_contain_text(
            "36 Stunden. So lange dauert die schnellste Zugverbindung von Madrid nach Stockholm."
        )
        expect(tab.page.locator("#cards .card").first).to_contain_text("ZEIT ONLINE")
        assert "don't answer" not in chat.inner_text()
        screenshot(tab, "chat-other-language", capsys)

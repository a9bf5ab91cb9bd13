"""The chat page in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

A server runs in-process on a free loopback port, with the real embedder and a copy of the seed corpus, as in
test_ui.py. Each test opens a fresh browser context (a new Gradio session, so its first answer's cards are
``a1-cite-N``); the index is shared, so the articles the tests add stay added. Requests to any host other than
the server are aborted: the page must work offline, and Chromium must not wander off this network.

`make test` installs Chromium (apt) and Playwright (the `test` extra); `playwright install` is never needed.
Screenshots land in a temporary folder and in bench/results/screenshots/ (gitignored).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, SEED, SEED_QUESTION
from loopback import free_port

from assistant import build_index
from assistant.settings import Settings

pytest.importorskip("gradio", reason="gradio is not installed: pip install -e .")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")

import assistant_ui.page as ui_page  # noqa: E402
from assistant_ui.service import ChatService  # noqa: E402

expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps opening connections to Google services.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE = {"width": 1280, "height": 720}
NARROW = {"width": 480, "height": 720}  # one column: the cards sit below the chat, out of view
ANSWER_TIMEOUT = 60_000  # ms; an answer takes 1-3 s on 2 cores, the first one longer
ADD_TIMEOUT = 120_000  # ms; embedding a new article takes 10-20 s on 2 cores
SCREENSHOTS = REPO / "bench" / "results" / "screenshots"
# The nearest enclosing Gradio component (each one is a div.block): scopes a locator to one labelled component.
BLOCK = "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' block ')][1]"

HOSTILE = """\
---
title: "Lighthouse <img src=x onerror=\\"window.__pwned=1\\"> keepers' report"
date: 2025-03-05
source: "Harbour <script>alert(1)</script> Bulletin"
url: "javascript:window.__pwned=2"
---

The lighthouse at Cape Morrow <script>alert(1)</script> was repainted red and white in 2024 at a cost of \
86,000 euros <img src=x onerror="window.__pwned=1">.

Visitors can read the keepers' log [online](javascript:window.__pwned=3) or \
<a href="javascript:window.__pwned=4">here</a> <iframe src="javascript:window.__pwned=5"></iframe> any day.
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does)")
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"{CHROMIUM} cannot be launched: {str(exc).splitlines()[0]}")
        try:
            yield chromium
        finally:
            chromium.close()


SERVICES: list[ChatService] = []  # the service behind the shared server, for what only the server's owner does


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser-ui")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in (SEED, SEED.with_suffix(".meta.json")):
        shutil.copy(path, corpus / path.name)
    settings = Settings(progress=False, index_dir=root / "index", corpus_dir=corpus)
    build_index([corpus], settings.index_dir, embedder=real_embedder, settings=settings)
    service = ChatService(settings, settings.index_dir, corpus / "uploads", embedder=real_embedder)
    SERVICES.append(service)
    demo = ui_page.build_app(service)
    demo.queue(default_concurrency_limit=2, max_size=16)
    port = free_port()
    # The page's own stylesheet, as `serve` passes it, so screenshots show what users see.
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        css=ui_page.CSS,
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


class Tab:
    """One browser tab on the chat page, with the dialogs and page errors it saw."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(base)
        expect(self.question).to_be_visible(timeout=30_000)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    @property
    def question(self):
        return self.page.get_by_label("Question", exact=True)

    def ask(self, question: str, *, press_enter: bool = True) -> None:
        """Ask in a fresh session and wait for the end of the stream: the cards arrive with the final answer."""
        self.page.get_by_role("tab", name="Chat").click()
        self.question.fill(question)
        if press_enter:
            self.question.press("Enter")
        else:
            self.page.get_by_role("button", name="Ask", exact=True).click()
        expect(self.page.locator("#cards .card#a1-cite-1")).to_be_attached(timeout=ANSWER_TIMEOUT)
        # The short answer and the quote both link to card 1.
        expect(self.page.locator('#chat a[href="#a1-cite-1"]').first).to_be_attached(timeout=10_000)

    def add_file(self, path: Path) -> str:
        """Upload through the Library tab, click "Add to the index" and return the Update panel's text."""
        page = self.page
        page.get_by_role("tab", name="Library").click()
        uploads = page.get_by_text("Add files (").locator(BLOCK)
        uploads.locator("input[type=file]").set_input_files(str(path))
        # The file's download link appears once the upload reached the server.
        expect(uploads.locator(f'a[download="{path.name}"]')).to_be_attached(timeout=30_000)
        result = page.get_by_text("Update", exact=True).locator(BLOCK)
        page.get_by_role("button", name="Add to the index").click()
        # Fresh session, empty panel: the outcome's keys appear when the update is done.
        expect(result).to_contain_text('"articles"', timeout=ADD_TIMEOUT)
        return "".join(result.inner_text().split())  # the JSON viewer spreads it over lines


def _loopback_only(route) -> None:
    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


@contextmanager
def tab_on(browser, url: str, *, clean: bool = True) -> Iterator[Tab]:
    """A tab on ``url`` in a browser context of its own (every host but loopback blocked), closed after. ``clean``:
    a block that ends without an error must also have raised no dialog and no error in the page."""
    context = browser.new_context(viewport=WIDE)
    context.route("**/*", _loopback_only)
    try:
        tab = Tab(context.new_page(), url)
        yield tab
        if clean:
            assert not tab.dialogs and not tab.errors, (tab.dialogs, tab.errors)
    finally:
        context.close()


@pytest.fixture
def tab(browser, server: str) -> Iterator[Tab]:
    with tab_on(browser, server, clean=False) as opened:  # each test says what the page may raise
        yield opened


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("screenshots")

    def save(tab: Tab, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
        path = folder / f"{name}.png"
        tab.page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        copy = shutil.copyfile(path, SCREENSHOTS / path.name)
        with capsys.disabled():
            print(f"\nscreenshot: {path}\nscreenshot: {copy}")
        return path

    return save


def card_in_view(tab: Tab, card_id: str) -> bool:
    """Whether the card is what the user sees: its top is in the viewport and not hidden by anything.

    The hit test at the card's top edge also covers a card inside a scrolled or clipped panel, which a bounding
    box check alone would report as visible.
    """
    return tab.page.evaluate(
        """id => {
            const card = document.getElementById(id);
            const box = card.getBoundingClientRect();
            if (box.top < -1 || box.top >= window.innerHeight) return false;
            const hit = document.elementFromPoint(box.left + box.width / 2, Math.max(box.top, 0) + 5);
            return card.contains(hit);
        }""",
        card_id,
    )


def test_ask_the_seed_question_and_follow_its_citation(tab: Tab, screenshot, capsys) -> None:
    page = tab.page
    tab.ask(SEED_QUESTION, press_enter=True)
    chat, cards = page.locator("#chat"), page.locator("#cards")
    expect(chat).to_contain_text("23 billion yuan")
    expect(cards.locator(".cards.answered")).to_be_attached()
    card = page.locator("#a1-cite-1")
    expect(card.locator(".card-meta")).to_contain_text("tech news blog")
    expect(card.locator("mark")).to_contain_text("23 billion yuan")
    screenshot(tab, "chat-seed-answer", capsys)

    # In one column the cards are below the chat; following [1] must bring card 1 into view.
    page.set_viewport_size(NARROW)
    page.evaluate("window.scrollTo(0, 0)")
    link = chat.locator('a[href="#a1-cite-1"]').first  # the short answer's marker; the quote's follows it
    link.scroll_into_view_if_needed()
    assert not card_in_view(tab, "a1-cite-1"), "card 1 is already in view: the click would prove nothing"
    link.click()
    page.wait_for_function("location.hash === '#a1-cite-1'", timeout=5_000)
    assert card.evaluate("card => card.matches(':target')")
    page.wait_for_function(
        "() => { const b = document.getElementById('a1-cite-1').getBoundingClientRect();"
        " return b.top >= -1 && b.top < window.innerHeight; }",
        timeout=5_000,
    )
    assert card_in_view(tab, "a1-cite-1")
    assert len(page.context.pages) == 1  # the link scrolled this page; it did not open a tab
    assert not tab.dialogs and not tab.errors, (tab.dialogs, tab.errors)


def test_add_an_article_in_the_library_then_ask_about_it(tab: Tab, tmp_path: Path) -> None:
    article = tmp_path / "vellmar-fleet.md"
    article.write_text(
        "---\ntitle: Port Vellmar counts its fishing fleet\ndate: 2025-03-02\nsource: Coastal Gazette\n---\n\n"
        "The harbour authority of Port Vellmar said that 412 fishing boats were registered there in 2024.\n",
        encoding="utf-8",
    )
    result = tab.add_file(article)
    assert '"added":["uploads/vellmar-fleet.md"]' in result and '"skipped":[]' in result, result
    expect(tab.page.get_by_text("Port Vellmar counts its fishing fleet", exact=True)).to_be_visible()

    tab.ask("How many fishing boats were registered in Port Vellmar?", press_enter=False)
    page = tab.page
    expect(page.locator("#chat")).to_contain_text("412 fishing boats")
    cited = page.locator("#cards .card", has_text="Coastal Gazette")
    expect(cited.first).to_be_attached()
    card_id = cited.first.get_attribute("id")
    expect(page.locator(f'#chat a[href="#{card_id}"]').first).to_be_attached()  # the answer links to that card
    expect(cited.first.locator("mark")).to_contain_text("412 fishing boats")
    assert not tab.dialogs and not tab.errors, (tab.dialogs, tab.errors)


def test_hostile_markup_in_an_article_stays_text(tab: Tab, tmp_path: Path, screenshot, capsys) -> None:
    article = tmp_path / "cape-morrow.md"
    article.write_text(HOSTILE, encoding="utf-8")
    result = tab.add_file(article)
    assert '"added":["' in result and '"skipped":[]' in result, result
    tab.ask("How much did it cost to repaint the lighthouse at Cape Morrow?")
    page = tab.page
    chat, cards = page.locator("#chat"), page.locator("#cards")
    expect(chat).to_contain_text("86,000 euros")
    expect(chat).to_contain_text("Cape Morrow <script>alert(1)</script> was repainted")  # quoted, as text
    cited = cards.locator(".card", has_text="86,000 euros")
    expect(cited.first).to_be_attached()
    # The markup reached the page, as text: the card shows it literally.
    expect(cited.first).to_contain_text("<script>alert(1)</script>")
    expect(cited.first).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(cited.first).to_contain_text("<iframe")
    expect(cited.first.locator("mark")).to_contain_text("86,000 euros")
    page.wait_for_timeout(500)  # give any injected handler (img onerror, iframe load) time to run
    screenshot(tab, "chat-hostile-article", capsys)

    assert tab.dialogs == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    live = page.evaluate(
        """() => {
            const found = [];
            // What shows article text: the chat messages and the cards (Gradio's own icons elsewhere are svg).
            for (const el of document.querySelectorAll('#chat .message-content, #cards .cards')) {
                for (const bad of el.querySelectorAll('script, iframe, object, embed, img, svg, style')) {
                    found.push(bad.outerHTML.slice(0, 120));
                }
            }
            for (const root of document.querySelectorAll('#chat, #cards')) {
                for (const el of root.querySelectorAll('*')) {
                    for (const attr of el.attributes) {
                        if (attr.name.startsWith('on')) found.push(el.tagName + ' ' + attr.name);
                    }
                }
                for (const a of root.querySelectorAll('a[href]')) {
                    if (!/^(#|https?:)/i.test(a.getAttribute('href'))) found.push('a ' + a.getAttribute('href'));
                }
            }
            // Nowhere on the page (the library table shows the hostile title too).
            for (const el of document.querySelectorAll('img[onerror], iframe')) found.push(el.outerHTML.slice(0, 120));
            return found;
        }"""
    )
    assert live == []
    assert not tab.errors, tab.errors


def test_the_page_says_what_it_holds_and_keeps_saying_it_as_articles_arrive(tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    header, examples = page.locator("#overview"), page.locator("#examples")
    expect(header).to_contain_text("News QA assistant")
    expect(header).to_contain_text("tech news blog")
    expect(header).to_contain_text("last updated")
    before = int(header.locator("strong").first.inner_text().split()[0].replace(",", ""))
    seed = "What do the articles say about “Chinese Tech Giants Rush to Invest in AI Amidst Growing Competition with"
    expect(examples).to_contain_text(seed + " the U.S.”?")  # whole, however long

    article = tmp_path / "ferry-timetable.md"
    article.write_text(
        "---\ntitle: Lake Orsa ferry adds a night crossing\ndate: 2025-04-04\nsource: Orsa Courier\n---\n\n"
        "The Lake Orsa ferry will add a night crossing at 23:40 from June, the operator said.\n",
        encoding="utf-8",
    )
    tab.add_file(article)
    # Without reloading: the count, the new outlet and an example about the newest headline, first.
    expect(header.locator("strong").first).to_have_text(f"{before + 1} articles", timeout=30_000)
    expect(header).to_contain_text("Orsa Courier")
    newest = "What do the articles say about “Lake Orsa ferry adds a night crossing”?"
    page.get_by_role("tab", name="Chat").click()
    expect(examples.locator("button").first).to_have_text(newest)

    examples.locator("button").first.click()
    expect(tab.question).to_have_value(newest)
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.locator("#cards .card", has_text="Orsa Courier").first).to_be_attached(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#chat")).to_contain_text("23:40")
    assert not tab.dialogs and not tab.errors, (tab.dialogs, tab.errors)


class GatedEmbedder:
    """The real embedder behind a gate the test opens: a first build that is visibly under way until then."""

    def __init__(self, inner) -> None:
        self.inner, self.gate = inner, threading.Event()
        self.name, self.identity, self.dimension = inner.name, inner.identity, inner.dimension

    def embed(self, texts):
        assert self.gate.wait(120), "the test never opened the gate"
        return self.inner.embed(texts)


def test_the_first_build_shows_its_progress_and_the_page_answers_when_it_is_done(
    browser, real_embedder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (SEED, SEED.with_suffix(".meta.json")):
        shutil.copy(path, corpus / path.name)
    settings = Settings(progress=False, index_dir=tmp_path / "index", corpus_dir=corpus)
    embedder = GatedEmbedder(real_embedder)
    service = ChatService(settings, settings.index_dir, corpus / "uploads", embedder, first_build_from=corpus)
    demo = ui_page.build_app(service)
    demo.queue(default_concurrency_limit=2, max_size=16)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=ui_page.CSS)
    context = browser.new_context(viewport=WIDE)
    try:
        tab = Tab(context.new_page(), f"http://127.0.0.1:{port}/")
        header = tab.page.locator("#overview")
        expect(header).to_contain_text("Building the index from", timeout=30_000)
        tab.question.fill(SEED_QUESTION)
        tab.question.press("Enter")
        expect(tab.page.locator("#chat")).to_contain_text("Ask again when the index is ready", timeout=ANSWER_TIMEOUT)

        embedder.gate.set()
        # Without a reload: the header turns into what the index holds, and the same page answers.
        expect(header.locator("strong").first).to_have_text("1 article", timeout=ADD_TIMEOUT)
        expect(header).to_contain_text("tech news blog")
        expect(tab.page.locator("#examples button").first).to_contain_text("Chinese Tech Giants")
        tab.question.fill(SEED_QUESTION)
        tab.question.press("Enter")
        expect(tab.page.locator("#cards .card#a2-cite-1")).to_contain_text("23 billion yuan", timeout=ANSWER_TIMEOUT)
        expect(tab.page.locator("#chat")).to_contain_text("23 billion yuan")
        # The outlet filter learnt the index's outlets when the build ended.
        tab.page.get_by_text("Filters", exact=True).click()
        tab.page.get_by_label("Sources").click()
        expect(tab.page.get_by_role("option", name="tech news blog")).to_be_visible(timeout=10_000)
        assert not tab.dialogs and not tab.errors, (tab.dialogs, tab.errors)
    finally:
        embedder.gate.set()
        context.close()
        demo.close()
        assert service.first_build is not None
        service.first_build.wait(120)


FERRY_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>Skarn Island Herald</title><link>{base}/</link><description>Island news</description>
{items}
</channel></rss>"""
FERRY_ITEM = """<item><title>{title}</title><link>{base}/{slug}</link><guid>{slug}</guid><pubDate>{date}</pubDate>
<description>{text}</description><content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"""


def test_watch_a_feed_and_a_question_and_see_when_its_answer_changes(tab: Tab, screenshot, capsys) -> None:
    from feedsite import FeedSite

    page = tab.page
    with FeedSite().running() as site:

        def serve(*items: tuple[str, str, str, str]) -> str:
            listed = "".join(
                FERRY_ITEM.format(base=site.url(""), slug=slug, title=title, date=date, text=text)
                for slug, title, date, text in items
            )
            return site.put("/herald.rss", FERRY_FEED.format(base=site.url(""), items=listed))

        first = (
            "ferry-fare",
            "Harbour board sets the Skarn ferry fare",
            "Tue, 01 Apr 2025 08:00:00 GMT",
            "The ferry fare between Port Vellmar and Skarn Island will be 14 euros from May, the harbour board said.",
        )
        url = serve(first)
        # Named by whoever runs the server (as `serve --watch` does): a loopback feed is allowed.
        SERVICES[0].watch.watcher.add_feeds([url])
        page.get_by_role("tab", name="Library").click()
        page.get_by_role("button", name="Fetch feeds now").click()
        expect(page.locator("#feed-note")).to_contain_text("1 articles added", timeout=ADD_TIMEOUT)
        expect(page.locator("#feeds-table")).to_contain_text("Skarn Island Herald")

        tab.ask("How much will the ferry fare between Port Vellmar and Skarn Island be?")
        expect(page.locator("#chat")).to_contain_text("14 euros")
        page.get_by_role("button", name="Watch this question").click()
        expect(page.locator("#watch-note")).to_contain_text("Watching “How much will the ferry fare")

        # The feed brings a newer article; the next round asks the question again and the page says it changed.
        serve(
            first,
            (
                "ferry-fare-cut",
                "Skarn ferry fare cut before the summer",
                "Mon, 14 Apr 2025 08:00:00 GMT",
                "The harbour board cut the ferry fare between Port Vellmar and Skarn Island to 11 euros from May.",
            ),
        )
        page.get_by_role("tab", name="Library").click()
        page.get_by_role("button", name="Fetch feeds now").click()
        expect(page.locator("#feed-note")).to_contain_text("1 articles added", timeout=ADD_TIMEOUT)
        expect(page.locator("#watch-badge")).to_contain_text("1 watched answer changed")
        page.get_by_role("tab", name="Watched").click()
        watched = page.locator("#watched .watched").first
        expect(watched.locator(".watch-badge")).to_contain_text("changed")
        expect(watched).to_contain_text("newly cited: “Skarn ferry fare cut before the summer”")
        expect(watched.locator(".recheck-column")).to_have_count(2)  # then and now, side by side
        expect(watched.locator(".recheck-column").nth(1)).to_contain_text("11 euros")
        screenshot(tab, "watched-answer-changed", capsys)

        # Seen: the badge goes, the then and now stay.
        page.get_by_label("Watched question").click()
        page.get_by_role("option").first.click()
        page.get_by_role("button", name="Mark as seen").click()
        expect(page.locator("#watch-badge")).to_have_text("", timeout=10_000)
        expect(watched.locator(".recheck-column")).to_have_count(2)
    assert not tab.dialogs and not tab.errors, (tab.dialogs, tab.errors)

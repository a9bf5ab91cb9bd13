"""What `assistant serve` does to the index before the page opens: with --corpus it updates the index from that
folder (building it on first start); without it the index is served unchanged, whatever the default corpus holds.
The page itself is not started here (``start`` is replaced): these tests are about the index."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from conftest import SEED, FakeEmbedder, article_ids, news_corpus

from assistant import IndexNotFoundError, Settings, build_index, describe_index

pytest.importorskip("gradio", reason="gradio is not installed: pip install -e .")

import assistant_ui.app
from assistant_ui.service import ChatService

from assistant.cli import cli


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[ChatService]:
    """The services `serve` would have put behind a page, in the order it started them."""
    services: list[ChatService] = []

    def start(service: ChatService, **_: object) -> SimpleNamespace:
        services.append(service)
        return SimpleNamespace(is_running=False, close=lambda: None)  # a page already closed: serve returns

    monkeypatch.setattr(assistant_ui.app, "start", start)
    return services


def _demo_corpus(folder: Path) -> Path:
    """A corpus like the repository's: the demo article alone."""
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return folder


def test_serving_an_index_without_a_corpus_leaves_it_unchanged(
    index_location: str | Path, tmp_path: Path, started: list[ChatService]
) -> None:
    news = news_corpus(tmp_path / "news")
    build_index([news], index_location, embedder=FakeEmbedder())
    before = describe_index(index_location)
    held = article_ids(index_location)
    # The settings' corpus folder exists and holds an article the index lacks: the case that used to be added.
    settings = Settings(index_dir=index_location, corpus_dir=_demo_corpus(tmp_path / "corpus"))
    assistant_ui.app.serve(settings, embedder=FakeEmbedder())
    after = describe_index(index_location)
    assert (after.generation, after.articles, after.created_at) == (
        before.generation,
        before.articles,
        before.created_at,
    )
    assert article_ids(index_location) == held and not any(SEED.name in i for i in held)
    assert [str(s.index_dir) for s in started] == [str(index_location)]
    # The page answers from it as it is.
    answer = started[0].ask("Where did the volcano erupt?", "", "", "", [], 4, "extractive")
    assert answer["generation"] == before.generation and not answer["abstained"]


def test_serving_with_a_corpus_builds_the_index_then_adds_what_the_folder_gained(
    index_location: str | Path, tmp_path: Path, started: list[ChatService]
) -> None:
    corpus = news_corpus(tmp_path / "news")
    settings = Settings(index_dir=index_location, corpus_dir=corpus)
    assistant_ui.app.serve(settings, corpus=corpus, embedder=FakeEmbedder())
    assert started[0].first_build is not None and started[0].first_build.wait(120).finished  # built behind the page
    first = describe_index(index_location)
    assert first.generation >= 1 and first.articles == 5
    (corpus / "ferry.txt").write_text("Harbor ferry resumes\n\nThe ferry to the island runs again.\n", "utf-8")
    assistant_ui.app.serve(settings, corpus=corpus, embedder=FakeEmbedder())
    second = describe_index(index_location)
    assert second.generation > first.generation and second.articles == 6
    assert len(started) == 2 and started[1].upload_dir == corpus / "uploads" and started[1].first_build is None


def test_serving_a_missing_index_without_a_corpus_names_both_ways_to_make_one(
    tmp_path: Path, started: list[ChatService]
) -> None:
    settings = Settings(index_dir=tmp_path / "nothing", corpus_dir=_demo_corpus(tmp_path / "corpus"))
    with pytest.raises(IndexNotFoundError) as raised:
        assistant_ui.app.serve(settings, embedder=FakeEmbedder())
    message = str(raised.value)
    assert str(tmp_path / "nothing") in message and "assistant index build" in message and "--corpus" in message
    assert not (tmp_path / "nothing").exists() and started == []


def test_the_serve_command_updates_only_from_the_corpus_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, Path | None]] = []
    monkeypatch.setattr(
        assistant_ui.app, "serve", lambda settings, *, corpus, **_: calls.append((settings.index_dir, corpus))
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["serve", "--index", str(tmp_path / "mine")]).exit_code == 0
    corpus = news_corpus(tmp_path / "news")
    assert runner.invoke(cli, ["serve", "--index", str(tmp_path / "mine"), "--corpus", str(corpus)]).exit_code == 0
    assert calls == [(tmp_path / "mine", None), (tmp_path / "mine", corpus)]
    missing = runner.invoke(cli, ["serve", "--corpus", str(tmp_path / "absent")])
    assert missing.exit_code == 2 and "does not exist" in missing.output and len(calls) == 2


class GatedEmbedder(FakeEmbedder):
    """The fake embedder, holding its first batch until the test opens the gate (or failing it, when told to)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.gate, self.waiting, self.fail = threading.Event(), threading.Event(), fail

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.waiting.set()
        assert self.gate.wait(120), "the test never opened the gate"
        if self.fail:
            raise RuntimeError("the embedding model ran out of memory")
        return super().embed(texts)


def _exchange(service: ChatService, question: str) -> str:
    """The last chat message after asking ``question`` through the page's chat."""
    *_, (chat, _cards, _turns, _box) = list(service.chat(question, [], [], "", "", "", [], 4, "extractive"))
    return chat[-1]["content"]


def test_a_first_build_runs_behind_the_open_page_which_answers_once_it_is_published(
    index_location: str | Path, tmp_path: Path, started: list[ChatService]
) -> None:
    corpus = news_corpus(tmp_path / "news")
    embedder = GatedEmbedder()
    assistant_ui.app.serve(Settings(index_dir=index_location, corpus_dir=corpus), corpus=corpus, embedder=embedder)
    service = started[0]  # the page opened before the index exists
    assert embedder.waiting.wait(60) and not service.ready and service.sources() == []
    assert "Building the index from" in service.overview()[0] and service.overview()[1] == ()
    assert "Building the index from" in service.library()[0]
    told = _exchange(service, "Where did the volcano erupt?")
    assert told.startswith("⚠️ Building the index from") and "Ask again when the index is ready" in told
    with pytest.raises(IndexNotFoundError, match="Building the index"):
        service.add_articles(None, "", "A pasted article about ferries.", "Ferries")
    embedder.gate.set()
    assert service.first_build is not None and service.first_build.wait(120).finished and service.ready
    assert "**5 articles**" in service.overview()[0] and "Reykjavik Post" in service.sources()
    assert "Grindavik" in _exchange(service, "Where did the volcano erupt?")


def test_a_first_build_that_fails_says_why_on_the_page(tmp_path: Path, started: list[ChatService]) -> None:
    corpus = news_corpus(tmp_path / "news")
    embedder = GatedEmbedder(fail=True)
    embedder.gate.set()
    assistant_ui.app.serve(Settings(index_dir=tmp_path / "idx", corpus_dir=corpus), corpus=corpus, embedder=embedder)
    service = started[0]
    assert service.first_build is not None
    ended = service.first_build.wait(120)
    assert not ended.finished and ended.error and "ran out of memory" in ended.error and not service.ready
    assert "failed: RuntimeError: the embedding model ran out of memory" in service.overview()[0]
    assert "failed" in _exchange(service, "Where did the volcano erupt?")


def test_serving_with_watch_fetches_the_feeds_into_the_index_while_the_page_is_up(
    tmp_path: Path, started: list[ChatService], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant_ui.watching import PageWatch
    from feedsite import FeedSite
    from test_watch_feeds import atom

    news = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([news], index, embedder=FakeEmbedder())
    settings = Settings(index_dir=index, corpus_dir=news, progress=False)
    with FeedSite().running() as site:
        url = site.put("/atom.xml", atom(site, entries=2))
        listing = tmp_path / "feeds.txt"
        listing.write_text(url + "\n")
        assistant_ui.app.serve(settings, embedder=FakeEmbedder(), watch=[str(listing)])
        (service,) = started
        assert [(f.url, f.trusted) for f in service.watch.watcher.feeds()] == [(url, True)]

        # The page's rounds run on a thread of their own, and the page answers from what they publish.
        rounds = PageWatch(service, every=3600).start()
        try:
            deadline = time.monotonic() + 60
            while not any(row[4] == "2" for row in rounds.feed_rows()):
                assert time.monotonic() < deadline, rounds.feed_rows()
                threading.Event().wait(0.05)
        finally:
            rounds.stop()
        assert describe_index(index).generation == 2
        service.refresh()
        assert service.assistant.retriever.generation == 2
        # A feed added in the page is not trusted with a private address; "Fetch feeds now" says what failed.
        page = PageWatch(service)  # the page's, unstarted: `serve` stopped its own when `start` returned here
        site.put("/more.xml", atom(site, entries=3))
        assert "Watching" in page.add_feed(site.url("/more.xml", 0))
        line = page.fetch_now()
        assert "1 failed" in line and "not a public address" in page.feed_rows()[1][3]
        assert page.add_feed("javascript:alert(1)").startswith("Not added")

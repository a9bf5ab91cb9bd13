"""Feeds that update the index on their own: rounds over real HTTP on loopback, serving the feedparser suite's feeds
and saved pages, changed between rounds (tests/feedsite.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeEmbedder, article_ids
from feedsite import FeedSite

from assistant import remove_articles, update_index
from assistant.errors import IndexLockedError
from assistant.index.store import describe_index
from assistant.settings import Settings
from assistant.watch import feeds as feed_rounds
from assistant.watch.state import WatchState, watch_folder
from assistant.watch.watcher import Watcher, feed_urls
from assistant.web.fetch import USER_AGENT

EVERY = 900.0


def settings(**options: object) -> Settings:
    defaults: dict[str, object] = {"progress": False, "ui_fetch_private": True, "feed_timeout": 2.0}
    return Settings(**{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite(hosts=2).running() as running:
        running.serve_pages()
        yield running


def atom(site: FeedSite, entries: int = 4, change: str | None = None) -> bytes:
    """The touchnokia Atom feed with its first ``entries`` entries; ``change`` replaces the first entry's text."""
    data = site.feed("touchnokia-atom.xml").decode("utf-8")
    head, _, rest = data.partition("<entry>")
    parts = ["<entry>" + part for part in rest.split("<entry>")]
    kept = parts[:entries]
    if change:
        first = kept[0]
        start = first.index("<content")
        end = first.index("</content>") + len("</content>")
        kept[0] = first[:start] + f'<content type="text">{change}</content>' + first[end:]
    if entries < len(parts):
        kept[-1] = kept[-1].split("</feed>")[0]
    return (head + "".join(kept) + ("" if kept[-1].rstrip().endswith("</feed>") else "\n</feed>\n")).encode()


def test_a_round_adds_every_feeds_entries_in_one_generation_with_the_linked_pages_text(
    site: FeedSite, index_location: str | Path
) -> None:
    site.put("/atom.xml", atom(site))
    site.put("/wire.rss", site.feed("summaries.rss", ttl="5"), headers={"Content-Type": "application/rss+xml"})
    watcher = Watcher(index_location, settings=settings(), embedder=FakeEmbedder())
    assert watcher.add_feeds([site.url("/atom.xml"), site.url("/wire.rss", host=1)]) == [
        site.url("/atom.xml"),
        site.url("/wire.rss", host=1),
    ]
    report = watcher.round()
    assert report.generation == 1 and not report.failed and not report.error
    assert len(report.added) == 7  # 4 Atom entries with their full content, 3 summaries
    ids = article_ids(index_location)
    assert {"tag:touchnokia.ru,2009://1.814", "wire-oil-20191119", "wire-missing-20191121"} <= ids
    listed = {a.id: a for a in describe_index(index_location, with_articles=True).article_list or ()}
    assert listed["wire-oil-20191119"].source == "Wire summaries"  # the feed's metadata, not the page's
    assert listed["wire-oil-20191119"].date == "2019-11-19"
    # The page's text replaced the one-line summary; the missing page left its summary, and said so.
    text = _article_text(index_location, "wire-oil-20191119", "Brent crude fell by about one percent")
    assert "Brent crude fell by about one percent" in text
    wire = next(o for o in report.feeds if o.url.endswith("/wire.rss"))
    assert any("missing.html" in w and "HTTP 404" in w and "summary is indexed" in w for w in wire.warnings)
    words = "crews would inspect every line"
    assert words in _article_text(index_location, "wire-missing-20191121", words)
    # Every request names the project; the feed's <ttl> (5 minutes) is below the round interval here.
    assert {r.headers.get("User-Agent") for r in site.requests} == {USER_AGENT}
    states = {f.url: f for f in watcher.feeds()}
    assert states[site.url("/atom.xml")].articles_added == 4 and states[site.url("/wire.rss", 1)].ttl_minutes == 5
    watcher.close()


def _article_text(index: str | Path, article_id: str, words: str) -> str:
    """The indexed passages of one article that a search for ``words`` finds."""
    from assistant import Retriever

    with Retriever.open(index, embedder=FakeEmbedder()) as retriever:
        return " ".join(hit.text for hit in retriever.search(words, k=20) if hit.article_id == article_id)


def test_the_next_round_is_conditional_and_publishes_only_what_changed(site: FeedSite, tmp_path: Path) -> None:
    site.put("/atom.xml", atom(site, entries=2))
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=(embedder := FakeEmbedder()))
    watcher.add_feeds([site.url("/atom.xml")])
    first = watcher.round()
    assert first.generation == 1 and len(first.added) == 2
    embedded = embedder.embedded

    # Unchanged: the validators go back, the server says 304, nothing is read, embedded or published.
    again = watcher.round(every_feed=True)
    request = site.hits("/atom.xml")[-1]
    assert request.headers.get("If-None-Match") and request.headers.get("If-Modified-Since")
    assert again.feeds[0].not_modified and again.generation is None and embedder.embedded == embedded

    # Two new entries and the first one rewritten: one generation adds two and changes one.
    site.put("/atom.xml", atom(site, entries=4, change="The program now also dims the keyboard light at night."))
    changed = watcher.round(every_feed=True)
    assert changed.generation == 2
    assert len(changed.added) == 2 and changed.changed == ("tag:touchnokia.ru,2009://1.814",)
    words = "dims the keyboard light"
    assert words in _article_text(tmp_path / "idx", "tag:touchnokia.ru,2009://1.814", words)
    assert {f.url: f.articles_added for f in watcher.feeds()} == {site.url("/atom.xml"): 4}


def test_failing_feeds_are_reported_and_backed_off_without_stopping_the_others(site: FeedSite, tmp_path: Path) -> None:
    site.put("/atom.xml", atom(site, entries=2))
    site.put("/koi8r.xml", (Path(__file__).parent / "data" / "real" / "undeclared-koi8r.xml").read_bytes())
    site.put("/broken.xml", site.feed("rss_incomplete_cdata.xml"))
    site.put("/busy.xml", b"busy", status=503, headers={"Retry-After": "7200"}, validators=False)
    site.put("/error.xml", b"oops", status=500, validators=False)
    site.put("/slow.xml", atom(site), delay=4.0)
    site.put("/huge.xml", b"<rss>" + b" " * 2_000_000 + b"</rss>")
    watcher = Watcher(tmp_path / "idx", settings=settings(feed_timeout=1.0, max_file_mb=1), embedder=FakeEmbedder())
    failing = ["/missing.xml", "/broken.xml", "/busy.xml", "/error.xml", "/slow.xml", "/huge.xml"]
    watcher.add_feeds([site.url(p, host=1) for p in failing] + [site.url("/atom.xml"), site.url("/koi8r.xml")])
    now = time.time()
    report = feed_rounds.run_round(tmp_path / "idx", settings=watcher.settings, embedder=FakeEmbedder(), now=now)
    assert report.generation == 1 and len(report.added) == 3  # the two Atom entries and the KOI8-R one
    reasons = {o.url.rsplit("/", 1)[1]: o.error for o in report.failed}
    assert reasons.keys() == {p[1:] for p in failing}
    assert "HTTP 404" in (reasons["missing.xml"] or "")
    assert "not well-formed XML" in (reasons["broken.xml"] or "")
    assert "HTTP 503" in (reasons["busy.xml"] or "") and "HTTP 500" in (reasons["error.xml"] or "")
    assert "timed out" in (reasons["slow.xml"] or "")
    assert "larger than 1 MB" in (reasons["huge.xml"] or "")
    states = {f.url.rsplit("/", 1)[1]: f for f in watcher.feeds()}
    assert states["missing.xml"].failures == 1 and states["missing.xml"].next_due == pytest.approx(now + EVERY)
    assert states["busy.xml"].next_due == pytest.approx(now + 7200, abs=5)  # Retry-After beats the first wait
    assert states["missing.xml"].last_error == reasons["missing.xml"]

    # Not due yet: the next round leaves them alone; once due, a second failure doubles the wait.
    assert feed_rounds.run_round(tmp_path / "idx", settings=watcher.settings, now=now + 60).feeds == ()
    later = now + EVERY + 1
    feed_rounds.run_round(tmp_path / "idx", settings=watcher.settings, embedder=FakeEmbedder(), now=later)
    states = {f.url.rsplit("/", 1)[1]: f for f in watcher.feeds()}
    assert states["missing.xml"].failures == 2 and states["missing.xml"].next_due == pytest.approx(later + 2 * EVERY)
    assert states["atom.xml"].failures == 0 and states["atom.xml"].last_error is None


def test_one_request_at_a_time_per_host(site: FeedSite, tmp_path: Path) -> None:
    """Feeds on the first host are slow while a feed on the second links to pages on the first: those page
    requests wait for the host, whichever feed they are for."""
    for n in range(3):
        site.put(f"/a{n}.xml", atom(site, entries=1), delay=0.2)
    for path in list(site.routes):
        if path.startswith("/pages/"):
            site.put(path, site.routes[path].body, delay=0.2)
    site.put("/wire.rss", site.feed("summaries.rss", ttl="5"))
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=FakeEmbedder())
    watcher.add_feeds([site.url(f"/a{n}.xml") for n in range(3)] + [site.url("/wire.rss", host=1)])
    watcher.round()
    assert len(site.requests) == 3 + 1 + 3  # three feeds and the wire feed on its host, its three pages
    assert dict(site.most_at_once) == {"127.0.0.1": 1, "127.0.0.2": 1}


def test_a_feed_added_in_the_page_may_not_reach_a_private_address(site: FeedSite, tmp_path: Path) -> None:
    site.put("/atom.xml", atom(site, entries=1))
    watcher = Watcher(tmp_path / "idx", settings=settings(ui_fetch_private=False), embedder=FakeEmbedder())
    watcher.add_feeds([site.url("/atom.xml")], trusted=False)
    report = watcher.round()
    assert "not a public address" in (report.failed[0].error or "") and site.requests == []
    # Named by whoever runs the server, the same feed is trusted.
    watcher.add_feeds([site.url("/atom.xml")])
    assert watcher.round(every_feed=True).generation == 1


def test_an_article_removed_from_the_index_is_not_brought_back(site: FeedSite, tmp_path: Path) -> None:
    site.put("/atom.xml", atom(site, entries=2))
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=FakeEmbedder())
    watcher.add_feeds([site.url("/atom.xml")])
    watcher.round()
    remove_articles(["tag:touchnokia.ru,2009://1.814"], tmp_path / "idx")
    site.put("/atom.xml", atom(site, entries=3, change="A new version of a removed story."))
    report = watcher.round(every_feed=True)
    assert "tag:touchnokia.ru,2009://1.814" not in article_ids(tmp_path / "idx")
    assert len(report.added) == 1
    # Only the removed story changes again: nothing to send (no writer, no model), and no error.
    site.put("/atom.xml", atom(site, entries=3, change="A third version of the removed story."))
    quiet = watcher.round(every_feed=True)
    assert quiet.error is None and quiet.generation is None and watcher.feeds()[0].last_error is None


def test_a_round_that_cannot_write_leaves_the_index_and_fetches_again(
    site: FeedSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.put("/atom.xml", atom(site, entries=2))
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=FakeEmbedder())
    watcher.add_feeds([site.url("/atom.xml")])

    def locked(*args: object, **kwargs: object) -> None:
        raise IndexLockedError("another writer holds the lock")

    monkeypatch.setattr("assistant.indexing.update.update_index", locked)
    report = watcher.round()
    assert report.error and "holds the lock" in report.error and report.generation is None
    state = watcher.feeds()[0]
    assert state.etag is None and "not written" in (state.last_error or "")
    monkeypatch.undo()
    # Due at once, fetched whole (no validators), and every entry sent again.
    again = watcher.round()
    assert "If-None-Match" not in site.hits("/atom.xml")[-1].headers
    assert again.generation == 1 and len(again.added) == 2


def test_a_stop_while_fetching_abandons_the_round(site: FeedSite, tmp_path: Path) -> None:
    update_index([Path(__file__).parents[1] / "corpus"], tmp_path / "idx", embedder=FakeEmbedder())
    site.put("/slow.xml", atom(site), delay=1.0)
    site.put("/atom.xml", atom(site, entries=2))
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=FakeEmbedder())
    watcher.add_feeds([site.url("/slow.xml"), site.url("/atom.xml")])  # one host: the second waits for the first
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    report = watcher.round(stop)
    timer.join()
    assert report.abandoned and report.generation is None
    assert describe_index(tmp_path / "idx").generation == 1
    assert [f.etag for f in watcher.feeds()] == [None, None]  # nothing learnt: the next round fetches in full


def test_feed_lists_name_urls_one_a_line(tmp_path: Path) -> None:
    listing = tmp_path / "feeds.txt"
    listing.write_text("# newsroom feeds\nhttps://a.example/rss\n\nhttps://b.example/atom.xml  # wire\n")
    assert feed_urls([str(listing), "https://a.example/rss", "https://c.example/feed"]) == [
        "https://a.example/rss",
        "https://b.example/atom.xml",
        "https://c.example/feed",
    ]
    listing.write_text("https://a.example/rss\nftp://b.example/feed\n")
    with pytest.raises(Exception, match=r"feeds\.txt, line 2: 'ftp://b\.example/feed' is not an http\(s\) URL"):
        feed_urls([str(listing)])
    with pytest.raises(Exception, match="neither an http"):
        feed_urls([str(tmp_path / "nothing.txt")])


def test_the_watch_state_lives_beside_the_index(tmp_path: Path) -> None:
    local = Settings(index_dir=tmp_path / "idx")
    assert watch_folder(None, local) == tmp_path / "idx" / "watch"
    assert watch_folder(f"milvus-lite:{tmp_path / 'm.db'}", local) == Path(f"{tmp_path / 'm.db'}.watch")
    assert watch_folder("milvus://db.example:19530/news", local) == local.corpus_dir / ".watch-news"
    assert not WatchState.exists(tmp_path / "idx" / "watch")


def test_a_rebuild_from_a_corpus_does_not_lose_the_feeds_articles_for_good(site: FeedSite, tmp_path: Path) -> None:
    """A rebuild keeps only its corpus: the next round sees the feed's published entries are gone, fetches the
    feed whole (a 304 would not bring them back) and sends them again."""
    from assistant import build_index

    site.put("/atom.xml", atom(site, entries=2))
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=FakeEmbedder())
    watcher.add_feeds([site.url("/atom.xml")])
    watcher.round()
    assert watcher.round(every_feed=True).generation is None  # 304: nothing sent
    build_index([Path(__file__).parents[1] / "corpus"], tmp_path / "idx", embedder=FakeEmbedder())
    assert "tag:touchnokia.ru,2009://1.814" not in article_ids(tmp_path / "idx")
    report = watcher.round(every_feed=True)
    assert "If-None-Match" not in site.hits("/atom.xml")[-1].headers
    assert len(report.added) == 2 and "tag:touchnokia.ru,2009://1.814" in article_ids(tmp_path / "idx")
    assert watcher.round(every_feed=True).feeds[0].not_modified  # and conditional again once they are back


def test_a_feeds_ttl_holds_it_back_longer_than_the_round_interval(site: FeedSite, tmp_path: Path) -> None:
    site.put("/wire.rss", site.feed("summaries.rss", ttl="60"))  # an hour, against rounds every 15 minutes
    watcher = Watcher(tmp_path / "idx", settings=settings(), embedder=FakeEmbedder())
    watcher.add_feeds([site.url("/wire.rss")])
    now = time.time()
    feed_rounds.run_round(tmp_path / "idx", settings=watcher.settings, embedder=FakeEmbedder(), now=now)
    assert watcher.feeds()[0].next_due == pytest.approx(now + 3600)
    # Not modified later: the ttl read before still holds (a 304 does not repeat it).
    feed_rounds.run_round(tmp_path / "idx", settings=watcher.settings, now=now + 3601)
    assert site.hits("/wire.rss")[-1].headers.get("If-None-Match")
    assert watcher.feeds()[0].next_due == pytest.approx(now + 3601 + 3600)

"""Watched questions, and `assistant watch` as a user runs it: asked again after updates, a change reported with
then and now, stored beside the index; the command's rounds over loopback feeds, its listing, and its stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SEED, SEED_QUESTION
from durability import wait_for
from feedsite import FeedSite
from processes import child_env
from test_watch_feeds import atom

from assistant import Assistant, build_index, remove_articles, update_index
from assistant.cli import cli
from assistant.index.store import describe_index
from assistant.settings import Settings
from assistant.testing import HashingEmbedder
from assistant.watch.questions import Watchlist
from assistant.watch.records import CitedArticle, Snapshot


def test_a_watched_question_reports_a_new_source_and_a_removed_one(tmp_path: Path, real_embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (SEED, SEED.with_suffix(".meta.json")):
        shutil.copy(path, corpus / path.name)
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=real_embedder)
    low_bar = Settings(progress=False, reader_confidence=0.3)  # the one-article answer is held back by default
    with Assistant.open(index, embedder=real_embedder, settings=low_bar) as assistant:
        watched = Watchlist(index).add(assistant, SEED_QUESTION)
        assert watched.now.short == "23 billion yuan" and watched.then is None and len(watched.now.cited) == 1
        assert Watchlist(index).add(assistant, f"  {SEED_QUESTION} ").id == watched.id  # watched once
        assert Watchlist(index).recheck(assistant) == []  # same generation: nothing asked

        # A newer article on the same question: cited now, which is a change.
        (corpus / "alibaba-update.md").write_text(
            "---\ntitle: Alibaba raises its AI spending\ndate: 2026-11-30\nsource: Market Wire\n---\n\n"
            "Alibaba invested 41 billion yuan in AI in the first half of last year, the company said in a corrected "
            "filing on Friday, up from the 23 billion yuan it first reported.\n",
            encoding="utf-8",
        )
        update_index([corpus], index, embedder=real_embedder)
        (changed,) = Watchlist(index).recheck(assistant)
        assert changed.unseen and changed.then == watched.now and changed.now.generation == 2
        assert "newly cited: “Alibaba raises its AI spending” (Market Wire · 2026-11-30)" in changed.changes

        # Stored beside the index: a new Watchlist (a restart) sees the change; seen clears the badge only.
        again = Watchlist(index)
        (stored,) = again.questions()
        assert stored == changed
        again.seen(stored.id)
        assert not again.questions()[0].unseen and again.questions()[0].then == changed.then

        # Removing an article the answer cites is a change, said as a removal.
        (new,) = (c for c in stored.now.cited if c.title == "Alibaba raises its AI spending")
        assert remove_articles([new.article_id], index).removed == [new.article_id]
        (removed,) = Watchlist(index).recheck(assistant)
        assert (
            "no longer cited: “Alibaba raises its AI spending” (Market Wire · 2026-11-30) (removed from the index)"
            in (removed.changes)
        )


def test_a_reworded_answer_over_the_same_articles_is_not_a_change() -> None:
    cited = (CitedArticle("a", "Rates", "Finance Daily", "2024-03-05", None, "by a quarter point"),)
    before = Snapshot(1, "t1", "It rose by a quarter point [1].", "a quarter point", False, cited)
    after = Snapshot(2, "t2", "The bank raised it by a quarter point [1].", "A quarter point", False, cited)
    assert before.differences(after) == ()
    other = Snapshot(2, "t2", "x", "a quarter point", False, (*cited, CitedArticle("b", "More", None, None, None, "q")))
    assert other.differences(before) == ("no longer cited: “More”",)
    assert before.differences(other) == ("newly cited: “More”",)
    assert before.differences(Snapshot(2, "t2", "none", None, True, ())) == (
        "the direct answer changed: a quarter point → none",
        "the articles no longer answer it",
        "no longer cited: “Rates” (Finance Daily · 2024-03-05)",
    )


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite().running() as running:
        yield running


def cli_run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_assistant_watch_once_then_list_then_a_question(site: FeedSite, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_EMBEDDER", "assistant.testing:HashingEmbedder")
    index = tmp_path / "idx"
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"# our feeds\n{site.put('/atom.xml', atom(site, entries=2))}\n{site.url('/gone.xml')}\n")
    code, out, err = cli_run("watch", feeds, "--once", "--index", index)
    assert code == 0, err
    assert out.splitlines()[0].startswith("2 feeds fetched, 1 failed: 2 articles added, 0 changed (generation 1)")
    assert f"failed {site.url('/gone.xml')}: could not fetch" in out and "HTTP 404" in out

    code, out, _ = cli_run("watch", "--list", "--json", "--index", index)
    listed = json.loads(out)
    assert [(f["url"], f["articles_added"], bool(f["last_error"])) for f in listed["feeds"]] == [
        (site.url("/atom.xml"), 2, False),
        (site.url("/gone.xml"), 0, True),
    ]

    question = "Which program for the Nokia 5800 controls the light?"
    code, out, err = cli_run("watch", "--question", question, "--index", index)
    assert code == 0 and out.startswith(f"watching [1] {question} → "), (out, err)
    # The next round (the feeds remembered, not named again) adds entries; the question is asked again.
    site.put("/atom.xml", atom(site, entries=4, change="ZXLightControl now also dims the keyboard at night."))
    code, out, err = cli_run("watch", "--once", "--index", index)
    assert code == 0 and out.startswith("0 feeds fetched: 0 articles added"), err  # not due for 15 minutes
    code, out, err = cli_run("watch", "--once", "--force", "--index", index)
    assert code == 0, err
    assert "2 articles added, 1 changed" in out.splitlines()[0]
    assert describe_index(index).generation == 2
    code, out, _ = cli_run("watch", "--forget", "1", "--remove", site.url("/gone.xml"), "--list", "--index", index)
    assert code == 0 and "question [" not in out and "gone.xml" not in out


def test_the_every_option_reads_durations(tmp_path: Path) -> None:
    code, _, err = cli_run("watch", "--every", "soon", "--index", tmp_path / "idx", "--once")
    assert code == 2 and "write a duration such as 90s, 15m, 2h or 1d" in err
    code, _, err = cli_run("watch", "not-a-url-or-file", "--index", tmp_path / "idx")
    assert code == 2 and "neither an http(s) feed URL nor a file listing feed URLs" in err


def test_sigterm_while_fetching_stops_cleanly_and_keeps_the_last_generation(site: FeedSite, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    url = site.put("/atom.xml", atom(site, entries=2))

    def hanging() -> None:
        wait_for(lambda: index.exists() and _generation(index) == 1, timeout=120, proc=child)
        # The next round hangs on the feed: stopped there, it publishes nothing.
        site.put("/atom.xml", atom(site, entries=4), delay=3.0)
        asked = len(site.hits("/atom.xml"))
        wait_for(lambda: len(site.hits("/atom.xml")) > asked, timeout=120, proc=child)

    child = _child("watch", url, "--every", "1s", "--index", str(index), timeout="60")
    code, err = _signal_once(child, hanging)
    assert code == 0, err
    assert "SIGTERM: stopping" in err and "stopped; the index is on its last published generation" in err
    assert describe_index(index).generation == 1 and describe_index(index).articles == 2


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_stops_the_page_and_its_feed_round_cleanly(
    site: FeedSite, tmp_path: Path, stop: signal.Signals
) -> None:
    """`assistant serve --watch`: SIGTERM (a service manager) or Ctrl-C closes the page, abandons the round it was
    fetching and exits 0 on the last generation, even when it comes while the page is still starting (the round is
    fetching from the start, so it mostly does here)."""
    from loopback import free_port

    index = tmp_path / "idx"
    build_index([SEED], index, embedder=HashingEmbedder())
    url = site.put("/atom.xml", atom(site, entries=2), delay=5.0)  # the round is still fetching it
    port = str(free_port())
    child = _child("serve", "--index", str(index), "--port", port, "--watch", url, timeout="120")

    def fetching() -> None:
        wait_for(lambda: bool(site.hits("/atom.xml")), timeout=120, proc=child)

    code, err = _signal_once(child, fetching, stop)
    assert code == 0, err
    assert "feed round abandoned while fetching: nothing was written" in err
    assert describe_index(index).generation == 1


def _child(*args: str, timeout: str) -> subprocess.Popen[str]:
    """`assistant ARGS` in a child process with the hashing embedder and this feed timeout."""
    env = child_env(ASSISTANT_EMBEDDER="assistant.testing:HashingEmbedder", ASSISTANT_FEED_TIMEOUT=timeout)
    command = [sys.executable, "-m", "assistant", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_once(
    child: subprocess.Popen[str], ready: Callable[[], None], stop: signal.Signals = signal.SIGTERM
) -> tuple[int, str]:
    """``stop`` to ``child`` once ``ready`` returns; its exit code and stderr. Killed if it does not end."""
    try:
        ready()
        child.send_signal(stop)
        _, err = child.communicate(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


def _generation(index: Path) -> int | None:
    try:
        return describe_index(index).generation
    except Exception:
        return None

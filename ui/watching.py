"""The page's side of watching: feed rounds on a background thread while the page is up, the Library tab's feed
list, and the watched questions with a badge when their answer changed."""

from __future__ import annotations

import html
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from assistant import AssistantError, RoundReport, WatchedQuestion, Watcher
from assistant.documents import web_url
from assistant.watch.records import FeedStatus, Snapshot
from assistant.watch.state import WatchState, watch_folder
from assistant.watch.watcher import feed_urls

from .render import escaped

if TYPE_CHECKING:
    from assistant import Answer, Assistant, Settings

__all__ = ["PageWatch"]

logger = logging.getLogger(__name__)

FEED_HEADERS = ["feed", "title", "last fetched", "last error", "articles added"]


class Page(Protocol):
    """What watching needs of the page's service (:class:`~.service.ChatService`)."""

    settings: Settings
    index_dir: Path
    update_lock: threading.Lock

    @property
    def ready(self) -> bool: ...

    @property
    def assistant(self) -> Assistant: ...

    def refresh(self) -> None: ...


class PageWatch:
    """Feeds and watched questions for the page's index. ``start`` runs the rounds (every ``every`` seconds) once
    the index is ready; the feeds named by whoever started the server are trusted, the page's are not."""

    def __init__(
        self,
        service: Page,
        feeds: list[str] | None = None,
        every: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.service = service
        self.every = every or service.settings.watch_every
        self._watcher: Watcher | None = None
        self._made = threading.Lock()
        if feeds:
            self.watcher.add_feeds(feed_urls(feeds))
        # Given a stop signal's event, a round being fetched is abandoned as soon as the signal comes.
        self._stop = stop or threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_round: RoundReport | None = None

    @property
    def watcher(self) -> Watcher:
        """The watcher, made (with its folder beside the index) the first time something is watched: serving an
        index where nothing is watched leaves its folder as it was."""
        with self._made:
            if self._watcher is None:
                service = self.service
                self._watcher = Watcher(service.index_dir, settings=service.settings, lock=service.update_lock)
            return self._watcher

    @property
    def watching(self) -> bool:
        """Whether anything was ever watched for this index."""
        return self._watcher is not None or WatchState.exists(
            watch_folder(self.service.index_dir, self.service.settings)
        )

    def _feeds(self) -> list[FeedStatus]:
        return self.watcher.feeds() if self.watching else []

    # -- the rounds -------------------------------------------------------------------------------------
    def start(self) -> PageWatch:
        self._thread = threading.Thread(target=self._rounds, name="feed-rounds", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _rounds(self) -> None:
        while not self._stop.is_set():
            try:
                if self.service.ready and self._feeds():
                    self.fetch_now(every_feed=False)
            except Exception:  # a thread that dies stops every later round without a word: log it and go on
                logger.exception("feed round failed")
            self._wake.wait(self.every)
            self._wake.clear()

    def fetch_now(self, *, every_feed: bool = True) -> str:
        """One round now (the page's "Fetch now": every feed, due or not), then the watched questions re-asked."""
        try:
            self.watcher.attach(self.service.assistant)  # until the first build is done, the error saying so
            report = self.watcher.round(self._stop, every_feed=every_feed)
            self.last_round = report
            if report.generation is not None:
                self.service.refresh()
                self.watcher.recheck()
        except AssistantError as exc:
            logger.warning("feed round failed: %s", exc)
            return f"The round failed: {exc}"
        return report.line()

    # -- feeds ------------------------------------------------------------------------------------------
    def feed_rows(self) -> list[list[str]]:
        return [
            [f.url, f.title or "", f.last_fetched or "never", f.last_error or "", str(f.articles_added)]
            for f in self._feeds()
        ]

    def add_feed(self, url: str) -> str:
        url = url.strip()
        if not web_url(url):
            return "Not added: a feed is the http(s) URL of an RSS or Atom feed."
        added = self.watcher.add_feeds([url], trusted=False)
        self._wake.set()  # fetched in the next round, which starts now
        return f"Watching {url}; its articles arrive in a moment." if added else f"{url} is watched already."

    def remove_feed(self, url: str) -> str:
        removed = self.watching and self.watcher.remove_feed(url.strip())
        return f"Stopped watching {url} (its articles stay)." if removed else f"{url} is not watched."

    # -- questions --------------------------------------------------------------------------------------
    def watch(self, turns: list[Answer], sources: list[str] | None, since: str, until: str) -> str:
        """Watch the last answer's standalone question with the page's filters."""
        if not turns:
            return "Ask a question first, then watch it."
        try:
            watched = self.watcher.watchlist.add(
                self.service.assistant, turns[-1].query, sources=sources or (), since=since or None, until=until or None
            )
        except AssistantError as exc:
            return f"Not watched: {escaped(str(exc))}"
        return f"Watching “{escaped(watched.question)}”: the Watched tab shows when its answer changes."

    def questions(self) -> list[WatchedQuestion]:
        return self.watcher.watchlist.questions() if self.watching else []

    def badge(self) -> str:
        changed = sum(q.unseen for q in self.questions())
        if not changed:
            return ""
        s = "s" if changed > 1 else ""
        return f'<span class="watch-badge">● {changed} watched answer{s} changed: see the Watched tab</span>'

    def seen(self, choice: str) -> None:
        number = _number(choice)
        if number is not None:
            self.watcher.watchlist.seen(number)

    def forget(self, choice: str) -> None:
        number = _number(choice)
        if number is not None:
            self.watcher.watchlist.remove(number)

    def choices(self) -> list[str]:
        return [f"[{q.id}] {q.question}" + (" (changed)" if q.unseen else "") for q in self.questions()]

    def questions_html(self) -> str:
        """Every watched question: its answer now, and for one that changed, then and now side by side."""
        questions = self.questions()
        if not questions:
            return '<p class="watched-empty">No watched questions: ask one, then "Watch this question".</p>'
        return "".join(_question_html(q) for q in questions)


def _number(choice: str) -> int | None:
    head = choice.strip().removeprefix("[").split("]", 1)[0]
    return int(head) if head.isdigit() else None


def _question_html(question: WatchedQuestion) -> str:
    e = html.escape
    badge = '<span class="watch-badge">● changed</span> ' if question.unseen else ""
    head = f'<div class="watched" id="watched-{question.id}"><h4>{badge}[{question.id}] {e(question.question)}</h4>'
    if question.then is None:
        return head + f"{_snapshot_html('Now', question.now)}</div>"
    changes = "".join(f"<li>{e(change)}</li>" for change in question.changes)
    return (
        head
        + f'<p class="watched-when">Changed {e(_when(question.changed_at))}:</p>'
        + f'<ul class="watched-changes">{changes}</ul>'
        + '<div class="recheck-columns">'
        + _snapshot_html("Then", question.then)
        + _snapshot_html("Now", question.now)
        + "</div></div>"
    )


def _snapshot_html(heading: str, snapshot: Snapshot) -> str:
    e = html.escape
    short = snapshot.short or ("no answer in the articles" if snapshot.abstained else "no direct answer")
    cited = "".join(
        f"<li>{e(c.title or 'Untitled')} ({e(' · '.join(p for p in (c.source, c.date) if p))})"
        f"<blockquote>{e(c.quote)}</blockquote></li>"
        for c in snapshot.cited
    )
    title = f"{heading} (generation {snapshot.generation}, {_when(snapshot.asked_at)})"
    return f'<div class="recheck-column"><h4>{e(title)}</h4><p><b>{e(short)}</b></p><ul>{cited}</ul></div>'


def _when(stamp: str | None) -> str:
    """An ISO time in UTC as a reader reads it: 2026-12-06 02:37 UTC."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp and len(stamp) >= 16 else stamp or ""

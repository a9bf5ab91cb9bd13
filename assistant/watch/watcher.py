"""The watcher: feed rounds on a schedule, and the watched questions asked again after each one that published.

What ``assistant watch``, ``assistant serve --watch`` and a Python program run; each only says where the rounds'
reports go.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..answer.assistant import Assistant
from ..embed.base import Embedder
from ..errors import AssistantError, ConfigError, IndexNotFoundError
from ..settings import Settings, get_settings
from .feeds import run_round
from .questions import Watchlist
from .records import FeedStatus, RoundReport, WatchedQuestion

__all__ = ["Watcher", "feed_urls"]

logger = logging.getLogger(__name__)

RoundCallback = Callable[[RoundReport, list[WatchedQuestion]], None]


def feed_urls(names: Iterable[str]) -> list[str]:
    """Feed URLs from what a user named: URLs, and files listing one URL a line (# starts a comment)."""
    from ..documents import web_url

    urls: list[str] = []
    for name in names:
        if web_url(name.strip()):
            urls.append(name.strip())
            continue
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"{name}: neither an http(s) feed URL nor a file listing feed URLs")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if not web_url(line):
                raise ConfigError(f"{path}, line {number}: {line!r} is not an http(s) URL")
            urls.append(line)
    return list(dict.fromkeys(urls))


class Watcher:
    """Rounds over the watched feeds of one index, and its watched questions re-asked after each published round.

    ``assistant``: answer the questions with this one (the page's); otherwise one is opened once the index exists.
    ``lock``: held while a round writes, shared with other writers of the same process (the page's Library tab).
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        assistant: Assistant | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.settings = settings or get_settings()
        self.watchlist = Watchlist(index_dir, settings=self.settings)
        self.state = self.watchlist.state  # one state for the feeds and the questions
        self._embedder = embedder
        self._assistant = assistant
        self._owns_assistant = False
        self._lock = lock or threading.Lock()

    # -- what is watched --------------------------------------------------------------------------------
    def feeds(self) -> list[FeedStatus]:
        return self.state.feeds()

    def add_feeds(self, urls: Iterable[str], *, trusted: bool = True) -> list[str]:
        """Watch these feed URLs; the ones that were not watched yet. Named by whoever runs the program (the
        command line, a file), they are ``trusted`` to be on a private address; a page user's are not."""
        return [url for url in urls if self.state.add_feed(url, trusted=trusted)]

    def remove_feed(self, url: str) -> bool:
        return self.state.remove_feed(url)

    # -- rounds -----------------------------------------------------------------------------------------
    def round(self, stop: threading.Event | None = None, *, every_feed: bool = False) -> RoundReport:
        """One round over the due feeds (``every_feed``: all of them), published as one generation."""
        return run_round(
            self.index_dir,
            settings=self.settings,
            embedder=self._embedder or self._open_embedder,
            stop=stop,
            every_feed=every_feed,
            lock=self._lock,
        )

    def recheck(self) -> list[WatchedQuestion]:
        """Ask the watched questions again on the newest generation; the ones whose answer changed. Nothing is
        opened (no model loaded) while every question was last answered on the live generation."""
        from ..index.store import describe_index

        try:
            live = describe_index(self.index_dir, settings=self.settings).generation
        except AssistantError:
            return []  # no index yet: nothing to ask on
        if not self.watchlist.stale(live):
            return []
        assistant = self.assistant()
        return self.watchlist.recheck(assistant) if assistant is not None else []

    def run(self, stop: threading.Event, on_round: RoundCallback, *, every: float | None = None) -> None:
        """Rounds every ``every`` seconds (the settings' ``watch_every``) until ``stop`` is set; each round's report
        and the questions whose answer changed go to ``on_round``. A round that fails is logged; the next one
        comes all the same."""
        every = every or self.settings.watch_every
        while not stop.is_set():
            try:
                report = self.round(stop)
                on_round(report, self.recheck())  # a generation from this round or from elsewhere
            except AssistantError as exc:
                logger.warning("feed round failed: %s", exc)
            stop.wait(every)

    def attach(self, assistant: Assistant) -> None:
        """Answer the questions (and embed) with ``assistant`` from now on: one the caller owns and closes."""
        if self._owns_assistant and self._assistant is not None and self._assistant is not assistant:
            self._assistant.close()
        self._assistant, self._owns_assistant = assistant, False

    def assistant(self) -> Assistant | None:
        """The assistant the questions are asked with: the one given, or one opened over the index (None while
        there is no index yet)."""
        if self._assistant is None:
            try:
                self._assistant = Assistant.open(self.index_dir, settings=self.settings, embedder=self._embedder)
            except IndexNotFoundError:
                return None
            self._owns_assistant = True
        return self._assistant

    def close(self) -> None:
        if self._owns_assistant and self._assistant is not None:
            self._assistant.close()
            self._assistant = None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_embedder(self) -> Embedder:
        """The model a round embeds with: the assistant's when one is open (never a second copy), else loaded once."""
        if self._assistant is not None:
            return self._assistant.retriever.embedder
        from ..embed.factory import embedder_from_settings

        self._embedder = embedder_from_settings(self.settings)
        return self._embedder

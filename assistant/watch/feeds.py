"""One round over the watched feeds: fetch the due ones, keep what is new or changed, publish one generation.

A round reads every due feed (conditionally: ETag / If-Modified-Since), one request at a time per host and a few
hosts at once; an entry with only a summary gets its linked page's text through the same guarded fetch. Each entry
is kept as a JSON file in the watch folder, and the new and changed ones go through the one writer
(:func:`~assistant.indexing.update.update_index`) in a single update: one generation per round. A feed that fails
is reported with its reason and retried later with a doubling wait; it never stops the others. A stop asked for
while fetching abandons the round before anything is written; the feeds' state (validators, what was published) is
saved only once the generation is live, so a round that dies is fetched again in full.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from ..documents import web_url
from ..embed.base import Embedder
from ..errors import AssistantError, FetchError, InputError
from ..ingest.draft import Draft, one_line
from ..ingest.feeds import read_feed
from ..ingest.webpage import parse_html
from ..settings import Settings, get_settings
from ..web.fetch import Fetched, fetch
from .records import FeedOutcome, FeedStatus, RoundReport
from .state import WatchState, utc_now, watch_folder

__all__ = ["Held", "run_round"]

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """A stop was asked for while the round was fetching: nothing is written."""


@dataclass(frozen=True)
class _Entry:
    """A feed entry ready to be written as an article file."""

    path: Path
    feed: str
    article_id: str
    digest: str  # of the entry as the feed gave it: unchanged entries are not fetched or written again
    record: dict[str, str]


class _Published:
    """The entries as last published, read once per round: each file's digest, and each feed's article ids."""

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        self.digests = {path: digest for path, _, _, digest in rows}
        self.ids: dict[str, set[str]] = defaultdict(set)
        for _, feed, article_id, _ in rows:
            self.ids[feed].add(article_id)


class _Hosts:
    """One request at a time per host, whichever feed or page it is for."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def lock(self, url: str) -> threading.Lock:
        host = urlsplit(url).hostname or ""
        with self._guard:
            return self._locks.setdefault(host, threading.Lock())


def run_round(
    index_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    stop: threading.Event | None = None,
    now: float | None = None,
    every_feed: bool = False,
    lock: threading.Lock | None = None,
) -> RoundReport:
    """Fetch the watched feeds that are due (``every_feed``: all of them), add their new and changed entries to the
    index in one generation, and store what each feed did. ``stop`` abandons the round while it is fetching.
    ``embedder`` may be a function that loads one: called only when the round has something to embed. ``lock`` is
    held while the round writes (not while it fetches), shared with the process's other writers."""
    settings = settings or get_settings()
    started = time.perf_counter()
    clock = time.time() if now is None else now
    state = WatchState.open(watch_folder(index_dir, settings))
    due = [feed for feed in state.feeds() if every_feed or feed.next_due <= clock]
    stop = stop or threading.Event()
    try:
        fetched = _fetch_all(due, state, Held.of(index_dir, settings), settings, stop)
        if stop.is_set():
            raise _Stopped
    except _Stopped:
        logger.warning("feed round abandoned while fetching: nothing was written")
        return RoundReport((), abandoned=True, seconds=time.perf_counter() - started)
    outcomes = [outcome for outcome, _ in fetched]
    entries = [entry for _, found in fetched for entry in found]
    with lock or threading.Lock():
        report = _publish(entries, outcomes, state, index_dir, settings, embedder)
    state.save_feeds(_next_states(due, report, settings, clock))
    report = replace(report, seconds=time.perf_counter() - started)
    logger.info("feeds: %s", report.line())
    return report


# -- fetching --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Held:
    """What the index holds and what was removed from it on purpose, by article id (the watched questions read the
    removals too: a cited article removed is said as such).

    An entry published earlier is sent again when its article is gone (the index was rebuilt from a corpus
    meanwhile), and its feed fetched whole for it; one removed with ``index remove`` is not (see :func:`_publish`).
    """

    indexed: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, index_dir: str | Path | None, settings: Settings, *, listed: bool = True) -> Held:
        """Both sets; the removals alone without ``listed`` (the index's articles are not listed then)."""
        from ..index.store import describe_index

        try:
            described = describe_index(index_dir, with_articles=listed, settings=settings)
        except AssistantError:
            return cls()  # no index yet: every entry is sent
        articles = described.article_list or ()
        return cls(frozenset(a.id for a in articles), frozenset(r.id for r in described.removed))


def _fetch_all(
    due: list[FeedStatus], state: WatchState, held: Held, settings: Settings, stop: threading.Event
) -> list[tuple[FeedOutcome, list[_Entry]]]:
    """Every due feed's outcome and entries: a lane per host, a few lanes at once."""
    by_host: dict[str, list[FeedStatus]] = defaultdict(list)
    for feed in due:
        by_host[urlsplit(feed.url).hostname or ""].append(feed)
    hosts = _Hosts()
    published = _Published(state.published())

    def lane(feeds: list[FeedStatus]) -> list[tuple[FeedOutcome, list[_Entry]]]:
        return [_read_feed(feed, state, published, held, settings, hosts, stop) for feed in feeds]

    if not by_host:
        return []
    with ThreadPoolExecutor(max_workers=min(settings.feed_hosts_at_once, len(by_host))) as pool:
        lanes = [pool.submit(lane, feeds) for feeds in by_host.values()]
        results = [lane_result.result() for lane_result in lanes]  # re-raises _Stopped
    return [found for lane_results in results for found in lane_results]


def _get(
    url: str,
    hosts: _Hosts,
    stop: threading.Event,
    settings: Settings,
    *,
    allow_private: bool,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """One GET, once its host is free; none once a stop was asked for."""
    if stop.is_set():
        raise _Stopped
    with hosts.lock(url):
        return fetch(
            url,
            settings.max_file_bytes,
            allow_private=allow_private,
            etag=etag,
            last_modified=last_modified,
            timeout=settings.feed_timeout,
        )


def _read_feed(
    feed: FeedStatus,
    state: WatchState,
    published: _Published,
    held: Held,
    settings: Settings,
    hosts: _Hosts,
    stop: threading.Event,
) -> tuple[FeedOutcome, list[_Entry]]:
    """One feed: fetched, read, and its entries that differ from what was published (pages fetched for those)."""
    started = time.perf_counter()
    lost = published.ids.get(feed.url, set()) - held.indexed - held.removed
    try:
        fetched = _get(
            feed.url,
            hosts,
            stop,
            settings,
            allow_private=feed.trusted or settings.ui_fetch_private,
            etag=None if lost else feed.etag,  # a "not modified" would not bring the lost articles back
            last_modified=None if lost else feed.last_modified,
        )
        if fetched.not_modified:
            return FeedOutcome(feed.url, True, True, etag=fetched.etag, last_modified=fetched.last_modified), []
        document = read_feed(fetched.body, allow_empty=True)
    except FetchError as exc:
        logger.warning("feed %s failed: %s", feed.url, exc)
        return FeedOutcome(feed.url, False, error=str(exc), retry_after=exc.retry_after), []
    except InputError as exc:
        logger.warning("feed %s cannot be read: %s", feed.url, exc.reason)
        return FeedOutcome(feed.url, False, error=f"cannot be read as a feed: {exc.reason}"), []
    readable = [item for item in document.entries if isinstance(item, Draft) and item.text]
    if document.problem and not readable:
        logger.warning("feed %s is not well-formed XML: %s", feed.url, document.problem)
        return FeedOutcome(feed.url, False, error=f"not well-formed XML: {document.problem}"), []
    warnings = [f"not well-formed XML, read as far as possible: {document.problem}"] if document.problem else []
    entries: list[_Entry] = []
    folder = state.entries / _key(feed.url, 12)
    for item in document.entries:
        if isinstance(item, InputError):
            warnings.append(item.reason)
            continue
        entry = _entry(item, feed.url, folder)
        if published.digests.get(str(entry.path)) == entry.digest and entry.article_id in held.indexed:
            continue  # published as it is, and still there: nothing to fetch or write
        entries.append(_with_page(entry, item, settings, hosts, stop, warnings))
    outcome = FeedOutcome(
        feed.url,
        True,
        entries=len(document.entries),
        ttl_minutes=document.ttl_minutes,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        title=document.title,
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
    )
    return outcome, entries


def _key(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _entry(draft: Draft, feed: str, folder: Path) -> _Entry:
    """The article file for one entry: its id is the entry's own (guid, id), else its link, else its content."""
    url = web_url(draft.url)
    article_id = draft.id or url or "sha256:" + _key(f"{draft.title}\n{draft.text}", 16)
    record = {
        "id": article_id,
        "title": draft.title or "",
        "text": draft.text,
        "date": draft.date or "",
        "source": draft.source or "",
        "url": url or "",
        "author": draft.author or "",
    }
    record = {key: value for key, value in record.items() if value or key == "text"}
    digest = _key(json.dumps(record, sort_keys=True, ensure_ascii=False), 32)
    return _Entry(folder / f"{_key(article_id, 24)}.json", feed, article_id, digest, record)


def _with_page(
    entry: _Entry, draft: Draft, settings: Settings, hosts: _Hosts, stop: threading.Event, warnings: list[str]
) -> _Entry:
    """An entry with only a summary takes its linked page's text (fetched with the guard: a feed is not trusted to
    point the server at internal addresses); when the page cannot be read, the summary is kept and said so."""
    url = entry.record.get("url")
    if not draft.summary_only or not url:
        return entry
    try:
        fetched = _get(url, hosts, stop, settings, allow_private=settings.ui_fetch_private)
        page = parse_html(fetched.body)
    except (FetchError, InputError) as exc:
        warnings.append(f"entry {draft.entry}: its page could not be read ({one_line(exc)}); the summary is indexed")
        return entry
    if len(page.text) <= len(draft.text):
        return entry
    record = {**entry.record, "text": page.text}
    if "date" not in record and page.date:
        record["date"] = page.date
    return replace(entry, record=record)


# -- publishing ------------------------------------------------------------------------------------------------
def _publish(
    entries: list[_Entry],
    outcomes: list[FeedOutcome],
    state: WatchState,
    index_dir: str | Path | None,
    settings: Settings,
    embedder: Embedder | Callable[[], Embedder] | None,
) -> RoundReport:
    """Write the entries' files and send them to the index in one update; an entry removed from the index with
    ``assistant index remove`` is not brought back."""
    from ..indexing.update import update_index

    if not entries:
        return RoundReport(tuple(outcomes))
    # Asked again: a removal may have come while the round fetched.
    removed = Held.of(index_dir, settings, listed=False).removed
    sent = [entry for entry in entries if entry.article_id not in removed]
    if not sent:
        return RoundReport(tuple(outcomes))
    for entry in sent:
        _write(entry.path, entry.record)
    try:
        model = embedder() if callable(embedder) else embedder
        summary = update_index([e.path for e in sent], index_dir, prune=False, settings=settings, embedder=model)
    except AssistantError as exc:
        logger.warning("feed round not written: %s", exc)
        return RoundReport(tuple(outcomes), error=str(exc))
    state.save_published([(str(e.path), e.feed, e.article_id, e.digest) for e in sent])
    added, touched = set(summary.added), set(summary.added) | set(summary.changed)
    per_feed: dict[str, list[str]] = defaultdict(list)
    for entry in sent:
        if entry.article_id in touched:
            per_feed[entry.feed].append(entry.article_id)
    outcomes = [
        replace(o, new_or_changed=tuple(per_feed[o.url]), added=sum(i in added for i in per_feed[o.url]))
        for o in outcomes
    ]
    return RoundReport(
        tuple(outcomes),
        added=tuple(summary.added),
        changed=tuple(summary.changed),
        generation=summary.generation if summary.published else None,
        skipped=tuple(s.describe() for s in summary.skipped),
    )


def _write(path: Path, record: dict[str, str]) -> None:
    """Replace the file whole: a reader (or a crash) never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(partial, path)


def _next_states(due: list[FeedStatus], report: RoundReport, settings: Settings, clock: float) -> list[FeedStatus]:
    """Each fetched feed's state after the round: validators and counts once published, or its error and the
    doubled wait. When the round could not be written, a feed that was read is due again at once, unvalidated."""
    outcomes = {outcome.url: outcome for outcome in report.feeds}
    stamped = utc_now()
    states = []
    for feed in due:
        outcome = outcomes.get(feed.url)
        if outcome is None:
            continue
        if not outcome.ok:
            failures = feed.failures + 1
            wait = min(settings.watch_every * 2 ** (failures - 1), settings.feed_max_backoff)
            wait = max(wait, outcome.retry_after or 0.0)
            states.append(replace(feed, last_error=outcome.error, failures=failures, next_due=clock + wait))
        elif report.error is not None:
            states.append(replace(feed, last_error=f"read, but not written: {report.error}", next_due=clock))
        else:
            ttl_minutes = feed.ttl_minutes if outcome.not_modified else outcome.ttl_minutes
            states.append(
                replace(
                    feed,
                    etag=outcome.etag,
                    last_modified=outcome.last_modified,
                    last_fetched=stamped,
                    last_error=None,
                    failures=0,
                    next_due=clock + max(settings.watch_every, (ttl_minutes or 0) * 60.0),
                    articles_added=feed.articles_added + outcome.added,
                    title=outcome.title or feed.title,
                    ttl_minutes=ttl_minutes,
                )
            )
    return states

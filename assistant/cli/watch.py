"""``assistant watch``: feeds that update the index on their own, and questions whose changed answers are printed.

Rounds go to stdout (a line each, or a JSON object each with --json); logs and the stop message to stderr.
"""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigError
from ..settings import get_settings
from .options import emit, errors, index_option, json_option

if TYPE_CHECKING:
    from ..watch.records import FeedStatus, RoundReport, WatchedQuestion

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: str | None) -> float | None:
    """Seconds from "90", "90s", "15m", "2h" or "1d"."""
    if value is None:
        return None
    found = _DURATION.match(value.lower())
    if not found or float(found[1]) <= 0:
        raise ConfigError(f"--every {value!r}: write a duration such as 90s, 15m, 2h or 1d")
    return float(found[1]) * _UNIT[found[2]]


@click.command("watch")
@click.argument("feeds", nargs=-1)
@click.option("--every", default=None, help="Time between rounds, e.g. 15m (default: ASSISTANT_WATCH_EVERY, 15 min).")
@click.option("--once", is_flag=True, help="One round over the due feeds, then exit (for cron).")
@click.option("--force", is_flag=True, help="With --once: fetch every feed, even those not due (ttl, backoff).")
@click.option("--question", "questions", multiple=True, help="Watch this question (repeatable).")
@click.option("--remove", "removals", multiple=True, help="Stop watching this feed URL (repeatable).")
@click.option("--forget", "forgotten", multiple=True, type=int, help="Stop watching the question with this number.")
@click.option("--list", "listing", is_flag=True, help="List the watched feeds and questions, then exit.")
@index_option
@json_option
@errors
def watch(
    feeds: tuple[str, ...],
    every: str | None,
    once: bool,
    force: bool,
    questions: tuple[str, ...],
    removals: tuple[str, ...],
    forgotten: tuple[int, ...],
    listing: bool,
    index_dir: Path | None,
    as_json: bool,
) -> None:
    """Keep the index up to date from FEEDS (RSS/Atom URLs, or files listing one URL a line), and print when the
    answer to a watched question changes.

    Feeds and questions are remembered in the index's watch folder: later runs need not name them again
    (`assistant watch` alone watches the remembered feeds; --question, --remove and --forget alone only change what
    is watched). Runs rounds until stopped (Ctrl-C or SIGTERM: a round being fetched is abandoned, one being
    written is finished, and the index stays on its last generation either way).
    """
    from ..watch.watcher import Watcher, feed_urls

    settings = get_settings(index_dir=index_dir, watch_every=duration(every))
    seconds = settings.watch_every
    with Watcher(settings.index_dir, settings=settings) as watcher:
        watcher.add_feeds(feed_urls(feeds))
        for url in removals:
            if not watcher.remove_feed(url):
                raise ConfigError(f"--remove {url}: this feed is not watched (see assistant watch --list)")
        for number in forgotten:
            if not watcher.watchlist.remove(number):
                raise ConfigError(f"--forget {number}: no watched question has this number")
        for question in questions:
            assistant = watcher.assistant()
            if assistant is None:
                raise ConfigError("--question needs an index to answer it: build one, or name feeds to watch first")
            _print_question(watcher.watchlist.add(assistant, question), as_json, "watching")
        if listing:
            _print_list(watcher.feeds(), watcher.watchlist.questions(), as_json)
            return
        if (questions or removals or forgotten) and not (feeds or once):
            return  # only a change to what is watched: the rounds are another run's (or the page's)
        if not watcher.feeds():
            for changed in watcher.recheck():
                _print_question(changed, as_json, "changed")
            if not (questions or removals or forgotten):
                click.echo("no feeds are watched: name one, e.g. assistant watch https://example.org/rss", err=True)
            return

        def report(result: RoundReport, changed: list[WatchedQuestion]) -> None:
            _print_round(result, as_json)
            for question in changed:
                _print_question(question, as_json, "changed")

        if once:
            result = watcher.round(every_feed=force)
            report(result, watcher.recheck())
            return
        stop = _stop_on_signals()
        click.echo(f"watching {len(watcher.feeds())} feeds every {seconds:g} s; Ctrl-C stops", err=True)
        watcher.run(stop, report, every=seconds)
        click.echo("stopped; the index is on its last published generation", err=True)


def _stop_on_signals() -> threading.Event:
    """An event set by the first SIGTERM or Ctrl-C (the round in hand ends cleanly); a second one interrupts."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo(f"{signal.Signals(signum).name}: stopping after this round's fetch or write", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _print_round(result: RoundReport, as_json: bool) -> None:
    if as_json:
        emit({"round": result.to_dict()})
        return
    click.echo(result.line())
    for outcome in result.feeds:
        if not outcome.ok:
            click.echo(f"  failed {outcome.url}: {outcome.error}")
        elif outcome.new_or_changed:
            click.echo(f"  {outcome.url}: {len(outcome.new_or_changed)} new or changed ({outcome.added} new)")
        for warning in outcome.warnings:
            click.echo(f"  warning {outcome.url}: {warning}")
    for skipped in result.skipped:
        click.echo(f"  skipped {skipped}")


def _print_question(question: WatchedQuestion, as_json: bool, what: str) -> None:
    if as_json:
        emit({what: question.to_dict()})
        return
    answer = question.now.short or ("no answer in the articles" if question.now.abstained else question.now.text)
    click.echo(f"{what} [{question.id}] {question.question} → {answer} (generation {question.now.generation})")
    for change in question.changes if what == "changed" else ():
        click.echo(f"  {change}")


def _print_list(feeds: list[FeedStatus], questions: list[WatchedQuestion], as_json: bool) -> None:
    if as_json:
        emit({"feeds": [_feed_dict(f) for f in feeds], "questions": [q.to_dict() for q in questions]})
        return
    for feed in feeds:
        state = f"error: {feed.last_error}" if feed.last_error else f"fetched {feed.last_fetched or 'never'}"
        click.echo(f"feed {feed.url} — {state}; {feed.articles_added} articles added")
    for question in questions:
        badge = " (changed)" if question.unseen else ""
        click.echo(f"question [{question.id}]{badge} {question.question} → {question.now.short or '–'}")


def _feed_dict(feed: FeedStatus) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(feed)

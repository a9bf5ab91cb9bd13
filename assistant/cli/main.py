"""The ``assistant`` command group, and the page's ``serve`` command."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from ..settings import get_settings
from .index import index
from .options import errors, index_option
from .questions import ask, evaluate, search
from .watch import duration, watch


@click.group()
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-vv for debug).")
@click.version_option(package_name="newsqa-assistant")
def cli(verbose: int) -> None:
    """Ask questions of news articles and get answers you can check, offline."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface; others need ASSISTANT_UI_AUTH.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Update the index from this folder of articles first (building it on first start); "
    "without it the index is served unchanged.",
)
@click.option(
    "--watch",
    "feeds",
    multiple=True,
    help="Watch these feeds while the page is up: an RSS/Atom URL, or a file listing one a line (repeatable).",
)
@click.option("--every", default=None, help="Time between feed rounds, e.g. 15m (default: ASSISTANT_WATCH_EVERY).")
@index_option
@errors
def serve(
    host: str, port: int, corpus_dir: Path | None, feeds: tuple[str, ...], every: str | None, index_dir: Path | None
) -> None:
    """Open the chat page at http://HOST:PORT over the index (with --corpus, updated from that folder first; with
    --watch, fetching feeds into it)."""
    try:
        from assistant_ui.app import serve as run
    except ImportError as exc:
        raise ConfigError(f"the chat page needs gradio and the assistant_ui package: pip install -e . ({exc})") from exc
    settings = get_settings(index_dir=index_dir, corpus_dir=corpus_dir)
    if feeds:
        from ..watch.watcher import feed_urls

        feed_urls(feeds)  # a wrong file or URL is refused before the page starts
    run(settings, corpus=corpus_dir, host=host, port=port, watch=list(feeds), every=duration(every))


for command in (index, search, ask, evaluate, serve, watch):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="assistant")

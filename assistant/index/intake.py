"""Articles read, cleaned and chunked in a thread of their own, so that embedding never waits for the next batch."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue
from typing import Any

from ..documents import Article, Chunk, Skipped
from ..ingest.duplicates import newest_versions
from ..ingest.loading import load_file, path_id
from ..settings import Settings
from .chunking import chunk_article

__all__ = ["FileRead", "Item", "chunked_articles"]

Item = tuple[Article, list[Chunk], str, str]
"""An article read from a file, with its chunks, its resolved file and the root it was found under."""


@dataclass(frozen=True)
class FileRead:
    """A file read to its end: what kept it from being read cleanly (``problems``), and its older versions."""

    file: str
    problems: list[Skipped]
    superseded: list[Skipped]


def chunked_articles(
    pairs: Sequence[tuple[Path, Path]],
    settings: Settings,
    kept_ids: dict[str, str],
    warnings: list[Skipped],
    queued: int = 1024,
) -> Iterator[Item | FileRead]:
    """Each file's articles with their chunks, then its :class:`FileRead`, in input order.

    The work runs in a producer thread, at most ``queued`` articles ahead; the model releases the interpreter lock
    while it computes, so reading and embedding overlap. A file indexed before keeps its id, whichever parent folder
    is named this time (``kept_ids``: file → id). Of one file's records sharing an id (an export's versions of a
    story), the newest is kept. An error in the producer is raised here, in the consumer.
    """
    queue: Queue[tuple[str, Any]] = Queue(maxsize=queued)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(Full):
                queue.put(message, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for folder, path in pairs:
                articles, problems = load_file(path, folder, max_bytes=settings.max_file_bytes, warnings=warnings)
                file, root = str(path.resolve()), str(folder.resolve())
                known, anchor = kept_ids.get(file), path_id(path, folder)
                if known:
                    articles = [dataclasses.replace(a, id=known) if a.id == anchor else a for a in articles]
                articles, superseded = newest_versions(articles)
                for article in articles:
                    chunks = chunk_article(article, size=settings.chunk_size, overlap=settings.chunk_overlap)
                    if not put(("item", (article, chunks, file, root))):
                        return
                if not put(("file", FileRead(file, problems, superseded))):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it as its own
            put(("error", exc))

    thread = threading.Thread(target=produce, name="read-articles", daemon=True)
    thread.start()
    try:
        while True:
            kind, payload = queue.get()
            if kind == "error":
                raise payload
            if kind == "done":
                return
            yield payload
    finally:
        stop.set()
        thread.join(timeout=5)

"""Articles read, cleaned and chunked in a thread of their own, so that embedding never waits for the next batch."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

from ..documents import Article, Chunk, Skipped
from ..ingest.duplicates import newest_versions
from ..ingest.loading import load_file, path_id
from ..settings import Settings
from .chunking import chunk_article

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FileRead", "Item", "chunked_articles", "read_file"]


@dataclass(frozen=True)
class Item:
    """An article read from a file, with its chunks, its resolved file and the root it was found under, and the
    chunks' vectors when they were embedded where it was read (distributed ingestion), else None."""

    article: Article
    chunks: list[Chunk]
    file: str
    root: str
    vectors: np.ndarray | None = None


@dataclass(frozen=True)
class FileRead:
    """A file read to its end: what kept it from being read cleanly (``problems``), its older versions, and what
    was ignored in the articles indexed from it (``warnings``)."""

    file: str
    problems: list[Skipped]
    superseded: list[Skipped]
    warnings: list[Skipped] = field(default_factory=list)


def read_file(folder: Path, path: Path, settings: Settings, kept_ids: Mapping[str, str]) -> Iterator[Item | FileRead]:
    """The articles of one file with their chunks (chunked as they are taken), then its :class:`FileRead`.

    A file indexed before keeps its id, whichever parent folder is named this time (``kept_ids``: file → id). Of
    one file's records sharing an id (an export's versions of a story), the newest is kept.
    """
    warnings: list[Skipped] = []
    articles, problems = load_file(path, folder, max_bytes=settings.max_file_bytes, warnings=warnings)
    file, root = str(path.resolve()), str(folder.resolve())
    known, anchor = kept_ids.get(file), path_id(path, folder)
    if known:
        articles = [dataclasses.replace(a, id=known) if a.id == anchor else a for a in articles]
    articles, superseded = newest_versions(articles)
    for article in articles:
        chunks = chunk_article(article, size=settings.chunk_size, overlap=settings.chunk_overlap)
        yield Item(article, chunks, file, root)
    yield FileRead(file, problems, superseded, warnings)


def chunked_articles(
    pairs: Sequence[tuple[Path, Path]],
    settings: Settings,
    kept_ids: Mapping[str, str],
    queued: int = 1024,
) -> Iterator[Item | FileRead]:
    """Each file's articles with their chunks (:func:`read_file`), then its :class:`FileRead`, in input order.

    The work runs in a producer thread, at most ``queued`` articles ahead; the model releases the interpreter lock
    while it computes, so reading and embedding overlap. An error in the producer is raised here, in the consumer.
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
                for event in read_file(folder, path, settings, kept_ids):
                    if not put(("event", event)):
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

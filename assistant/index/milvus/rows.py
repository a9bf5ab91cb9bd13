"""An article and its passages as the Milvus writer stores them, and a live article or a removal read back.

What Milvus stores is what the checksum covers: text fields are cut to its VARCHAR size (:func:`.connection.fit`)
before the checksum is taken. A passage's words are stored analyzed (the index's own analyzer), its title's words
counted ``TITLE_WEIGHT`` times as in the local store's postings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...documents import Article, Chunk
from ..analyzer import TITLE_WEIGHT, analyze
from ..ids import day_number
from ..records import ArticleRecord, Removal, row_hash
from ..writing import utc_now
from .connection import ARTICLE_TEXT_FIELDS, UNUSED, fit
from .reader import signed

__all__ = ["Stored", "record_of", "removal_of"]


@dataclass(frozen=True)
class Stored:
    """One article being written: uid ``uid`` (its passages take the uids after it), outlet code ``code``."""

    article: Article
    file: str | None
    root: str | None
    uid: int
    code: int
    generation: int

    def article_row(self, chunks: int) -> dict[str, Any]:
        a = self.article
        values = {
            "id": a.id, "title": fit(a.title), "date": a.date, "source": fit(a.source), "url": fit(a.url),
            "author": fit(a.author), "origin": fit(a.origin), "file": fit(self.file), "root": fit(self.root),
            "content_hash": a.content_hash, "copy_hash": a.copy_hash, "indexed_at": utc_now(),
        }  # fmt: skip
        row: dict[str, Any] = {name: values[name] or "" for name in ARTICLE_TEXT_FIELDS}
        day = day_number(a.day) if a.day else 0
        return row | {"uid": self.uid, "day": day, "gen": self.generation, "chunks": chunks, "unused": UNUSED}

    def passage_rows(self, chunks: list[Chunk], vectors: np.ndarray) -> Iterator[dict[str, Any]]:
        a = self.article
        title, source, url = fit(a.title), fit(a.source), fit(a.url)
        title_words = " ".join(analyze(title))
        for offset, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True), start=1):
            # The passage's own words first, then the title's, counted TITLE_WEIGHT times.
            words = fit(" ".join([" ".join(analyze(chunk.text)), *[title_words] * TITLE_WEIGHT]))
            digest = row_hash(
                chunk.text, chunk.start, chunk.end, chunk.ordinal, a.id, title, a.date, source or None, url or None
            )
            yield {
                "uid": self.uid + offset, "chunk_id": chunk.id, "article_uid": self.uid, "article_id": a.id,
                "ordinal": chunk.ordinal, "start": chunk.start, "end": chunk.end, "text": chunk.text, "title": title,
                "date": a.date or "", "source": source, "url": url, "source_code": self.code,
                "gen": self.generation, "hash": signed(digest), "words": words,
                "vector": [float(x) for x in np.asarray(vector, dtype=np.float32)],
            }  # fmt: skip


def record_of(row: dict[str, Any]) -> ArticleRecord:
    """A live article as read from the articles collection (an empty text field is a missing value)."""
    return ArticleRecord(
        uid=int(row["uid"]), id=row["id"], title=row["title"] or "", url=row["url"],
        content_hash=row["content_hash"], copy_hash=row["copy_hash"], file=row["file"], root=row["root"],
        origin=row["origin"],
    )  # fmt: skip


def removal_of(item: dict[str, Any]) -> Removal:
    """A remembered removal as its meta row's value holds it."""
    return Removal(item["id"], item.get("title"), item.get("file"), item.get("origin"), item["removed_at"])

"""Splitting cleaned articles into passages that fit the embedder's window, with exact offsets."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from .documents import Article, Chunk

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

logger = logging.getLogger(__name__)

SPLITTER_NAME = "langchain.RecursiveCharacterTextSplitter"

# Paragraphs first, then sentences, then clauses: a chunk boundary inside a sentence is the last resort.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ": ", ", ", " ", ""]


@lru_cache(maxsize=8)
def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=min(overlap, size // 2),
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


DAY_SHIFT = 40  # chunk ids carry their article's day above this bit, the hash below it


def day_number(day: str | None) -> int:
    """Days since 0001-01-01 for an ISO day; 0 for undated articles."""
    return dt.date.fromisoformat(day).toordinal() if day else 0


def chunk_id(article_id: str, ordinal: int, day: str | None = None) -> int:
    """A stable id that sorts by publication day: ``day_number << 40 | hash(article, ordinal)``.

    Rebuilding the same corpus gives the same ids, and because ids sort by day, a date window is an id range
    that FTS5 and FAISS filter natively instead of checking every candidate. Undated chunks sort first.
    """
    digest = hashlib.blake2b(f"{article_id}\x00{ordinal}".encode(), digest_size=8).digest()
    return (day_number(day) << DAY_SHIFT) | (int.from_bytes(digest, "big") & ((1 << DAY_SHIFT) - 1))


def day_range(first: str | None, last: str | None) -> tuple[int, int]:
    """[low, high) chunk ids of articles published from ``first`` to ``last`` (None: open end; undated sort low)."""
    low = day_number(first) << DAY_SHIFT if first else 0
    high = (day_number(last) + 1) << DAY_SHIFT if last else 1 << 62
    return low, high


def chunk_article(article: Article, *, size: int = 900, overlap: int = 60) -> list[Chunk]:
    """Split ``article.text`` so that ``article.text[c.start:c.end] == c.text`` for every chunk."""
    text = article.text
    if not text.strip():
        return []
    pieces = _splitter(size, overlap).split_text(text)
    chunks: list[Chunk] = []
    previous_start, reach = -1, 0
    for piece in pieces:
        # The next piece starts after the previous one's start and no later than the whitespace after its end.
        # Taking the latest match in that window keeps offsets right when an article repeats itself.
        while reach < len(text) and text[reach].isspace():
            reach += 1
        start = text.rfind(piece, previous_start + 1, reach + len(piece))
        if start < 0:
            start = text.find(piece, previous_start + 1)
        if start < 0:  # cannot happen with strip_whitespace splitting, but never store a wrong offset
            logger.warning("chunk of %s not found verbatim; skipped", article.id)
            continue
        end = start + len(piece)
        chunks.append(Chunk(chunk_id(article.id, len(chunks), article.day), article.id, len(chunks), start, end, piece))
        previous_start, reach = start, max(reach, end)
    return chunks


def embedding_text(title: str, chunk_text: str) -> str:
    """What the embedder sees: the title gives a passage the context its own sentences often lack."""
    return f"{title}\n{chunk_text}" if title else chunk_text

"""Chunk ids: stable across rebuilds, and sorted by publication day, so that a date window is a range of ids.

Both backends, the chunker and the retriever share this rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib

__all__ = ["DAY_SHIFT", "chunk_id", "day_number", "day_range"]

DAY_SHIFT = 40  # chunk ids carry their article's day above this bit, the hash below it


def day_number(day: str | None) -> int:
    """Days since 0001-01-01 for an ISO day; 0 for undated articles."""
    return dt.date.fromisoformat(day).toordinal() if day else 0


def chunk_id(article_id: str, ordinal: int, day: str | None = None) -> int:
    """A stable id that sorts by publication day: ``day_number << 40 | hash(article, ordinal)``.

    Rebuilding the same corpus gives the same ids, and because ids sort by day, a date window is an id range that
    every segment (or Milvus's filter) takes natively instead of checking every candidate. Undated chunks sort
    first.
    """
    digest = hashlib.blake2b(f"{article_id}\x00{ordinal}".encode(), digest_size=8).digest()
    return (day_number(day) << DAY_SHIFT) | (int.from_bytes(digest, "big") & ((1 << DAY_SHIFT) - 1))


def day_range(first: str | None, last: str | None) -> tuple[int, int]:
    """[low, high) chunk ids of articles published from ``first`` to ``last`` (None: open end; undated sort low)."""
    low = day_number(first) << DAY_SHIFT if first else 0
    high = (day_number(last) + 1) << DAY_SHIFT if last else 1 << 62
    return low, high

"""What a local index holds, for people: counts, dates, sources, model, size, and the article list."""

from __future__ import annotations

from pathlib import Path

from ..location import disk_usage
from ..records import DateRange, IndexDescription, ListedArticle, Removal, SourceCount
from .reader import IndexReader

__all__ = ["describe"]


def describe(reader: IndexReader, location: str | Path, *, with_articles: bool = False) -> IndexDescription:
    """The generation ``reader`` reads, described."""
    first, last, undated = reader.query("SELECT min(date), max(date), sum(date IS NULL) FROM articles")[0]
    sources = reader.query(
        "SELECT source, count(*) FROM articles WHERE source IS NOT NULL GROUP BY source ORDER BY count(*) DESC, source"
    )
    listed = None
    if with_articles:
        rows = reader.query("SELECT id, title, date, source, url, origin FROM articles ORDER BY day DESC, id")
        listed = tuple(ListedArticle(*row) for row in rows)
    commit = reader.commit
    return IndexDescription(
        path=str(location),
        generation=commit.generation,
        segments=len(reader.body["segments"]),
        created_at=commit.created_at,
        articles=commit.counts.articles,
        chunks=commit.counts.chunks,
        date_range=DateRange(first, last, int(undated or 0)),
        sources=tuple(SourceCount(*row) for row in sources),
        model=commit.model,
        chunker=commit.chunker,
        roots=commit.roots,
        bytes=disk_usage(reader.path),
        removed=_removed(reader),
        article_list=listed,
    )


def _removed(reader: IndexReader) -> tuple[Removal, ...]:
    """Articles removed with ``index remove``, which updates keep out."""
    rows = reader.query("SELECT id, title, file, origin, removed_at FROM removed ORDER BY removed_at, id")
    return tuple(Removal(*row) for row in rows)

"""What an index holds, for people: counts, dates, sources, model, size, and the article list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..location import disk_usage
from .reader import IndexReader


def describe_index(index_dir: str | Path, *, with_articles: bool = False) -> dict[str, Any]:
    directory = Path(index_dir)
    reader = IndexReader.open(directory)
    try:
        manifest = reader.manifest
        first, last, undated = reader.query("SELECT min(date), max(date), sum(date IS NULL) FROM articles")[0]
        sources = [
            {"source": row[0], "articles": row[1]}
            for row in reader.query(
                "SELECT source, count(*) FROM articles WHERE source IS NOT NULL GROUP BY source "
                "ORDER BY count(*) DESC, source"
            )
        ]
        info: dict[str, Any] = {
            "path": str(directory),
            "generation": manifest["generation"],
            "segments": len(manifest["segments"]),
            "created_at": manifest["created_at"],
            "articles": manifest["counts"]["articles"],
            "chunks": manifest["counts"]["chunks"],
            "date_range": {"first": first, "last": last, "undated": int(undated or 0)},
            "sources": sources,
            "model": manifest["model"],
            "chunker": manifest["chunker"],
            "roots": manifest.get("roots", []),
            "bytes": disk_usage(reader.path),
            "removed": _removed(reader),
        }
        if with_articles:
            info["article_list"] = [
                dict(row)
                for row in reader.query(
                    "SELECT id, title, date, source, url, origin FROM articles ORDER BY day DESC, id"
                )
            ]
        return info
    finally:
        reader.close()


def _removed(reader: IndexReader) -> list[dict[str, Any]]:
    """Articles removed with ``index remove``, which updates keep out (an index from before the list has none)."""
    if not reader.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'removed'"):
        return []
    return [
        dict(row) for row in reader.query("SELECT id, title, file, removed_at FROM removed ORDER BY removed_at, id")
    ]

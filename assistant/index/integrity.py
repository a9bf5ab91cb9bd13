"""What is checked before an index is trusted: checksums at open, and the deeper checks of ``index verify``.

Opening a generation compares each file with the size and sha256 its manifest records. ``index verify`` adds
SQLite's own integrity check and checks that the database, the full-text table and the vectors hold the same chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError
from .layout import SQLITE, VECTORS, check_files, current_generation, read_manifest
from .reader import IndexReader

__all__ = ["check_index", "deep_check"]


def deep_check(reader: IndexReader) -> list[str]:
    """What ``index verify`` adds to the checksums: SQLite integrity, and that the database and vectors agree."""
    import faiss

    problems = [f"sqlite: {row[0]}" for row in reader.query("PRAGMA integrity_check") if row[0] != "ok"]
    chunk_ids = {row[0] for row in reader.query("SELECT id FROM chunks")}
    vector_ids = set(faiss.vector_to_array(reader.vectors.id_map).tolist())
    if chunk_ids != vector_ids:
        problems.append(f"{len(chunk_ids ^ vector_ids)} chunk ids differ between {SQLITE} and {VECTORS}")
    fts = reader.scalar("SELECT count(*) FROM chunks_fts")
    if fts != len(chunk_ids):
        problems.append(f"full-text table has {fts} rows for {len(chunk_ids)} chunks")
    counts = reader.manifest["counts"]
    articles = reader.scalar("SELECT count(*) FROM articles")
    if articles != counts["articles"]:
        problems.append(f"{articles} articles, manifest says {counts['articles']}")
    orphans = reader.scalar(
        "SELECT count(*) FROM chunks c LEFT JOIN articles a ON a.id = c.article_id WHERE a.id IS NULL"
    )
    if orphans:
        problems.append(f"{orphans} chunks belong to no article")
    return problems


def check_index(directory: str | Path) -> tuple[dict[str, Any] | None, list[str]]:
    """(manifest, problems) for the live generation: checksums, SQLite integrity, ids, counts."""
    directory = Path(directory)
    generation = current_generation(directory)
    try:
        manifest = read_manifest(generation)
    except IndexCorruptError as exc:
        return None, [str(exc)]
    problems = check_files(generation, manifest)
    if problems:
        return manifest, problems
    try:
        reader = IndexReader(generation, manifest)
    except IndexCorruptError as exc:
        return manifest, [str(exc)]
    try:
        return manifest, deep_check(reader)
    finally:
        reader.close()

"""Reading one verified, immutable index generation: chunks, their in-memory columns, BM25 vocabulary, vectors."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import IndexCorruptError
from .layout import SQLITE, TOKENIZER, VECTORS, check_files, current_generation, generation_path, read_manifest

if TYPE_CHECKING:
    import faiss

__all__ = ["ChunkRow", "ChunkTable", "IndexReader"]


@dataclass(frozen=True)
class ChunkRow:
    """A chunk with its article's metadata, as the retriever needs it."""

    id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str | None
    url: str | None


@dataclass(frozen=True)
class ChunkTable:
    """Per-chunk columns held in memory, so filtering and ranking candidates costs microseconds, not SQL joins."""

    ids: np.ndarray  # int64 chunk ids, sorted: by publication day, see chunking.chunk_id
    sources: np.ndarray  # int32 index into ``source_names``; -1 when unknown
    articles: np.ndarray  # int32 article number, to cap passages per article without reading rows
    source_names: tuple[str, ...]


class IndexReader:
    """One verified, immutable generation, open for reading. Safe to share between threads."""

    def __init__(self, generation: Path, manifest: dict[str, Any]) -> None:
        import faiss

        self.path = generation
        self.manifest = manifest
        self.generation = int(manifest["generation"])
        self._table: ChunkTable | None = None
        # SQLite's own tokenizer stems query words, so their document frequencies are looked up exactly.
        self._stemmer = sqlite3.connect(":memory:", check_same_thread=False)
        self._stemmer.executescript(
            f"CREATE VIRTUAL TABLE q USING fts5(x, tokenize = {TOKENIZER!r});"
            "CREATE VIRTUAL TABLE qv USING fts5vocab(q, 'instance');"
        )
        self._stem_lock = threading.Lock()
        # immutable=1: the file never changes after publication, so SQLite needs no locks or journal.
        uri = f"file:{generation / SQLITE}?mode=ro&immutable=1"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            # A temp table: the published file stays untouched, and older generations need no migration.
            self._db.execute("CREATE VIRTUAL TABLE temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')")
            # Typed as the base class, but faiss hands back the class written: writer.py writes an IndexIDMap2.
            self.vectors = cast("faiss.IndexIDMap2", faiss.read_index(str(generation / VECTORS)))
        except (sqlite3.Error, RuntimeError) as exc:
            raise IndexCorruptError(f"cannot open {generation}: {exc}") from exc
        chunks = self.scalar("SELECT count(*) FROM chunks")
        if self.vectors.ntotal != chunks or chunks != manifest["counts"]["chunks"]:
            raise IndexCorruptError(
                f"{generation}: {self.vectors.ntotal} vectors, {chunks} chunks, manifest says "
                f"{manifest['counts']['chunks']}"
            )

    @classmethod
    def open(cls, directory: str | Path, *, verify: bool = True, number: int | None = None) -> IndexReader:
        """The live generation of the index in ``directory``, or generation ``number`` while it is still kept."""
        directory = Path(directory)
        generation = current_generation(directory) if number is None else generation_path(directory, number)
        manifest = read_manifest(generation)
        if verify and (problems := check_files(generation, manifest)):
            raise IndexCorruptError("index files do not match the manifest: " + "; ".join(problems))
        return cls(generation, manifest)

    def close(self) -> None:
        self._db.close()
        with self._stem_lock:
            self._stemmer.close()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.path / SQLITE}: {exc}") from exc

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def chunk_rows(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        ids = list(ids)
        rows: dict[int, ChunkRow] = {}
        for offset in range(0, len(ids), 500):
            part = ids[offset : offset + 500]
            marks = ",".join("?" * len(part))
            for row in self.query(
                "SELECT c.id, c.article_id, c.ordinal, c.start, c.end, c.text, a.title, a.date, "
                f"a.source, a.url FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
                part,
            ):
                rows[row[0]] = ChunkRow(*row)
        return rows

    @property
    def table(self) -> ChunkTable:
        if self._table is None:
            rows = self.query(
                "SELECT c.id, a.source, c.article_id FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"
            )
            names = tuple(sorted({row[1] for row in rows if row[1]}))
            codes = {name: code for code, name in enumerate(names)}
            article_codes: dict[str, int] = {}
            self._table = ChunkTable(
                ids=np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
                sources=np.fromiter((codes.get(row[1], -1) for row in rows), dtype=np.int32, count=len(rows)),
                articles=np.fromiter(
                    (article_codes.setdefault(row[2], len(article_codes)) for row in rows),
                    dtype=np.int32,
                    count=len(rows),
                ),
                source_names=names,
            )
        return self._table

    def selective_terms(self, terms: list[str], max_df: float, max_terms: int = 64) -> list[str]:
        """The ``max_terms`` rarest terms found in at most ``max_df`` of the chunks (at least the two rarest).

        Words in most chunks barely move a BM25 ranking but make FTS5 score nearly every row.
        """
        counted = self._document_frequencies(terms)
        total = max(1, self.vectors.ntotal)
        present = sorted((count, i) for i, (count, _) in enumerate(counted) if count > 0)
        rare = [(count, i) for count, i in present if count <= max_df * total][:max_terms]
        if len(rare) < 2:
            rare = present[:2]
        return [counted[i][1] for _, i in sorted(rare, key=lambda item: item[1])]

    def _document_frequencies(self, terms: list[str]) -> list[tuple[int, str]]:
        """(chunks containing it, term) per term, from the FTS index itself, by the stem SQLite's tokenizer makes."""
        if not terms:
            return []
        stems = [next(iter(found), "") for found in self.stems(terms)]
        df = self.stem_frequencies(stems)
        return [(df.get(stem, 0), term) for stem, term in zip(stems, terms, strict=True)]

    def stems(self, texts: list[str]) -> list[set[str]]:
        """The set of index terms (stemmed as the FTS index stems them) in each text."""
        if not texts:
            return []
        found: list[set[str]] = [set() for _ in texts]
        with self._stem_lock:
            self._stemmer.execute("DELETE FROM q")
            self._stemmer.executemany("INSERT INTO q (rowid, x) VALUES (?, ?)", enumerate(texts))
            for row, term in self._stemmer.execute("SELECT DISTINCT doc, term FROM qv"):
                found[row].add(term)
        return found

    def stem_frequencies(self, stems: Iterable[str]) -> dict[str, int]:
        """Chunks containing each stem; stems found nowhere are left out."""
        wanted = sorted({stem for stem in stems if stem})
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self.query(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", wanted)
        return {row["term"]: row["doc"] for row in rows}

    def article(self, article_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM articles WHERE id = ?", (article_id,))
        return rows[0] if rows else None

"""The index on disk: generations of SQLite + FAISS files, a manifest with checksums, and an atomic switch.

Layout of an index directory::

    CURRENT            name of the live generation, replaced atomically (write, fsync, rename)
    gen-000007/        one complete, immutable generation
        manifest.json  schema version, model, chunker, counts, sha256 of every file, its own checksum
        meta.sqlite    articles, chunks (with offsets) and an FTS5 table for BM25
        vectors.faiss  an IndexIDMap2 over inner-product vectors, ids = chunk ids
    .lock              held by the one writer
    .tmp-gen-000008-*  a generation being written; never read, removed by the next writer

A writer (:mod:`assistant.writer`) copies the live generation into a temporary folder, changes it, fsyncs every
file, renames the folder into place and only then points ``CURRENT`` at it. A crash at any moment leaves
``CURRENT`` naming a complete generation. Readers verify the manifest's checksums before answering anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexCorruptError, IndexNotFoundError, ModelMismatchError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
SQLITE = "meta.sqlite"
VECTORS = "vectors.faiss"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"

_TOKENIZER = "porter unicode61 remove_diacritics 2"
SCHEMA_SQL = f"""
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    date TEXT,            -- as precise as the source: YYYY, YYYY-MM or YYYY-MM-DD
    day TEXT,             -- first day the date can mean, for filters and recency
    source TEXT,
    url TEXT,
    author TEXT,
    origin TEXT,          -- file, file:line or URL it was read from
    file TEXT,            -- resolved file path, to notice files that are gone
    root TEXT,            -- resolved root the file was found under
    content_hash TEXT NOT NULL,
    copy_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE INDEX articles_day ON articles(day);
CREATE INDEX articles_source ON articles(source);
CREATE INDEX articles_copy_hash ON articles(copy_hash);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, title, tokenize = '{_TOKENIZER}');
"""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_checksum(body: dict[str, Any]) -> str:
    payload = {key: value for key, value in body.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def generation_number(name: str) -> int:
    try:
        return int(name.removeprefix("gen-"))
    except ValueError:
        return -1


def current_generation(directory: Path) -> Path:
    """The folder of the live generation, or IndexNotFoundError."""
    pointer = directory / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index in {directory}: build one with `assistant index build PATHS --index {directory}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {pointer}: {exc}") from exc
    if not name.startswith("gen-") or "/" in name or not (directory / name).is_dir():
        raise IndexCorruptError(f"{pointer} names {name!r}, which is not a generation in {directory}")
    return directory / name


def read_manifest(generation: Path) -> dict[str, Any]:
    path = generation / MANIFEST
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(body, dict) or body.get("manifest_sha256") != manifest_checksum(body):
        raise IndexCorruptError(f"{path} does not match its own checksum")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise IndexCorruptError(
            f"{path}: schema version {body.get('schema_version')} is not {SCHEMA_VERSION}; rebuild the index"
        )
    return body


def check_model(manifest: dict[str, Any], identity: str, directory: Path) -> None:
    """Refuse to search or update an index with another model than the one that built it."""
    if manifest["model"]["identity"] != identity:
        raise ModelMismatchError(
            f"the index in {directory} was built with {manifest['model']['identity']}, but the configured model "
            f"is {identity}: set ASSISTANT_MODEL to the index's model, or rebuild with `assistant index build`"
        )


def check_files(generation: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems with the generation's files against the manifest (empty when all match)."""
    problems = []
    for name, expected in manifest.get("files", {}).items():
        path = generation / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{path} has {path.stat().st_size} bytes, manifest says {expected['bytes']}")
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{path} does not match its sha256 in the manifest")
    if set(manifest.get("files", {})) != {SQLITE, VECTORS}:
        problems.append(f"{generation / MANIFEST} does not list {SQLITE} and {VECTORS}")
    return problems


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
            f"CREATE VIRTUAL TABLE q USING fts5(x, tokenize = {_TOKENIZER!r});"
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
            self.vectors = faiss.read_index(str(generation / VECTORS))
        except (sqlite3.Error, RuntimeError) as exc:
            raise IndexCorruptError(f"cannot open {generation}: {exc}") from exc
        chunks = self.scalar("SELECT count(*) FROM chunks")
        if self.vectors.ntotal != chunks or chunks != manifest["counts"]["chunks"]:
            raise IndexCorruptError(
                f"{generation}: {self.vectors.ntotal} vectors, {chunks} chunks, manifest says "
                f"{manifest['counts']['chunks']}"
            )

    @classmethod
    def open(cls, directory: str | Path, *, verify: bool = True) -> IndexReader:
        directory = Path(directory)
        generation = current_generation(directory)
        manifest = read_manifest(generation)
        if verify and (problems := check_files(generation, manifest)):
            raise IndexCorruptError("index files do not match the manifest: " + "; ".join(problems))
        return cls(generation, manifest)

    def close(self) -> None:
        self._db.close()

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
        return dict(self.query(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", wanted))

    def article(self, article_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM articles WHERE id = ?", (article_id,))
        return rows[0] if rows else None

    def deep_check(self) -> list[str]:
        """What ``verify`` adds to the checksums: SQLite integrity and that both halves agree."""
        problems = [f"sqlite: {row[0]}" for row in self.query("PRAGMA integrity_check") if row[0] != "ok"]
        import faiss

        chunk_ids = {row[0] for row in self.query("SELECT id FROM chunks")}
        vector_ids = set(faiss.vector_to_array(self.vectors.id_map).tolist())
        if chunk_ids != vector_ids:
            problems.append(f"{len(chunk_ids ^ vector_ids)} chunk ids differ between {SQLITE} and {VECTORS}")
        fts = self.scalar("SELECT count(*) FROM chunks_fts")
        if fts != len(chunk_ids):
            problems.append(f"full-text table has {fts} rows for {len(chunk_ids)} chunks")
        counts = self.manifest["counts"]
        articles = self.scalar("SELECT count(*) FROM articles")
        if articles != counts["articles"]:
            problems.append(f"{articles} articles, manifest says {counts['articles']}")
        orphans = self.scalar(
            "SELECT count(*) FROM chunks c LEFT JOIN articles a ON a.id = c.article_id WHERE a.id IS NULL"
        )
        if orphans:
            problems.append(f"{orphans} chunks belong to no article")
        return problems


def verify(directory: str | Path) -> tuple[dict[str, Any] | None, list[str]]:
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
        return manifest, reader.deep_check()
    finally:
        reader.close()


def disk_usage(directory: str | Path) -> int:
    return sum(p.stat().st_size for p in _walk_files(Path(directory)))


def _walk_files(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file():
            yield path

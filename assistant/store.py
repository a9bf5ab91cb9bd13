"""The index on disk: generations of SQLite + FAISS files, a manifest with checksums, and an atomic switch.

Layout of an index directory::

    CURRENT            name of the live generation, replaced atomically (write, fsync, rename)
    gen-000007/        one complete, immutable generation
        manifest.json  schema version, model, chunker, counts, sha256 of every file, its own checksum
        meta.sqlite    articles, chunks (with offsets) and an FTS5 table for BM25
        vectors.faiss  an IndexIDMap2 over inner-product vectors, ids = chunk ids
    .lock              held by the one writer
    .tmp-gen-000008-*  a generation being written; never read, removed by the next writer

A writer copies the live generation into a temporary folder, changes it, fsyncs every file, renames the folder
into place and only then points ``CURRENT`` at it. A crash at any moment leaves ``CURRENT`` naming a complete
generation. Readers verify the manifest's checksums before answering anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .documents import Article, Chunk
from .errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
SQLITE = "meta.sqlite"
VECTORS = "vectors.faiss"
LOCK = ".lock"
_TMP_PREFIX = ".tmp-"

_TOKENIZER = "porter unicode61 remove_diacritics 2"
_SCHEMA = f"""
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _manifest_checksum(body: dict[str, Any]) -> str:
    payload = {key: value for key, value in body.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _generation_number(name: str) -> int:
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
    if not isinstance(body, dict) or body.get("manifest_sha256") != _manifest_checksum(body):
        raise IndexCorruptError(f"{path} does not match its own checksum")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise IndexCorruptError(
            f"{path}: schema version {body.get('schema_version')} is not {SCHEMA_VERSION}; rebuild the index"
        )
    return body


def check_files(generation: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems with the generation's files against the manifest (empty when all match)."""
    problems = []
    for name, expected in manifest.get("files", {}).items():
        path = generation / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{path} has {path.stat().st_size} bytes, manifest says {expected['bytes']}")
        elif _sha256(path) != expected["sha256"]:
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
    day: str | None
    source: str | None
    url: str | None


@dataclass(frozen=True)
class ChunkTable:
    """Chunk ids and sources held in memory, so a source filter costs microseconds, not a SQL join."""

    ids: np.ndarray  # int64 chunk ids, sorted: by publication day, see chunking.chunk_id
    sources: np.ndarray  # int32 index into ``source_names``; -1 when unknown
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
                "SELECT c.id, c.article_id, c.ordinal, c.start, c.end, c.text, a.title, a.date, a.day, "
                f"a.source, a.url FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
                part,
            ):
                rows[row[0]] = ChunkRow(*row)
        return rows

    @property
    def table(self) -> ChunkTable:
        if self._table is None:
            rows = self.query(
                "SELECT c.id, a.source FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"
            )
            names = tuple(sorted({row[1] for row in rows if row[1]}))
            codes = {name: code for code, name in enumerate(names)}
            self._table = ChunkTable(
                ids=np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
                sources=np.fromiter((codes.get(row[1], -1) for row in rows), dtype=np.int32, count=len(rows)),
                source_names=names,
            )
        return self._table

    def selective_terms(self, terms: list[str], max_df: float) -> list[str]:
        """Terms found in at most ``max_df`` of the chunks (at least the two rarest that occur at all).

        Words in most chunks barely move a BM25 ranking but make FTS5 score nearly every row. Document
        frequencies come from the FTS index itself, looked up by each word's stem as SQLite's tokenizer makes it.
        """
        if not terms:
            return []
        with self._stem_lock:
            self._stemmer.execute("DELETE FROM q")
            self._stemmer.executemany("INSERT INTO q (rowid, x) VALUES (?, ?)", enumerate(terms))
            stems = dict(self._stemmer.execute("SELECT doc, term FROM qv").fetchall())
        wanted = sorted({stem for stem in stems.values()})
        marks = ",".join("?" * len(wanted))
        df = dict(self.query(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", wanted))
        counted = [(df.get(stems.get(i, ""), 0), term) for i, term in enumerate(terms)]
        total = max(1, self.vectors.ntotal)
        rare = [term for count, term in counted if 0 < count <= max_df * total]
        if len(rare) < 2:
            rare = [term for count, term in sorted(counted) if count > 0][:2]
        return rare

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


class IndexWriter:
    """Builds the next generation from the live one. Use as a context manager; ``commit()`` publishes it."""

    def __init__(
        self,
        directory: str | Path,
        *,
        model: dict[str, Any],
        chunker: dict[str, Any],
        fresh: bool = False,
        keep_generations: int = 2,
    ) -> None:
        self.directory = Path(directory)
        self.model = model
        self.chunker = chunker
        self.fresh = fresh
        self.keep_generations = keep_generations
        self._lock: Any = None
        self._tmp: Path | None = None
        self._db: sqlite3.Connection | None = None
        self._vectors: Any = None
        self.base_generation = 0
        self.roots: set[str] = set()

    def __enter__(self) -> IndexWriter:
        self.begin()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.abort()

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "writer not started"
        return self._db

    def begin(self) -> None:
        from filelock import FileLock, Timeout

        self.directory.mkdir(parents=True, exist_ok=True)
        # flock is released by the kernel when a writer dies, so a killed writer never leaves a stale lock.
        lock = FileLock(str(self.directory / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"the index in {self.directory} is being updated by another process; try again when it finishes"
            ) from None
        self._lock = lock
        try:
            self._start()
        except BaseException:
            self.abort()
            raise

    def _start(self) -> None:
        import faiss

        for leftover in self.directory.glob(_TMP_PREFIX + "*"):
            logger.info("removing unfinished generation %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        base: Path | None = None
        try:
            base = current_generation(self.directory)
        except IndexNotFoundError:
            pass
        except IndexCorruptError:
            if not self.fresh:  # a rebuild replaces a damaged index; an update must not guess
                raise
        numbers = [_generation_number(p.name) for p in self.directory.glob("gen-*")]
        number = max([0, *numbers]) + 1
        self._tmp = self.directory / f"{_TMP_PREFIX}gen-{number:06d}-{os.getpid()}"
        self._tmp.mkdir()
        self._number = number
        db_path = self._tmp / SQLITE
        if base is not None and not self.fresh:
            manifest = read_manifest(base)
            if problems := check_files(base, manifest):
                raise IndexCorruptError(
                    "the live index is damaged, so it cannot be updated (rebuild it with `assistant index build`): "
                    + "; ".join(problems)
                )
            self.base_generation = int(manifest["generation"])
            self.roots = set(manifest.get("roots", []))
            source = sqlite3.connect(f"file:{base / SQLITE}?mode=ro&immutable=1", uri=True)
            self._db = sqlite3.connect(db_path)
            source.backup(self._db)
            source.close()
            self._vectors = faiss.read_index(str(base / VECTORS))
        else:
            if base is not None:
                with contextlib.suppress(StoreError):
                    self.base_generation = int(read_manifest(base)["generation"])
            self._db = sqlite3.connect(db_path)
            self._db.executescript(_SCHEMA)
            self._vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(int(self.model["dimension"])))
        self._db.execute("PRAGMA journal_mode = DELETE")
        self._db.execute("PRAGMA synchronous = FULL")

    # -- reading the state being changed -------------------------------------------------------------
    def articles(self) -> dict[str, sqlite3.Row]:
        self.db.row_factory = sqlite3.Row
        rows = self.db.execute("SELECT id, content_hash, copy_hash, file, root, origin FROM articles").fetchall()
        return {row["id"]: row for row in rows}

    # -- changes -------------------------------------------------------------------------------------
    def remove(self, article_ids: Iterable[str]) -> int:
        removed = 0
        for article_id in article_ids:
            ids = [row[0] for row in self.db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))]
            if ids:
                self._vectors.remove_ids(np.asarray(ids, dtype=np.int64))
                self.db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
                self.db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            removed += self.db.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
        return removed

    def add(
        self,
        article: Article,
        chunks: list[Chunk],
        vectors: np.ndarray,
        *,
        file: str | None,
        root: str | None,
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self.db.execute(
            "INSERT INTO articles (id, title, text, date, day, source, url, author, origin, file, root, "
            "content_hash, copy_hash, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id,
                article.title,
                article.text,
                article.date,
                article.day,
                article.source,
                article.url,
                article.author,
                article.origin,
                file,
                root,
                article.content_hash,
                article.copy_hash,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            ),
        )
        self.db.executemany(
            "INSERT INTO chunks (id, article_id, ordinal, start, end, text) VALUES (?,?,?,?,?,?)",
            [(c.id, c.article_id, c.ordinal, c.start, c.end, c.text) for c in chunks],
        )
        self.db.executemany(
            "INSERT INTO chunks_fts (rowid, text, title) VALUES (?,?,?)",
            [(c.id, c.text, article.title) for c in chunks],
        )
        if chunks:
            self._vectors.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.asarray([c.id for c in chunks], dtype=np.int64),
            )

    # -- publishing ----------------------------------------------------------------------------------
    def commit(self) -> dict[str, Any]:
        """Write, fsync and atomically publish the new generation; returns its manifest."""
        import faiss

        assert self._tmp is not None and self._db is not None
        self._db.commit()
        counts = {
            "articles": self._db.execute("SELECT count(*) FROM articles").fetchone()[0],
            "chunks": self._db.execute("SELECT count(*) FROM chunks").fetchone()[0],
        }
        self._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        self._db.commit()
        self._db.close()
        self._db = None
        faiss.write_index(self._vectors, str(self._tmp / VECTORS))
        files = {}
        for name in (SQLITE, VECTORS):
            path = self._tmp / name
            _fsync_file(path)
            files[name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "generation": self._number,
            "previous_generation": self.base_generation or None,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": self.model,
            "chunker": self.chunker,
            "counts": counts,
            "roots": sorted(self.roots),
            "files": files,
        }
        manifest["manifest_sha256"] = _manifest_checksum(manifest)
        manifest_path = self._tmp / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_file(manifest_path)
        _fsync_dir(self._tmp)
        final = self.directory / f"gen-{self._number:06d}"
        os.rename(self._tmp, final)
        self._tmp = None
        _fsync_dir(self.directory)
        pointer_tmp = self.directory / f"{CURRENT}.tmp"
        pointer_tmp.write_text(final.name + "\n", encoding="utf-8")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.directory / CURRENT)
        _fsync_dir(self.directory)
        self._prune(final)
        logger.info("published %s (%d articles, %d chunks)", final.name, counts["articles"], counts["chunks"])
        return manifest

    def _prune(self, live: Path) -> None:
        # Older generations go, but a few stay so readers that opened them keep answering.
        generations = sorted(self.directory.glob("gen-*"), key=lambda p: _generation_number(p.name))
        for old in generations[: -self.keep_generations]:
            if old != live:
                shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Drop the unfinished generation (if any) and release the lock. Safe to call twice."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def disk_usage(directory: str | Path) -> int:
    return sum(p.stat().st_size for p in _walk_files(Path(directory)))


def _walk_files(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file():
            yield path

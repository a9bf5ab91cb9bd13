"""Writing the next index generation: copy the live one, change it, fsync, rename into place, switch CURRENT."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..documents import Article, Chunk
from ..errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, StoreError
from .layout import (
    CURRENT,
    LOCK,
    MANIFEST,
    REMOVED_SQL,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    SQLITE,
    TMP_PREFIX,
    VECTORS,
    check_files,
    current_generation,
    generation_number,
    manifest_checksum,
    read_manifest,
    sha256_file,
)

if TYPE_CHECKING:
    import faiss
    from filelock import BaseFileLock

logger = logging.getLogger(__name__)


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


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full, in whichever words the layer that hit it uses."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    # faiss reports a failed fwrite as a RuntimeError that quotes strerror.
    return isinstance(exc, RuntimeError) and os.strerror(errno.ENOSPC) in str(exc)


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
        self._lock: BaseFileLock | None = None
        self._tmp: Path | None = None
        self._unpublished: Path | None = None  # renamed into place, but CURRENT does not name it yet
        self._db: sqlite3.Connection | None = None
        self._vectors: faiss.IndexIDMap2 | None = None
        self.base_generation = 0
        self.base_manifest: dict[str, Any] | None = None  # the live manifest this update starts from
        self.roots: set[str] = set()

    def __enter__(self) -> IndexWriter:
        self.begin()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.abort()
        if exc is not None and _disk_full(exc):
            raise self._out_of_space(exc) from exc

    def _out_of_space(self, exc: BaseException) -> OSError:
        """One error for a full disk, whether SQLite, faiss or a plain write ran into it, naming the index."""
        code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.ENOSPC
        return OSError(code, os.strerror(code), str(self.directory))

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "writer not started"
        return self._db

    @property
    def vectors(self) -> faiss.IndexIDMap2:
        assert self._vectors is not None, "writer not started"
        return self._vectors

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
        except BaseException as exc:
            self.abort()
            if _disk_full(exc):
                raise self._out_of_space(exc) from exc
            raise

    def _start(self) -> None:
        import faiss

        for leftover in self.directory.glob(TMP_PREFIX + "*"):
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
        numbers = [generation_number(p.name) for p in self.directory.glob("gen-*")]
        number = max([0, *numbers]) + 1
        self._tmp = self.directory / f"{TMP_PREFIX}gen-{number:06d}-{os.getpid()}"
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
            self.base_manifest = manifest
            self.base_generation = int(manifest["generation"])
            self.roots = set(manifest.get("roots", []))
            source = sqlite3.connect(f"file:{base / SQLITE}?mode=ro&immutable=1", uri=True)
            self._db = sqlite3.connect(db_path)
            source.backup(self._db)
            source.close()
            # Typed as the base class, but faiss hands back the class written: an IndexIDMap2, as below.
            self._vectors = cast("faiss.IndexIDMap2", faiss.read_index(str(base / VECTORS)))
        else:
            if base is not None:
                with contextlib.suppress(StoreError):
                    self.base_generation = int(read_manifest(base)["generation"])
            self._db = sqlite3.connect(db_path)
            self._db.executescript(SCHEMA_SQL)
            self._vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(int(self.model["dimension"])))
        self._db.execute("PRAGMA journal_mode = DELETE")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(REMOVED_SQL)
        if base is not None and self.fresh:
            self._carry_removals(base / SQLITE)

    def _carry_removals(self, base_db: Path) -> None:
        """A rebuild starts empty but keeps the list of removed articles: a removal lasts until it is undone."""
        try:
            source = sqlite3.connect(f"file:{base_db}?mode=ro&immutable=1", uri=True)
            try:
                rows = source.execute("SELECT id, title, file, origin, removed_at FROM removed").fetchall()
            finally:
                source.close()
        except sqlite3.Error:  # no such table (an older index), or a damaged one being replaced
            return
        self.db.executemany("INSERT OR REPLACE INTO removed VALUES (?,?,?,?,?)", rows)

    # -- reading the state being changed -------------------------------------------------------------
    def articles(self) -> dict[str, sqlite3.Row]:
        self.db.row_factory = sqlite3.Row
        rows = self.db.execute(
            "SELECT id, title, url, content_hash, copy_hash, file, root, origin FROM articles"
        ).fetchall()
        return {row["id"]: row for row in rows}

    def removed(self) -> dict[str, sqlite3.Row]:
        """Articles removed with ``index remove``, by id: updates keep them out until they are added back."""
        self.db.row_factory = sqlite3.Row
        return {row["id"]: row for row in self.db.execute("SELECT id, title, file, origin, removed_at FROM removed")}

    # -- changes -------------------------------------------------------------------------------------
    def remove(self, article_ids: Iterable[str]) -> int:
        removed = 0
        for article_id in article_ids:
            ids = [row[0] for row in self.db.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))]
            if ids:
                # faiss's wrapper takes an array of ids too (wrapping it in a selector); its stub lists only selectors.
                self.vectors.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]
                self.db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
                self.db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            removed += self.db.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
        return removed

    def remember_removed(self, rows: Iterable[sqlite3.Row]) -> None:
        """Record articles (rows of :meth:`articles` with their title) as removed by the user."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.db.executemany(
            "INSERT OR REPLACE INTO removed (id, title, file, origin, removed_at) VALUES (?,?,?,?,?)",
            [(row["id"], row["title"], row["file"], row["origin"], stamp) for row in rows],
        )

    def forget_removed(self, article_ids: Iterable[str]) -> None:
        """Undo removals: these articles may be indexed again."""
        self.db.executemany("DELETE FROM removed WHERE id = ?", [(article_id,) for article_id in article_ids])

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
            self.vectors.add_with_ids(
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
        faiss.write_index(self.vectors, str(self._tmp / VECTORS))
        files = {}
        for name in (SQLITE, VECTORS):
            path = self._tmp / name
            _fsync_file(path)
            files[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
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
        manifest["manifest_sha256"] = manifest_checksum(manifest)
        manifest_path = self._tmp / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_file(manifest_path)
        _fsync_dir(self._tmp)
        final = self.directory / f"gen-{self._number:06d}"
        os.rename(self._tmp, final)
        self._tmp, self._unpublished = None, final
        _fsync_dir(self.directory)
        pointer_tmp = self.directory / f"{CURRENT}.tmp"
        pointer_tmp.write_text(final.name + "\n", encoding="utf-8")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.directory / CURRENT)
        self._unpublished = None
        _fsync_dir(self.directory)
        self._prune(final)
        logger.info("published %s (%d articles, %d chunks)", final.name, counts["articles"], counts["chunks"])
        return manifest

    def _prune(self, live: Path) -> None:
        # Older generations go, but a few stay so readers that opened them keep answering.
        generations = sorted(self.directory.glob("gen-*"), key=lambda p: generation_number(p.name))
        if self.base_generation:
            # Between the generation this write started from and the new one: folders renamed into place by writers
            # that died before switching CURRENT. Nothing ever read them; they must not crowd out ones readers use.
            unpublished = [p for p in generations if self.base_generation < generation_number(p.name) < self._number]
            for folder in unpublished:
                logger.info("removing unpublished generation %s", folder)
                shutil.rmtree(folder, ignore_errors=True)
            generations = [p for p in generations if p not in unpublished]
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
        if self._unpublished is not None:
            # Switching CURRENT failed (a full disk, say): no reader can reach this copy, and it holds space.
            shutil.rmtree(self._unpublished, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.directory / f"{CURRENT}.tmp").unlink(missing_ok=True)
            self._unpublished = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

"""Writing the next generation: rows in one SQLite transaction, new passages in new segment files, one commit row.

An update writes inside the live store: its segment files first (written, fsynced, checksummed), then the articles,
chunks, tombstones and the commit row naming the new segment list in one transaction, so the WAL commit publishes
all of it at once or none of it. A rebuild (``fresh``) writes a whole new store in a temporary folder, renames it
into place and switches ``CURRENT`` to it; the old store keeps answering until then. Files a dead writer left (a
temporary store, segment files no commit names, a store renamed but never switched to) are removed by the next one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...documents import Article, Chunk
from ...errors import IndexCorruptError, IndexNotFoundError
from ...settings import Settings, get_settings
from ..records import ArticleRecord, ChunkerRecord, Commit, ModelRecord, row_hash
from ..writing import moment, utc_now, writer_lock
from . import ann, removals, retention
from .layout import (
    CURRENT,
    LOCK,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    SEGMENTS,
    TMP_PREFIX,
    body_checksum,
    connect,
    current_store,
    disk_full,
    fsync_dir,
    last_generation,
    load_commit,
    oldest_kept,
    rename_into_place,
    store_name,
    switch_current,
)
from .merging import merge_after
from .postings import document, title_counts
from .segments import ANN, KINDS, Pending, check_sizes, file_name, segment_name, segment_number

if TYPE_CHECKING:
    from filelock import BaseFileLock

logger = logging.getLogger(__name__)


class IndexWriter(removals.Remembering):
    """Writes the next generation of the index. Use as a context manager; ``commit()`` publishes it."""

    def __init__(
        self,
        directory: str | Path,
        *,
        model: ModelRecord | None,
        chunker: ChunkerRecord | None,
        fresh: bool = False,
        keep_generations: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.model = model
        self.chunker = chunker
        self.fresh = fresh
        self.settings = settings or get_settings()
        self.keep_generations = keep_generations or self.settings.keep_generations
        self._lock: BaseFileLock | None = None
        self._db: sqlite3.Connection | None = None
        self._tmp: Path | None = None  # a fresh store being written
        self._unpublished: Path | None = None  # renamed into place, but CURRENT does not name it yet
        self.written: list[Path] = []  # segment files of this write, removed if it does not publish
        self.store: Path | None = None
        self.base_body: dict[str, Any] | None = None  # the live commit this write starts from, as stored
        self.base: Commit | None = None  # the same, in the terms both backends share
        self.base_generation = 0
        self.generation = 0
        self.roots: set[str] = set()
        self.segments: list[dict[str, Any]] = []
        self.counts = {"articles": 0, "chunks": 0}
        self._pending: Pending | None = None
        self._sources: dict[str, int] = {}
        self._next_chunk = 1
        self._next_segment = 1

    def __enter__(self) -> IndexWriter:
        self.begin()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.abort()
        if exc is not None and disk_full(exc):
            raise self._out_of_space(exc) from exc

    def _out_of_space(self, exc: BaseException) -> OSError:
        """One error for a full disk, whether SQLite, faiss or a plain write ran into it, naming the index."""
        code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.ENOSPC
        return OSError(code, os.strerror(code), str(self.directory))

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "writer not started"
        return self._db

    # -- starting ------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = writer_lock(self.directory / LOCK, self.directory)
        try:
            self._start()
        except BaseException as exc:
            self.abort()
            if disk_full(exc):
                raise self._out_of_space(exc) from exc
            raise

    def _start(self) -> None:
        live: Path | None = None
        try:
            live = current_store(self.directory)
        except IndexNotFoundError:
            pass
        except IndexCorruptError:
            if not self.fresh:  # a rebuild replaces a damaged or outdated index; an update must not guess
                raise
        retention.remove_leftovers(self.directory, live)
        if live is not None and not self.fresh:
            self._open_live(live)
        else:
            self._create(live)
            if live is not None:
                removals.carry_over(self.db, live)
        if self.base is not None and self.model is None:  # removing, or holding the lock: the index's own
            self.model, self.chunker = self.base.model, self.base.chunker
        self.db.execute("BEGIN IMMEDIATE")
        self.generation = self.base_generation + 1
        self._sources = {name: code for code, name in self.db.execute("SELECT code, name FROM sources")}
        self._next_chunk = int(self.db.execute("SELECT coalesce(max(uid), 0) FROM chunks").fetchone()[0]) + 1
        self._pending = Pending(self.dimension)

    def _open_live(self, store: Path) -> None:
        self._db = connect(store, readonly=False)
        self.store = store
        body = load_commit(self.db, store)
        # Sizes, as a reader checks them at open; the checksums of a segment are checked when a merge reads it.
        if problems := [p for record in body["segments"] for p in check_sizes(store / SEGMENTS, record)]:
            raise IndexCorruptError(
                "the live index is damaged, so it cannot be updated (rebuild it with `assistant index build`): "
                + "; ".join(problems)
            )
        self._based_on(body)
        self.roots = set(self.base.roots if self.base else ())
        self.counts = dict(body["counts"])
        self.db.execute("PRAGMA synchronous = FULL")
        named = retention.named_segments(self.db)
        on_disk = {segment_number(p.name) for p in (store / SEGMENTS).iterdir()}
        self._next_segment = max([0, *named, *on_disk]) + 1
        retention.remove_unnamed(store, named)

    def _create(self, live: Path | None) -> None:
        self.base_generation = last_generation(self.directory, live)
        self._tmp = self.directory / f"{TMP_PREFIX}{store_name(self.base_generation + 1)}-{os.getpid()}"
        (self._tmp / SEGMENTS).mkdir(parents=True)
        self._db = connect(self._tmp, readonly=False, create=True)
        # Nothing reads this store before it is renamed into place: no journal until then, one fsync at the end.
        self._db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        self._db.executescript(SCHEMA_SQL + f"PRAGMA user_version = {SCHEMA_VERSION};")
        self._db.execute("INSERT INTO store VALUES ('created_at', ?)", (utc_now(),))
        self.store = self._tmp

    # -- reading the state being changed -------------------------------------------------------------------
    def articles(self) -> dict[str, ArticleRecord]:
        rows = self.db.execute(
            "SELECT uid, id, title, url, content_hash, copy_hash, file, root, origin FROM articles "
            "WHERE removed_gen IS NULL"
        )
        return {row[1]: ArticleRecord(*row) for row in rows}

    # -- changes -------------------------------------------------------------------------------------------
    def remove(self, article_ids: Iterable[str]) -> int:
        """Tombstone the live version of each article: generations before this one still see it."""
        removed = 0
        for article_id in article_ids:
            for (uid,) in self.db.execute(
                "SELECT uid FROM articles WHERE id = ? AND removed_gen IS NULL", (article_id,)
            ).fetchall():
                chunks = self.db.execute("SELECT count(*) FROM chunks WHERE article_uid = ?", (uid,)).fetchone()[0]
                self.db.execute("UPDATE articles SET removed_gen = ? WHERE uid = ?", (self.generation, uid))
                self.counts["articles"] -= 1
                self.counts["chunks"] -= chunks
                removed += 1
        return removed

    def add(
        self, article: Article, chunks: list[Chunk], vectors: np.ndarray, *, file: str | None, root: str | None
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        assert self._pending is not None
        cursor = self.db.execute(
            "INSERT INTO articles (id, title, date, day, source, url, author, origin, file, root, "
            "content_hash, copy_hash, indexed_at, added_gen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id, article.title, article.date, article.day, article.source, article.url, article.author,
                article.origin, file, root, article.content_hash, article.copy_hash, utc_now(), self.generation,
            ),
        )  # fmt: skip
        article_uid = int(cursor.lastrowid or 0)
        self.db.execute("INSERT INTO article_texts (uid, text) VALUES (?, ?)", (article_uid, article.text))
        source = self._source_code(article.source)
        uids = range(self._next_chunk, self._next_chunk + len(chunks))
        self._next_chunk += len(chunks)
        self.db.executemany(
            "INSERT INTO chunks (uid, id, article_uid, ordinal, start, end, text) VALUES (?,?,?,?,?,?,?)",
            [(u, c.id, article_uid, c.ordinal, c.start, c.end, c.text) for u, c in zip(uids, chunks, strict=True)],
        )
        title = title_counts(article.title)
        for uid, chunk, vector in zip(uids, chunks, vectors, strict=True):
            hashes, freqs, length = document(title, chunk.text)
            digest = row_hash(
                chunk.text, chunk.start, chunk.end, chunk.ordinal, article.id, article.title, article.date,
                article.source, article.url,
            )  # fmt: skip
            self._pending.add((chunk.id, uid, article_uid, digest, source, length), vector, (hashes, freqs))
            if len(self._pending) >= self.settings.segment_rows:  # inside an article too: a huge one is split
                self._flush()
        self.counts["articles"] += 1
        self.counts["chunks"] += len(chunks)

    def _source_code(self, name: str | None) -> int:
        if not name:
            return -1
        if name not in self._sources:
            cursor = self.db.execute("INSERT INTO sources (name) VALUES (?)", (name,))
            self._sources[name] = int(cursor.lastrowid or 0)
        return self._sources[name]

    def _flush(self) -> None:
        """Write the pending passages as a new segment (named by the commit, later)."""
        assert self._pending is not None and self.store is not None
        if not len(self._pending):
            return
        name = segment_name(self.reserve_segment())
        folder = self.store / SEGMENTS
        self.written.extend(folder / file_name(name, kind) for kind in (*KINDS, ANN))
        self.segments.append(self._pending.write(folder, name, ann.builder(self.settings.ann_min_rows)))
        self._pending = Pending(self.dimension)
        logger.debug("wrote segment %s, not yet named by a commit", name, extra=moment("segment-written"))

    def reserve_segment(self) -> int:
        """The number of a new segment, never one a commit of this store names."""
        self._next_segment += 1
        return self._next_segment - 1

    # -- publishing ----------------------------------------------------------------------------------------
    def merge(self, *, full: bool = False) -> int:
        """Merge segments as the tiered policy asks (all into one when ``full``): see :func:`.merging.merge_after`."""
        if self.db.in_transaction:  # optimizing without an update: the transaction begun for one is empty
            self.db.execute("ROLLBACK")
        return merge_after(self, full=full)

    def abort_merge(self) -> None:
        """Undo a merge that failed: its open transaction and the files it wrote (no commit names them)."""
        with contextlib.suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        for path in self.written:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self.written = []

    def commit(self) -> Commit:
        """Write the last segment, then publish everything in one commit; returns it."""
        self._flush()
        return self.publish(self._body(self.segments))

    def publish_merged(self, segments: list[dict[str, Any]]) -> Commit:
        """Publish a merge: the live generation's articles in ``segments`` (merging.py wrote the new one), as a new
        commit of the same generation that replaces its earlier ones."""
        assert self.base_body is not None
        self.db.execute("BEGIN IMMEDIATE")
        body = {key: value for key, value in self.base_body.items() if key not in ("checksum", "commit")}
        body["segments"] = segments
        body["checksum"] = body_checksum(body)
        return self.publish(body, merged=True)

    def publish(self, body: dict[str, Any], *, merged: bool = False) -> Commit:
        """The one way a commit becomes live, inside the transaction begun for it: the commit row, the new files'
        names on disk first (a rebuild's whole store renamed into place and ``CURRENT`` switched to it), then
        retention (:mod:`.retention`) forgets what no kept generation needs."""
        assert self.store is not None
        generation = int(body["generation"])
        number = self.db.execute(
            "INSERT INTO commits (generation, body) VALUES (?, ?)", (generation, json.dumps(body))
        ).lastrowid
        if merged:  # the same generation in other segments: its earlier commits go
            self.db.execute("DELETE FROM commits WHERE generation = ? AND number < ?", (generation, number))
        else:
            logger.debug("commit row of generation %d written, not committed", generation, extra=moment("committing"))
        if self._tmp is not None:
            self._publish_store()
        else:
            fsync_dir(self.store / SEGMENTS)  # the new files' names are on disk before the commit names them
            self.db.execute("COMMIT")
        self.written = []
        self._based_on(body)
        if merged:
            logger.debug("merge of generation %d committed", generation, extra=moment("merge-committed"))
        else:
            logger.info("published generation %d (%s)", generation, self.counts, extra=moment("published"))
        retention.clean(self.db, self.directory, self.store, oldest_kept(generation, self.keep_generations))
        assert self.base is not None
        return self.base

    def _based_on(self, body: dict[str, Any]) -> None:
        self.base_body, self.base = body, Commit.from_body(body, self.store)
        self.base_generation = self.base.generation
        self.segments = list(body["segments"])

    def _body(self, segments: list[dict[str, Any]]) -> dict[str, Any]:
        """The commit of this write's generation naming ``segments``, as stored (with its checksum)."""
        shared = Commit.stamped(self.generation, self.model, self.chunker, self.counts, self.roots).body()
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            **shared,
            "oldest_kept": oldest_kept(self.generation, self.keep_generations),
            "segments": segments,
        }
        body["checksum"] = body_checksum(body)
        return body

    @property
    def dimension(self) -> int:
        return self.model.dimension if self.model is not None else 0

    def _publish_store(self) -> None:
        """A rebuild's store: committed, fsynced, renamed into place, then named by ``CURRENT`` (:mod:`.layout`)."""
        assert self._tmp is not None
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.close()
        self._db = None
        final = self.directory / store_name(self.generation)
        rename_into_place(self._tmp, final)
        self._tmp, self._unpublished = None, final
        logger.debug("store %s renamed into place, CURRENT not yet switched", final.name, extra=moment("renamed"))
        switch_current(self.directory, final)
        self._unpublished = None
        self.store = final
        self._db = connect(final, readonly=False)
        self.db.execute("PRAGMA synchronous = FULL")

    def abort(self) -> None:
        """Drop an unpublished write (if any) and release the lock. Safe to call twice."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # give back what the rolled-back write took
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        for path in self.written:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self.written = []
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._unpublished is not None:
            # Switching CURRENT failed (a full disk, say): no reader can reach this store, and it holds space.
            shutil.rmtree(self._unpublished, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.directory / f"{CURRENT}.tmp").unlink(missing_ok=True)
            self._unpublished = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

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
import itertools
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
from ...errors import IndexCorruptError, IndexNotFoundError, StoreError
from ...settings import Settings, get_settings
from ..analyzer import ANALYZER, TITLE_WEIGHT
from ..records import row_hash
from ..writing import moment, utc_now, writer_lock
from . import ann, removals
from .layout import (
    CURRENT,
    DATABASE,
    LEGACY_PREFIX,
    LOCK,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    SEGMENTS,
    STORE_PREFIX,
    TMP_PREFIX,
    body_checksum,
    connect,
    current_store,
    disk_full,
    fsync_dir,
    fsync_file,
    load_commit,
    oldest_kept,
    store_name,
    store_number,
)
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
        model: dict[str, Any],
        chunker: dict[str, Any],
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
        self.base_manifest: dict[str, Any] | None = None  # the live commit this write starts from
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
        self._remove_leftovers(live)
        if live is not None and not self.fresh:
            self._open_live(live)
        else:
            self._create(live)
            if live is not None:
                removals.carry_over(self.db, live)
        if self.base_manifest is not None and not self.model:  # removing, or holding the lock: the index's own
            self.model, self.chunker = self.base_manifest["model"], self.base_manifest["chunker"]
        self.db.execute("BEGIN IMMEDIATE")
        self.generation = self.base_generation + 1
        self._sources = {name: code for code, name in self.db.execute("SELECT code, name FROM sources")}
        self._next_chunk = int(self.db.execute("SELECT coalesce(max(uid), 0) FROM chunks").fetchone()[0]) + 1
        self._pending = Pending(int(self.model.get("dimension", 0)))

    def _remove_leftovers(self, live: Path | None) -> None:
        for leftover in self.directory.glob(TMP_PREFIX + "*"):
            logger.info("removing unfinished store %s", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        if live is not None:
            # Renamed into place by a rebuild that died before switching CURRENT: nothing ever read it.
            for folder in self.directory.glob(STORE_PREFIX + "*"):
                if store_number(folder.name) > store_number(live.name):
                    logger.info("removing unpublished store %s", folder)
                    shutil.rmtree(folder, ignore_errors=True)

    def _open_live(self, store: Path) -> None:
        self._db = connect(store, readonly=False)
        self.store = store
        manifest = load_commit(self.db, store)
        # Sizes, as a reader checks them at open; the checksums of a segment are checked when a merge reads it.
        if problems := [p for record in manifest["segments"] for p in check_sizes(store / SEGMENTS, record)]:
            raise IndexCorruptError(
                "the live index is damaged, so it cannot be updated (rebuild it with `assistant index build`): "
                + "; ".join(problems)
            )
        self.base_manifest = manifest
        self.base_generation = int(manifest["generation"])
        self.roots = set(manifest.get("roots", []))
        self.segments = list(manifest["segments"])
        self.counts = dict(manifest["counts"])
        self.db.execute("PRAGMA synchronous = FULL")
        named = _named_segments(self.db)
        on_disk = {segment_number(p.name) for p in (store / SEGMENTS).iterdir()}
        self._next_segment = max([0, *named, *on_disk]) + 1
        self._remove_unnamed(store, named)

    def _create(self, live: Path | None) -> None:
        previous = 0
        if live is not None:
            with contextlib.suppress(StoreError, sqlite3.Error):
                db = connect(live, readonly=True)
                try:
                    previous = int(load_commit(db, live)["generation"])
                finally:
                    db.close()
        numbers = [store_number(p.name) for p in self.directory.glob(STORE_PREFIX + "*")]
        # An index of the previous version named its folders by generation: the numbers go on from there.
        legacy = [p.name.removeprefix(LEGACY_PREFIX) for p in self.directory.glob(LEGACY_PREFIX + "*")]
        numbers += [int(n) for n in legacy if n.isdigit()]
        self.base_generation = max([previous, *(n for n in numbers if n >= 0)])
        self._tmp = self.directory / f"{TMP_PREFIX}{store_name(self.base_generation + 1)}-{os.getpid()}"
        (self._tmp / SEGMENTS).mkdir(parents=True)
        self._db = connect(self._tmp, readonly=False, create=True)
        # Nothing reads this store before it is renamed into place: no journal until then, one fsync at the end.
        self._db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        self._db.executescript(SCHEMA_SQL + f"PRAGMA user_version = {SCHEMA_VERSION};")
        self._db.execute("INSERT INTO store VALUES ('created_at', ?)", (utc_now(),))
        self.store = self._tmp

    def _remove_unnamed(self, store: Path, named: set[int]) -> None:
        for path in (store / SEGMENTS).iterdir():
            if segment_number(path.name) not in named:
                logger.info("removing %s, which no commit names", path)
                path.unlink(missing_ok=True)

    # -- reading the state being changed -------------------------------------------------------------------
    def articles(self) -> dict[str, sqlite3.Row]:
        cursor = self.db.execute(
            "SELECT uid, id, title, url, content_hash, copy_hash, file, root, origin FROM articles "
            "WHERE removed_gen IS NULL"
        )
        cursor.row_factory = sqlite3.Row
        return {row["id"]: row for row in cursor}

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
        self._pending = Pending(int(self.model["dimension"]))
        logger.debug("wrote segment %s, not yet named by a commit", name, extra=moment("segment-written"))

    def reserve_segment(self) -> int:
        """The number of a new segment, never one a commit of this store names."""
        self._next_segment += 1
        return self._next_segment - 1

    # -- publishing ----------------------------------------------------------------------------------------
    def merge(self, *, full: bool = False) -> int:
        """Merge segments as the tiered policy asks (all into one when ``full``); returns how many merges ran.

        After an update has published, a merge that fails (a full disk, say) is logged and left to the next
        writer: the update stands. Optimizing (``full``) reports the failure.
        """
        from .merging import run

        if self.db.in_transaction:  # optimizing without an update: the transaction begun for one is empty
            self.db.execute("ROLLBACK")
        if full:
            return run(self, full=True)
        try:
            return run(self)
        except Exception as exc:
            logger.warning("merging segments failed, the next update will try again: %s", exc)
            self.abort_merge()
            return 0

    def abort_merge(self) -> None:
        """Undo a merge that failed: its open transaction and the files it wrote (no commit names them)."""
        with contextlib.suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        for path in self.written:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self.written = []

    def commit(self) -> dict[str, Any]:
        """Write the last segment, then publish everything in one commit; returns the commit."""
        assert self.store is not None
        self._flush()
        body = self.commit_body(self.generation, self.segments)
        self.db.execute("INSERT INTO commits (generation, body) VALUES (?, ?)", (self.generation, json.dumps(body)))
        logger.debug("commit row of generation %d written, not committed", self.generation, extra=moment("committing"))
        if self._tmp is not None:
            self._publish_store()
        else:
            fsync_dir(self.store / SEGMENTS)  # the new files' names are on disk before the commit names them
            self.db.execute("COMMIT")
        self.written = []
        logger.info("published generation %d (%s)", self.generation, self.counts, extra=moment("published"))
        self.base_manifest, self.base_generation = body, self.generation
        self.cleanup()
        return body

    def commit_body(self, generation: int, segments: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "generation": generation,
            "created_at": utc_now(),
            "model": self.model,
            "chunker": self.chunker,
            "lexicon": {"analyzer": ANALYZER, "title_weight": TITLE_WEIGHT},
            "counts": dict(self.counts),
            "oldest_kept": oldest_kept(generation, self.keep_generations),
            "roots": sorted(self.roots),
            "segments": segments,
        }
        body["checksum"] = body_checksum(body)
        return body

    def _publish_store(self) -> None:
        assert self._tmp is not None
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.close()
        self._db = None
        fsync_file(self._tmp / DATABASE)
        fsync_dir(self._tmp / SEGMENTS)
        fsync_dir(self._tmp)
        final = self.directory / store_name(self.generation)
        os.rename(self._tmp, final)
        self._tmp, self._unpublished = None, final
        fsync_dir(self.directory)
        logger.debug("store %s renamed into place, CURRENT not yet switched", final.name, extra=moment("renamed"))
        pointer = self.directory / f"{CURRENT}.tmp"
        pointer.write_text(final.name + "\n", encoding="utf-8")
        fsync_file(pointer)
        os.replace(pointer, self.directory / CURRENT)
        self._unpublished = None
        fsync_dir(self.directory)
        self.store = final
        self._db = connect(final, readonly=False)
        self.db.execute("PRAGMA synchronous = FULL")

    def cleanup(self) -> None:
        """Forget what no kept generation can see: old commits, tombstoned rows, files and stores no one names."""
        from .merging import purge

        assert self.store is not None
        oldest = oldest_kept(self.base_generation, self.keep_generations)
        purge(self.db, self.store, oldest)
        logger.debug("purged what generation %d no longer keeps", oldest, extra=moment("purged"))
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._remove_unnamed(self.store, _named_segments(self.db))
        # An older store holds the generations up to the next store's first one: gone once none of them is kept.
        stores = sorted((n, p) for p in self.directory.iterdir() if (n := store_number(p.name)) >= 0 and p.is_dir())
        stale = [p for (_, p), (after, _) in itertools.pairwise(stores) if after - 1 < oldest]
        legacy = [p for p in self.directory.glob(LEGACY_PREFIX + "*") if p.is_dir()]
        for folder in (*stale, *legacy):
            if folder != self.store:
                logger.info("removing %s, which no kept generation uses", folder)
                shutil.rmtree(folder, ignore_errors=True)

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


def _named_segments(db: sqlite3.Connection) -> set[int]:
    named: set[int] = set()
    for (body,) in db.execute("SELECT body FROM commits"):
        named.update(segment_number(record["name"]) for record in json.loads(body)["segments"])
    return named

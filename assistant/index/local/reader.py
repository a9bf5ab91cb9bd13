"""Reading one generation of the index: its commit, its segments (memory-mapped), its rows in SQLite.

Opening reads the commit, maps the segments it names (shared with other readers in the process) and finds the
tombstones the generation sees; it hashes nothing, so it costs the same at any size. The segments' checksums are
checked by a background thread from that moment, and every search waits for the segments it reads. Rows read from
SQLite are checked against the hash their segment keeps, so a damaged row is refused rather than shown.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import IndexCorruptError
from ...settings import Settings, get_settings
from ..analyzer import analyze
from ..candidates import Candidates, Window
from ..records import ChunkRow, Commit, generation_gone
from . import search
from .layout import SEGMENTS, connect, current_store, load_commit, store_number
from .postings import document_frequencies, term_hash
from .segments import live_rows, open_segment

__all__ = ["ChunkRow", "IndexReader", "kept_generations"]

logger = logging.getLogger(__name__)


_ARTICLE_COLUMNS = (
    "a.id AS id, a.title AS title, (SELECT text FROM main.article_texts t WHERE t.uid = a.uid) AS text, "
    "a.date AS date, a.day AS day, a.source AS source, a.url AS url, "
    "a.author AS author, a.origin AS origin, a.file AS file, a.root AS root, a.content_hash AS content_hash, "
    "a.copy_hash AS copy_hash, a.indexed_at AS indexed_at, a.uid AS uid"
)


OPEN_ATTEMPTS = 3


def _newest(db: sqlite3.Connection) -> int | None:
    try:
        row = db.execute("SELECT max(number) FROM main.commits").fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else row[0]


def _store_of(directory: Path, generation: int | None) -> Path:
    store = current_store(directory)
    if generation is None or generation >= store_number(store.name):
        return store
    kept = kept_generations(directory)
    older = sorted(
        (p for p in directory.iterdir() if 0 <= store_number(p.name) <= generation and p.is_dir()),
        key=lambda p: store_number(p.name),
    )
    if generation not in kept or not older:
        raise generation_gone(directory, generation, kept)
    return older[-1]


def kept_generations(directory: str | Path) -> list[int]:
    """The generations a reader can still be pinned to (``IndexReader.open(generation=)``), oldest first: the live
    one and the ``ASSISTANT_KEEP_GENERATIONS`` - 1 before it, as its commit records, whether they are in the live
    store or (after a rebuild) in the one before it."""
    store = current_store(Path(directory))
    db = connect(store, readonly=True)
    try:
        commit = load_commit(db, store)
    finally:
        db.close()
    live = int(commit["generation"])
    return list(range(max(1, int(commit.get("oldest_kept", live))), live + 1))


class IndexReader:
    """One generation of the index, open for reading. Safe to share between threads."""

    def __init__(
        self,
        store: Path,
        db: sqlite3.Connection,
        body: dict[str, Any],
        *,
        verify: bool = True,
        settings: Settings | None = None,
    ) -> None:
        self.path = store
        self.body = body  # the commit as stored: its segments and their checksums
        self.commit = Commit.from_body(body, store)
        self.generation = self.commit.generation
        self.commit_number = int(body["commit"])
        settings = settings or get_settings()
        # FAISS's tuning, this backend's own: how small a window is searched exactly, how many IVF lists are probed.
        self._exact_max_rows, self._probes = settings.exact_max_rows, settings.ann_probes
        self._db = db
        dimension = self.commit.model.dimension
        segments = [open_segment(store / SEGMENTS, record, dimension) for record in body["segments"]]
        dead = np.array(
            [row[0] for row in self.query(
                "SELECT uid FROM main.articles WHERE removed_gen IS NOT NULL AND removed_gen <= ?", (self.generation,)
            )],
            dtype=np.int64,
        )  # fmt: skip
        self.lives = [search.Live(s, live_rows(s, dead)) for s in segments]
        self.chunk_count = sum(live.count for live in self.lives)
        if self.chunk_count != self.commit.counts.chunks:
            raise IndexCorruptError(
                f"{store}: generation {self.generation} has {self.chunk_count} passages in its segments, the commit "
                f"says {self.commit.counts.chunks}"
            )
        lengths = sum(
            float(live.segment.lengths.sum() if live.live is None else live.segment.lengths[live.live].sum())
            for live in self.lives
        )
        self.average_length = lengths / max(1, self.chunk_count)
        visible = f"a.added_gen <= {self.generation} AND (a.removed_gen IS NULL OR a.removed_gen > {self.generation})"
        try:
            # Temporary views named like the tables: SQL run through this reader sees exactly its generation (an
            # article's text is looked up only by a query that asks for it).
            db.executescript(
                f"CREATE TEMP VIEW articles AS SELECT {_ARTICLE_COLUMNS} FROM main.articles a WHERE {visible};"
                "CREATE TEMP VIEW chunks AS SELECT c.id AS id, a.id AS article_id, c.ordinal AS ordinal, "
                "c.start AS start, c.end AS end, c.text AS text, c.uid AS uid FROM main.chunks c "
                "JOIN temp.articles a ON a.uid = c.article_uid;"
            )
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{store}: {exc}") from exc
        self._sources: tuple[str, ...] | None = None
        if verify:
            threading.Thread(target=self._verify_all, name="verify-segments", daemon=True).start()

    @classmethod
    def open(
        cls,
        directory: str | Path,
        *,
        generation: int | None = None,
        verify: bool = True,
        settings: Settings | None = None,
    ) -> IndexReader:
        """The live generation of the index in ``directory``, or ``generation`` while it is still kept.

        The live generation is opened again when a writer published a newer one and purged this one's files while
        it was being opened (with ASSISTANT_KEEP_GENERATIONS=1 one publish is enough): that is not damage.
        """
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            store = _store_of(Path(directory), generation)
            db = connect(store, readonly=True)
            newest = _newest(db)
            try:
                return cls(store, db, load_commit(db, store, generation), verify=verify, settings=settings)
            except IndexCorruptError:
                moved_on = current_store(Path(directory)) != store or _newest(db) != newest
                db.close()
                if generation is not None or not moved_on or attempt == OPEN_ATTEMPTS:
                    raise
                logger.info("generation of %s replaced while it was being opened: opening the new one", directory)
            except BaseException:
                db.close()
                raise
        raise AssertionError("not reached")

    def _verify_all(self) -> None:
        for live in sorted(self.lives, key=lambda live: live.segment.count):
            with contextlib.suppress(IndexCorruptError):  # logged by the segment; a search that needs it raises
                live.segment.verify()

    def verify(self) -> None:
        """Wait until every segment of this generation has been checked; IndexCorruptError if one is damaged."""
        for live in self.lives:
            live.segment.verify()

    def latest(self) -> tuple[str, int]:
        """(store, commit number) of what is live now, to tell whether a writer published since this opened."""
        store = current_store(self.path.parent)
        if store != self.path:
            return store.name, -1
        number = self.scalar("SELECT max(number) FROM main.commits")
        return store.name, int(number or -1)

    def is_latest(self) -> bool:
        return self.latest() == (self.path.name, self.commit_number)

    def close(self) -> None:
        self._db.close()

    # -- SQL -------------------------------------------------------------------------------------------------
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            cursor = self._db.execute(sql, tuple(params))
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.path}: {exc}") from exc

    def batches(self, sql: str, params: Iterable[Any] = (), size: int = 4096) -> Iterator[list[Any]]:
        """The rows of a query a few thousand at a time, for a pass over the whole generation."""
        try:
            cursor = self._db.execute(sql, tuple(params))
            while batch := cursor.fetchmany(size):
                yield batch
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.path}: {exc}") from exc

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def article(self, article_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM articles WHERE id = ?", (article_id,))
        return rows[0] if rows else None

    def sources(self) -> tuple[str, ...]:
        """The outlets this generation holds articles from, sorted."""
        if self._sources is None:
            rows = self.query("SELECT DISTINCT source FROM articles WHERE source IS NOT NULL")
            self._sources = tuple(sorted(row[0] for row in rows))
        return self._sources

    def source_codes(self, names: Iterable[str] | None) -> tuple[int, ...] | None:
        """The codes the segments keep for these outlets (None: any outlet)."""
        if names is None:
            return None
        wanted = sorted(set(names))
        marks = ",".join("?" * len(wanted))
        return tuple(row[0] for row in self.query(f"SELECT code FROM main.sources WHERE name IN ({marks})", wanted))

    # -- passages ----------------------------------------------------------------------------------------------
    def locate(self, ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """(segment, position) of each chunk id this generation holds."""
        wanted = np.unique(np.fromiter(ids, dtype=np.int64))
        found: dict[int, tuple[int, int]] = {}
        for at, live in enumerate(self.lives):
            # A segment may hold an article's old version (tombstoned) beside its new one, under the same chunk id.
            firsts = np.searchsorted(live.segment.ids, wanted, side="left")
            lasts = np.searchsorted(live.segment.ids, wanted, side="right")
            for chunk_id, first, last in zip(wanted.tolist(), firsts.tolist(), lasts.tolist(), strict=True):
                alive = [p for p in range(first, last) if live.live is None or live.live[p]]
                if alive:
                    found[chunk_id] = (at, alive[0])
        return found

    def chunk_rows(self, ids: Iterable[int], where: Mapping[int, tuple[int, int]] | None = None) -> dict[int, ChunkRow]:
        """The rows of these chunks (ids this generation does not hold are left out), each checked against the hash
        its segment keeps. ``where`` maps ids to (segment, position) when the caller knows them already."""
        ids = list(ids)
        wanted = set(ids)
        where = {**self.locate(i for i in ids if where is None or i not in where), **(where or {})}
        by_uid = {int(self.lives[s].segment.uids[p]): (i, s, p) for i, (s, p) in where.items() if i in wanted}
        uids = list(by_uid)
        rows: dict[int, ChunkRow] = {}
        for offset in range(0, len(uids), 500):
            part = uids[offset : offset + 500]
            marks = ",".join("?" * len(part))
            for found in self.query(
                "SELECT c.uid, c.id, a.id, c.ordinal, c.start, c.end, c.text, a.title, a.date, a.source, a.url "
                f"FROM main.chunks c JOIN main.articles a ON a.uid = c.article_uid WHERE c.uid IN ({marks})",
                part,
            ):
                chunk_id, segment, position = by_uid[found[0]]
                row = ChunkRow(*tuple(found)[1:])
                expected = int(self.lives[segment].segment.hashes[position])
                if row.id != chunk_id or row.checksum() != expected:
                    raise IndexCorruptError(
                        f"{self.path}: chunk {chunk_id} of {row.article_id!r} in the database does not match its "
                        f"checksum in segment {self.lives[segment].segment.name}"
                    )
                rows[chunk_id] = row
        missing = wanted & set(where) - set(rows)
        if missing:
            logger.warning("generation %s: %d chunks are no longer in the database", self.generation, len(missing))
        return rows

    # -- words -------------------------------------------------------------------------------------------------
    def stem_frequencies(self, stems: Iterable[str]) -> dict[str, int]:
        """Passages of this generation containing each stem; stems found nowhere are left out."""
        wanted = sorted({stem for stem in stems if stem})
        counts = document_frequencies(
            [live.part(self.average_length) for live in self.lives], [term_hash(s) for s in wanted]
        )
        return {stem: counts[term_hash(stem)] for stem in wanted if counts[term_hash(stem)]}

    # -- searching ---------------------------------------------------------------------------------------------
    def dense(self, vector: np.ndarray, n: int, window: Window) -> Candidates:
        codes = self.source_codes(window.sources)
        return search.dense(
            self.lives, vector, n, window, codes, exact_max_rows=self._exact_max_rows, probes=self._probes
        )

    def lexical(self, words: list[str], n: int, window: Window) -> Candidates:
        hashes = list(dict.fromkeys(term_hash(term) for word in words for term in analyze(word)))
        return search.lexical(self.lives, hashes, n, window, self.source_codes(window.sources), self.average_length)

    def first_chunks(self, article_ids: Iterable[str]) -> list[int]:
        wanted = list(dict.fromkeys(article_ids))
        marks = ",".join("?" * len(wanted))
        sql = f"SELECT id FROM chunks WHERE ordinal = 0 AND article_id IN ({marks})"
        return [row[0] for row in self.query(sql, wanted)] if wanted else []

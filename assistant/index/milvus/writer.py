"""Writing the next generation of a Milvus index, invisible to readers until its commit row is written.

New rows carry the generation being written, which no reader's filter admits until the commit names it. Removed
articles are listed in the commit (``dropping``), so readers stop seeing them at the same moment, and deleted from
Milvus right after; a rebuild raises the commit's ``floor`` instead, hiding every older row at once. A writer that
dies leaves rows of an unpublished generation, or deletes not done: the next writer removes or finishes them.
One writer at a time: a lock file beside a Milvus Lite folder; on a server, where Milvus has no lock to take, a
writer refuses to publish over a generation another writer published since it started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...documents import Article, Chunk
from ...errors import IndexCorruptError, IndexLockedError, IndexNotFoundError
from ...settings import Settings
from ..location import MilvusAddress
from ..records import ArticleRecord, ChunkerRecord, Commit, ModelRecord, Removal
from ..writing import moment, utc_now, writer_lock
from .connection import (
    ARTICLES,
    CHUNKS,
    META,
    NAMED,
    SCHEMA_VERSION,
    TERMS,
    UNUSED,
    Connection,
    fit,
)
from .reader import read_commit, visible
from .rows import Stored, record_of, removal_of
from .versions import (
    REMOVED,
    SOURCE,
    count_words,
    drop_forgotten,
    meta_row,
    meta_values,
    reset_unpublished,
    write_side_rows,
)

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["MilvusWriter"]

logger = logging.getLogger(__name__)

_BATCH = 512  # passages per insert
_DELETE_BATCH = 1000  # article uids per delete
_LISTED = 2000  # characters of a removed article's title, file and origin kept for `index info`
_WRITERS: set[str] = set()  # indexes this process is writing (a lock file does not stop a second thread)
_WRITERS_LOCK = threading.Lock()


class MilvusWriter:
    """The next generation of a Milvus index. Use as a context manager; ``commit()`` publishes it."""

    def __init__(
        self,
        address: MilvusAddress,
        *,
        model: ModelRecord | None,
        chunker: ChunkerRecord | None,
        fresh: bool,
        settings: Settings,
    ) -> None:
        self.address = address
        self.model = model  # None: a removal or a merge, which takes the index's own
        self.chunker = chunker
        self.fresh = fresh
        self.settings = settings
        self.base_body: dict[str, Any] | None = None  # the live commit this write starts from, as stored
        self.base: Commit | None = None  # the same, in the terms both backends share
        self.roots: set[str] = set()
        self.generation = 0
        self.counts = {"articles": 0, "chunks": 0}
        self._connection: Connection | None = None
        self._file_lock: BaseFileLock | None = None
        self._held = False
        self._live: dict[str, dict[str, Any]] | None = None  # the live articles, read once
        self._added: dict[str, tuple[int, int, str | None]] = {}  # id -> (uid, chunks, source) of this write
        self._dropping: list[int] = []
        self._outlets: dict[str, dict[str, int]] = {}
        self._published_outlets: dict[str, Any] = {}  # as the live generation sees them
        self._published_removed: dict[str, Any] = {}
        self._rows: list[dict[str, Any]] = []  # passages and articles waiting to be inserted
        self._articles: list[dict[str, Any]] = []
        self._remember: dict[str, dict[str, Any]] = {}
        self._df: Counter[str] = Counter()  # passages per stem this write adds (or, below zero, removes)
        self._forget: set[str] = set()
        self._next_uid = 1
        self._published = False

    @property
    def connection(self) -> Connection:
        assert self._connection is not None, "writer not started"
        return self._connection

    def __enter__(self) -> MilvusWriter:
        self.begin()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.abort()

    # -- starting --------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self._lock()
        try:
            self._connection = Connection(self.address, self.settings)
            self._start()
        except BaseException:
            self.abort()
            raise

    def _lock(self) -> None:
        key = str(self.address)
        with _WRITERS_LOCK:
            if key in _WRITERS:
                raise IndexLockedError(f"the index at {key} is being updated; try again when it finishes")
            _WRITERS.add(key)
        self._held = True
        if self.address.lite:
            self._file_lock = writer_lock(Path(self.address.uri.rstrip("/") + ".lock"), key)

    def _start(self) -> None:
        connection = self.connection
        commit = None
        if connection.exists():
            connection.load(META)
            commit = read_commit(connection)
            if commit is not None and commit.get("schema_version") != SCHEMA_VERSION:
                self._upgrade(commit)
        elif self.model is None:  # removing or optimizing: there must be an index already
            raise IndexNotFoundError(f"no index at {self.address}")
        base = int(commit["generation"]) if commit is not None else 0
        connection.use(commit.get("collections") if commit is not None else None)
        if self.model is not None:
            have = connection.dimension()  # also refuses a collection of that name that is not ours
            prefix = self.address.collection
            if self.fresh and have is not None and have != self.model.dimension:
                # A rebuild with a model of another dimension: new collections, published by its commit.
                connection.use({kind: f"{prefix}_{kind}_g{base + 1}" for kind in NAMED})
            elif self.fresh and commit is not None:  # a rebuild counts its words anew, beside the live counts
                connection.use({TERMS: f"{prefix}_{TERMS}_g{base + 1}"})
            if self.fresh or commit is None:  # an update with another model is refused by update.check_model
                connection.create(self.model.dimension)
        connection.load()
        if commit is not None:
            self._finish_deletes(commit)
            self._next_uid = int(commit.get("next_uid", 1))
            if not self.fresh:
                self.base_body, self.base = commit, Commit.from_body(commit, self.address)
                self.counts = dict(commit["counts"])
                self.roots = set(commit.get("roots", []))
                if self.model is None:
                    self.model, self.chunker = self.base.model, self.base.chunker
        # Left by a rebuild that published and died before dropping its predecessors, or by one that died early.
        connection.drop_others(keep=(commit or {}).get("collections", {}).values())
        # Rows of a generation never published: a writer died before its commit.
        for kind in (CHUNKS, ARTICLES):
            connection.delete(kind, f"gen > {base}")
        if reset := reset_unpublished(connection, base):
            logger.info("put back %d outlet, removal and word-count rows an unpublished write changed", reset)
        drop_forgotten(connection, base)
        self.generation = base + 1
        self._base_generation = base
        self._published_outlets = meta_values(connection, SOURCE, base) if commit is not None else {}
        self._published_removed = meta_values(connection, REMOVED, base) if commit is not None else {}
        # A rebuild counts articles anew but keeps the outlets' codes.
        self._outlets = {k: {**v, "articles": 0} if self.fresh else dict(v) for k, v in self._published_outlets.items()}

    def _upgrade(self, commit: dict[str, Any]) -> None:
        """An index an older version wrote (another schema). An update is refused; a rebuild makes the meta
        collection anew in this schema first, keeping the old commit (so that the rebuild goes on from its
        generation, and readers keep refusing it until the rebuild publishes) and the outlets and removals."""
        found = commit.get("schema_version")
        if not self.fresh or self.model is None:
            raise IndexCorruptError(
                f"{self.address} holds an index of schema {found}, this version writes {SCHEMA_VERSION}: rebuild it "
                f"with `assistant index build --index {self.address}`"
            )
        if "gen" in self.connection.fields(META):
            return  # made anew already, by a rebuild that did not finish
        logger.warning("rebuilding %s, an index of schema %s: its meta collection is made anew", self.address, found)
        kept = self.connection.query(META, 'key like "source/%" or key like "removed/%"', ["key", "value"])
        self.connection.recreate(META)
        generation = int(commit["generation"])
        rows = [meta_row(row["key"], json.loads(row["value"]), None, generation) for row in kept]
        rows.append({"key": "commit", "value": json.dumps(commit), "gen": 0, "unused": UNUSED})
        self.connection.upsert(META, rows)

    def _finish_deletes(self, commit: dict[str, Any]) -> None:
        """Delete what a published commit hides but a writer did not get to delete (it died meanwhile)."""
        dropping = [int(uid) for uid in commit.get("dropping", [])]
        floor = int(commit.get("floor", 0))
        if not dropping and not floor:
            return
        self._delete(dropping, floor)
        commit = {**commit, "dropping": [], "floor": 0}  # what they hid is gone: nothing left to filter out
        self.connection.upsert(META, [{"key": "commit", "value": json.dumps(commit), "gen": 0, "unused": UNUSED}])

    def _delete(self, uids: list[int], floor: int) -> None:
        for offset in range(0, len(uids), _DELETE_BATCH):
            part = uids[offset : offset + _DELETE_BATCH]
            self.connection.delete(CHUNKS, f"article_uid in {part}")
            self.connection.delete(ARTICLES, f"uid in {part}")
        if floor:
            for kind in (CHUNKS, ARTICLES):
                self.connection.delete(kind, f"gen < {floor}")

    # -- reading the state being changed ---------------------------------------------------------------------
    def articles(self) -> dict[str, ArticleRecord]:
        return {article_id: record_of(row) for article_id, row in self._live_articles().items()}

    def _live_articles(self) -> dict[str, dict[str, Any]]:
        """The live articles, read once; removing one takes it out."""
        if self._live is None:
            self._live = {}
            if self.base_body is not None:
                fields = ["uid", "id", "title", "url", "content_hash", "copy_hash", "file", "root", "origin"]
                expr, upper = visible(self.base_body, "uid"), int(self.base_body.get("next_uid", 1))
                for batch in self.connection.batches(ARTICLES, expr, [*fields, "chunks", "source"], upper):
                    for row in batch:
                        record = {k: (row[k] if row[k] != "" or k == "title" else None) for k in row}
                        self._live[row["id"]] = record
        return self._live

    def removed(self) -> dict[str, Removal]:
        found = {**self._published_removed, **self._remember}
        return {key: removal_of(item) for key, item in found.items() if key not in self._forget}

    def remember(self, articles: Iterable[ArticleRecord]) -> None:
        stamp = utc_now()
        for article in articles:
            self._forget.discard(article.id)
            # What `index info` lists of a removal: a title, file and origin cut short, so that a versioned row (this
            # removal and the one before, versions.py) fits in one Milvus VARCHAR even for a hostile page's title.
            item = {"title": article.title, "file": article.file, "origin": article.origin}
            item = {key: value[:_LISTED] if isinstance(value, str) else value for key, value in item.items()}
            self._remember[article.id] = {"id": article.id, **item, "removed_at": stamp}

    def forget(self, article_ids: Iterable[str]) -> None:
        for article_id in article_ids:
            self._remember.pop(article_id, None)
            self._forget.add(article_id)

    # -- changes ---------------------------------------------------------------------------------------------
    def remove(self, article_ids: Iterable[str]) -> int:
        removed = 0
        live = self._live_articles()
        for article_id in article_ids:
            if article_id in self._added:  # added by this write, which no reader sees: deleted at once
                uid, chunks, source = self._added.pop(article_id)
                self._flush()
                self._uncount(uid, chunks)
                self._delete([uid], floor=0)
            elif article_id in live:
                row = live.pop(article_id)
                uid, chunks, source = int(row["uid"]), int(row["chunks"]), row["source"]
                self._uncount(uid, chunks)
                self._dropping.append(uid)
            else:
                continue
            self.counts["articles"] -= 1
            self.counts["chunks"] -= chunks
            if source:
                self._outlets[source]["articles"] -= 1
            removed += 1
        return removed

    def _uncount(self, article_uid: int, chunks: int) -> None:
        """Take an article's passages out of the word counts."""
        # An article's passages have the uids after its own: a huge one is read a window at a time (Milvus answers
        # at most 16,384 rows per query).
        end = article_uid + 1 + chunks
        for batch in self.connection.batches(
            CHUNKS, f"article_uid == {article_uid}", ["words"], end, lower=article_uid
        ):
            for row in batch:
                self._df.subtract(set(row["words"].split()))

    def add(
        self, article: Article, chunks: list[Chunk], vectors: np.ndarray, *, file: str | None, root: str | None
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        article_uid = self._next_uid
        self._next_uid += 1 + len(chunks)
        source = fit(article.source)
        code = -1
        if source:
            outlet = self._outlets.setdefault(
                source, {"code": 1 + max((o["code"] for o in self._outlets.values()), default=0), "articles": 0}
            )
            outlet["articles"] += 1
            code = outlet["code"]
        stored = Stored(article, file, root, article_uid, code, self.generation)
        self._articles.append(stored.article_row(len(chunks)))
        for row in stored.passage_rows(chunks, vectors):
            self._df.update(set(row["words"].split()))
            self._rows.append(row)
            if len(self._rows) >= min(_BATCH, self.settings.segment_rows):
                self._flush()
        self._added[article.id] = (article_uid, len(chunks), source)
        self.counts["articles"] += 1
        self.counts["chunks"] += len(chunks)

    def _flush(self) -> None:
        rows, self._rows = self._rows, []
        articles, self._articles = self._articles, []
        self.connection.insert(ARTICLES, articles)
        self.connection.insert(CHUNKS, rows)
        if rows or articles:
            logger.debug("inserted %d passages, not yet published", len(rows), extra=moment("rows-inserted"))

    # -- publishing ------------------------------------------------------------------------------------------
    def commit(self) -> Commit:
        self._flush()
        latest = read_commit(self.connection)
        if latest is not None and int(latest["generation"]) != self._base_generation:
            raise IndexLockedError(
                f"another writer published generation {latest['generation']} of {self.address} while this one "
                "worked; nothing of this write was published: run it again"
            )
        connection = self.connection
        # Versioned (versions.py): the live commit's readers, and the next writer if this one dies, see the values
        # before; this commit publishes these.
        outlets = {name: (outlet, self._published_outlets.get(name)) for name, outlet in self._outlets.items()}
        removed: dict[str, tuple[Any, Any]] = {
            k: (v, self._published_removed.get(k)) for k, v in self._remember.items()
        }
        removed |= {key: (None, self._published_removed[key]) for key in self._forget if key in self._published_removed}
        write_side_rows(connection, self.generation, outlets, removed)
        count_words(connection, self._df, self._base_generation, self.generation)
        self._df.clear()
        shared = Commit.stamped(self.generation, self.model, self.chunker, self.counts, self.roots).body()
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            **shared,
            "next_uid": self._next_uid,
            "floor": self.generation if self.fresh else 0,
            "collections": {kind: self.connection.names[kind] for kind in NAMED},
            "dropping": sorted(self._dropping),
        }
        # The one write that publishes: from here readers see this generation, and not what it drops.
        logger.debug("publishing generation %d", self.generation, extra=moment("committing"))
        connection.upsert(META, [{"key": "commit", "value": json.dumps(body), "gen": 0, "unused": UNUSED}])
        self._published = True
        logger.info(
            "published generation %d of %s (%s)", self.generation, self.address, self.counts, extra=moment("published")
        )
        self._finish_deletes(body)
        body.update(dropping=[], floor=0)
        connection.drop_others()
        logger.debug("deleted what generation %d drops", self.generation, extra=moment("purged"))
        self.base_body, self.base = body, Commit.from_body(body, self.address)
        return self.base

    def merge(self, *, full: bool = False) -> int:
        """Milvus merges its own segments (compaction); asked to optimize, it is asked to compact now."""
        if full:
            with contextlib.suppress(Exception):  # Milvus Lite compacts by itself and may not take the request
                self.connection.client.compact(self.connection.names[CHUNKS])
        return 0

    def abort(self) -> None:
        """Drop an unpublished write (its rows are invisible; removed now rather than by the next writer)."""
        if self._connection is not None:
            if not self._published and self.generation:
                with contextlib.suppress(Exception):
                    for kind in (CHUNKS, ARTICLES):
                        self._connection.delete(kind, f"gen >= {self.generation}")
            self._connection.close()
            self._connection = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None
        if self._held:
            with _WRITERS_LOCK:
                _WRITERS.discard(str(self.address))
            self._held = False

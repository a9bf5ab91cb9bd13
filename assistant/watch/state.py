"""Where the watched feeds and questions live between rounds and restarts: one SQLite file beside the index.

SQLite, not JSON: the page's round thread, a page user adding a feed and ``assistant watch`` in a terminal may
write at the same moment, and SQLite gives each its transaction. Every call opens its own connection, so any
thread may call.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError, IndexCorruptError
from ..index.location import milvus_address
from ..settings import Settings
from .records import FeedStatus, Snapshot, WatchedQuestion

__all__ = ["SCHEMA_VERSION", "WatchState", "utc_now", "watch_folder"]

SCHEMA_VERSION = 1
_FILE = "watch.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, added_at TEXT NOT NULL, trusted INTEGER NOT NULL, etag TEXT, last_modified TEXT,
    last_fetched TEXT, last_error TEXT, failures INTEGER NOT NULL DEFAULT 0, next_due REAL NOT NULL DEFAULT 0,
    articles_added INTEGER NOT NULL DEFAULT 0, title TEXT, ttl_minutes INTEGER
);
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY, feed TEXT NOT NULL, article_id TEXT NOT NULL, digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, filters TEXT NOT NULL, created_at TEXT NOT NULL,
    now_answer TEXT NOT NULL, then_answer TEXT, changes TEXT NOT NULL DEFAULT '[]', changed_at TEXT,
    unseen INTEGER NOT NULL DEFAULT 0
);
"""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def watch_folder(index_dir: str | Path | None, settings: Settings) -> Path:
    """The folder of the watch state for an index: the setting, else watch/ inside a local index's folder, beside
    a Milvus Lite folder, or in the corpus folder for a Milvus server (one per collection)."""
    if settings.watch_dir is not None:
        return settings.watch_dir
    location = index_dir if index_dir is not None else settings.index_dir
    address = milvus_address(location)
    if address is None:
        return Path(location) / "watch"
    if address.lite:
        return Path(address.uri + ".watch")
    return settings.corpus_dir / f".watch-{address.collection}"


class WatchState:
    """The feeds and questions watched for one index (see :func:`watch_folder`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / _FILE
        self.entries = folder / "entries"  # each feed entry as last read, the files the index reads them from

    @staticmethod
    def exists(folder: Path) -> bool:
        """Whether anything was ever watched here (without creating the folder)."""
        return (folder / _FILE).is_file()

    @classmethod
    def open(cls, folder: Path) -> WatchState:
        state = cls(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the watch folder {folder}: {exc.strerror}") from exc
        with state._connect() as db:
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise IndexCorruptError(
                    f"{state.path} has watch schema version {row[0]}; this version reads {SCHEMA_VERSION}"
                )
        return state

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open {self.path}: {exc}") from exc
        try:
            with db:  # one transaction: committed at the end of the block, rolled back on an error
                yield db
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.path} cannot be read: {exc}") from exc
        finally:
            db.close()

    # -- feeds ------------------------------------------------------------------------------------------
    def feeds(self) -> list[FeedStatus]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT url, added_at, trusted, etag, last_modified, last_fetched, last_error, failures, next_due, "
                "articles_added, title, ttl_minutes FROM feeds ORDER BY added_at, url"
            ).fetchall()
        return [FeedStatus(r[0], r[1], bool(r[2]), *r[3:]) for r in rows]

    def add_feed(self, url: str, *, trusted: bool) -> bool:
        """Watch ``url``; False when it is watched already (a trusted naming makes it trusted)."""
        with self._connect() as db:
            known = db.execute("SELECT trusted FROM feeds WHERE url = ?", (url,)).fetchone()
            if known is not None:
                if trusted and not known[0]:
                    db.execute("UPDATE feeds SET trusted = 1 WHERE url = ?", (url,))
                return False
            db.execute("INSERT INTO feeds (url, added_at, trusted) VALUES (?, ?, ?)", (url, utc_now(), int(trusted)))
            return True

    def remove_feed(self, url: str) -> bool:
        """Stop watching ``url`` (its articles stay in the index); False when it was not watched."""
        with self._connect() as db:
            return db.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount > 0

    def save_feeds(self, feeds: list[FeedStatus]) -> None:
        """Store what a round learnt of each feed (validators, errors, when next due), in one transaction; a feed
        removed meanwhile stays removed."""
        with self._connect() as db:
            db.executemany(
                "UPDATE feeds SET etag = ?, last_modified = ?, last_fetched = ?, last_error = ?, failures = ?, "
                "next_due = ?, articles_added = ?, title = ?, ttl_minutes = ? WHERE url = ?",
                [
                    (
                        f.etag,
                        f.last_modified,
                        f.last_fetched,
                        f.last_error,
                        f.failures,
                        f.next_due,
                        f.articles_added,
                        f.title,
                        f.ttl_minutes,
                        f.url,
                    )
                    for f in feeds
                ],
            )

    def published(self) -> list[tuple[str, str, str, str]]:
        """The entries as last published in the index: (file, feed, article id, digest of the entry)."""
        with self._connect() as db:
            return [tuple(row) for row in db.execute("SELECT path, feed, article_id, digest FROM entries")]

    def save_published(self, entries: list[tuple[str, str, str, str]]) -> None:
        """Remember entries (path, feed, article id, digest) as published: only once their generation is live, so
        a round that dies before publishing sends them again."""
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", entries)

    # -- questions --------------------------------------------------------------------------------------
    def questions(self) -> list[WatchedQuestion]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, question, filters, created_at, now_answer, then_answer, changes, changed_at, unseen "
                "FROM questions ORDER BY id"
            ).fetchall()
        return [_question(row) for row in rows]

    def add_question(self, question: WatchedQuestion) -> WatchedQuestion:
        """Store a new watched question; the same question with the same filters is not stored twice."""
        filters = _filters_json(question)
        with self._connect() as db:
            known = db.execute(
                "SELECT id FROM questions WHERE question = ? AND filters = ?", (question.question, filters)
            ).fetchone()
            if known is not None:
                return replace(question, id=int(known[0]))
            cursor = db.execute(
                "INSERT INTO questions (question, filters, created_at, now_answer) VALUES (?, ?, ?, ?)",
                (question.question, filters, question.created_at, json.dumps(question.now.to_dict())),
            )
            return replace(question, id=int(cursor.lastrowid or 0))

    def remove_question(self, question_id: int) -> bool:
        with self._connect() as db:
            return db.execute("DELETE FROM questions WHERE id = ?", (question_id,)).rowcount > 0

    def save_question(self, question: WatchedQuestion) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE questions SET now_answer = ?, then_answer = ?, changes = ?, changed_at = ?, unseen = ? "
                "WHERE id = ?",
                (
                    json.dumps(question.now.to_dict()),
                    json.dumps(question.then.to_dict()) if question.then else None,
                    json.dumps(list(question.changes)),
                    question.changed_at,
                    int(question.unseen),
                    question.id,
                ),
            )

    def mark_seen(self, question_id: int) -> None:
        with self._connect() as db:
            db.execute("UPDATE questions SET unseen = 0 WHERE id = ?", (question_id,))


def _filters_json(question: WatchedQuestion) -> str:
    return json.dumps(
        {"sources": list(question.sources), "since": question.since, "until": question.until}, sort_keys=True
    )


def _question(row: tuple[object, ...]) -> WatchedQuestion:
    qid, text, filters, created, now, then, changes, changed_at, unseen = row
    chosen = json.loads(str(filters))
    return WatchedQuestion(
        id=int(str(qid)),
        question=str(text),
        created_at=str(created),
        now=Snapshot.from_dict(json.loads(str(now))),
        sources=tuple(chosen.get("sources") or ()),
        since=chosen.get("since"),
        until=chosen.get("until"),
        then=Snapshot.from_dict(json.loads(str(then))) if then else None,
        changes=tuple(json.loads(str(changes))),
        changed_at=str(changed_at) if changed_at else None,
        unseen=bool(unseen),
    )

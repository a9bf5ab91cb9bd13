"""Removals a user asked for (`index remove`), remembered in the store so that an update does not bring them back.

An update of a removed article's folder keeps it out (listed in ``kept_out``) until its file is named itself in an
update; a rebuild carries the list over. ``index info`` lists them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from ...errors import StoreError
from ..records import ArticleRecord, Removal
from ..writing import utc_now
from .layout import connect

__all__ = ["Remembering", "carry_over", "forget", "remember", "removed"]


def removed(db: sqlite3.Connection) -> dict[str, Removal]:
    """The removed articles, by id."""
    rows = db.execute("SELECT id, title, file, origin, removed_at FROM removed")
    return {row[0]: Removal(*row) for row in rows}


def remember(db: sqlite3.Connection, articles: Iterable[ArticleRecord]) -> None:
    """Record articles as removed by the user, now."""
    stamp = utc_now()
    db.executemany(
        "INSERT OR REPLACE INTO removed (id, title, file, origin, removed_at) VALUES (?,?,?,?,?)",
        [(a.id, a.title, a.file, a.origin, stamp) for a in articles],
    )


def forget(db: sqlite3.Connection, article_ids: Iterable[str]) -> None:
    """Undo removals: these articles may be indexed again."""
    db.executemany("DELETE FROM removed WHERE id = ?", [(article_id,) for article_id in article_ids])


def carry_over(db: sqlite3.Connection, live: Path) -> None:
    """A rebuild starts empty but keeps the live store's removals: a removal lasts until it is undone."""
    try:
        source = connect(live, readonly=True)
        try:
            rows = source.execute("SELECT id, title, file, origin, removed_at FROM removed").fetchall()
        finally:
            source.close()
    except (sqlite3.Error, StoreError):  # a damaged or outdated index being replaced
        return
    db.executemany("INSERT OR REPLACE INTO removed VALUES (?,?,?,?,?)", rows)


class Remembering:
    """The removals a local writer keeps, in its database (``db``)."""

    @property
    def db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def removed(self) -> dict[str, Removal]:
        return removed(self.db)

    def remember(self, articles: Iterable[ArticleRecord]) -> None:
        remember(self.db, articles)

    def forget(self, article_ids: Iterable[str]) -> None:
        forget(self.db, article_ids)

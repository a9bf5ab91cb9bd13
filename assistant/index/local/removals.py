"""Removals a user asked for (`index remove`), remembered in the store so that an update does not bring them back.

An update of a removed article's folder keeps it out (listed in ``kept_out``) until its file is named itself in an
update; a rebuild carries the list over. ``index info`` lists them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import StoreError
from ..writing import utc_now
from .layout import connect

__all__ = ["Remembering", "carry_over", "forget", "remember", "removed"]


def removed(db: sqlite3.Connection) -> dict[str, sqlite3.Row]:
    """The removed articles, by id."""
    cursor = db.execute("SELECT id, title, file, origin, removed_at FROM removed")
    cursor.row_factory = sqlite3.Row
    return {row["id"]: row for row in cursor}


def remember(db: sqlite3.Connection, rows: Iterable[Any]) -> None:
    """Record articles (rows with their id, title, file and origin) as removed by the user, now."""
    stamp = utc_now()
    db.executemany(
        "INSERT OR REPLACE INTO removed (id, title, file, origin, removed_at) VALUES (?,?,?,?,?)",
        [(row["id"], row["title"], row["file"], row["origin"], stamp) for row in rows],
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

    def removed(self) -> dict[str, sqlite3.Row]:
        return removed(self.db)

    def remember(self, rows: Iterable[Any]) -> None:
        remember(self.db, rows)

    def forget(self, article_ids: Iterable[str]) -> None:
        forget(self.db, article_ids)

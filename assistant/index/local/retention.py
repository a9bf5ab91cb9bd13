"""Retention: what no kept generation can see is forgotten once a commit is published.

Old commits (older than the kept generations), tombstoned articles no kept commit's segments hold, segment files no
commit names (a writer or a merge that died before its commit), and stores older than the kept generations (a
rebuild's predecessor, once none of its generations is kept; an index of the previous layout). The writer runs it
after each commit it publishes (:meth:`.writer.IndexWriter.publish`); readers of a kept generation never lose a
file they read.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from ...arrays import mapped_array
from ..writing import moment
from .layout import LEGACY_PREFIX, SEGMENTS, STORE_PREFIX, TMP_PREFIX, store_number
from .segments import file_name, segment_number

__all__ = ["clean", "named_segments", "purge", "remove_leftovers", "remove_unnamed"]

logger = logging.getLogger(__name__)


def clean(db: sqlite3.Connection, directory: Path, store: Path, oldest: int) -> None:
    """Forget what generations older than ``oldest`` alone could see: commits, tombstoned rows, files, stores."""
    purge(db, store, oldest)
    logger.debug("purged what generation %d no longer keeps", oldest, extra=moment("purged"))
    with contextlib.suppress(sqlite3.Error):
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    remove_unnamed(store, named_segments(db))
    # An older store holds the generations up to the next store's first one: gone once none of them is kept.
    stores = sorted((n, p) for p in directory.iterdir() if (n := store_number(p.name)) >= 0 and p.is_dir())
    stale = [p for (_, p), (after, _) in itertools.pairwise(stores) if after - 1 < oldest]
    legacy = [p for p in directory.glob(LEGACY_PREFIX + "*") if p.is_dir()]
    for folder in (*stale, *legacy):
        if folder != store:
            logger.info("removing %s, which no kept generation uses", folder)
            shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers(directory: Path, live: Path | None) -> None:
    """What a writer that died left beside the live store (``live``): a temporary store, or a store renamed into
    place by a rebuild that died before switching ``CURRENT`` (nothing ever read it)."""
    for leftover in directory.glob(TMP_PREFIX + "*"):
        logger.info("removing unfinished store %s", leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    if live is not None:
        for folder in directory.glob(STORE_PREFIX + "*"):
            if store_number(folder.name) > store_number(live.name):
                logger.info("removing unpublished store %s", folder)
                shutil.rmtree(folder, ignore_errors=True)


def named_segments(db: sqlite3.Connection) -> set[int]:
    """The numbers of the segments some commit of this store names."""
    named: set[int] = set()
    for (body,) in db.execute("SELECT body FROM commits"):
        named.update(segment_number(record["name"]) for record in json.loads(body)["segments"])
    return named


def remove_unnamed(store: Path, named: set[int]) -> None:
    """Segment files no commit names: written by a writer (or a merge) that did not publish them."""
    for path in (store / SEGMENTS).iterdir():
        if segment_number(path.name) not in named:
            logger.info("removing %s, which no commit names", path)
            path.unlink(missing_ok=True)


def purge(db: sqlite3.Connection, store: Path, oldest: int) -> int:
    """Forget commits older than generation ``oldest``, and the tombstoned articles no kept commit's segments hold;
    returns how many articles were forgotten."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM commits WHERE generation < ?", (oldest,))
        candidates = np.array(
            [row[0] for row in db.execute(
                "SELECT uid FROM articles WHERE removed_gen IS NOT NULL AND removed_gen <= ?", (oldest,)
            )],
            dtype=np.int64,
        )  # fmt: skip
        if len(candidates):
            records = {
                r["name"]: r for (body,) in db.execute("SELECT body FROM commits") for r in json.loads(body)["segments"]
            }
            for record in records.values():
                held = mapped_array(store / SEGMENTS / file_name(record["name"], "rows"))["article"]
                candidates = candidates[~np.isin(candidates, held)]
                if not len(candidates):
                    break
            for offset in range(0, len(candidates), 500):
                part = candidates[offset : offset + 500].tolist()
                marks = ",".join("?" * len(part))
                db.execute(f"DELETE FROM chunks WHERE article_uid IN ({marks})", part)
                db.execute(f"DELETE FROM article_texts WHERE uid IN ({marks})", part)
                db.execute(f"DELETE FROM articles WHERE uid IN ({marks})", part)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return len(candidates)

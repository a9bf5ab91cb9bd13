"""What ``assistant index verify`` checks, beyond what opening checks.

Opening a generation checks the commit row's own checksum, that every segment file it names is there with its
recorded size and a readable header, and that the segments hold as many live passages as the commit says; the
segment checksums are checked in the background before a segment is first searched, and every row read from SQLite
is checked against the hash its segment keeps. ``verify`` does all of that at once, for every kept commit, and adds
SQLite's ``PRAGMA integrity_check``, every live chunk row of the database against its segment's hash, that the
database and the segments hold exactly the same live passages, and the counts.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from ...errors import IndexCorruptError
from ..records import Commit, IndexCheck, row_hash
from .layout import DATABASE, SEGMENTS, body_checksum, connect, current_store, load_commit
from .reader import IndexReader
from .segments import Segment, check_sizes

__all__ = ["check_index", "deep_check"]


def check_index(directory: str | Path) -> IndexCheck:
    """The live commit and every problem of the index in ``directory``; no problems means every check passed."""
    store = current_store(Path(directory))
    try:
        db = connect(store, readonly=True)
    except IndexCorruptError as exc:
        return IndexCheck(None, (str(exc),))
    try:
        try:
            body = load_commit(db, store)
            commit = Commit.from_body(body, store)
        except IndexCorruptError as exc:
            return IndexCheck(None, (str(exc),))
        problems = _kept_commits(db, store)
        if problems:
            return IndexCheck(commit, tuple(problems))
        try:
            reader = IndexReader(store, db, body, verify=False)
        except IndexCorruptError as exc:
            return IndexCheck(commit, (str(exc),))
        return IndexCheck(commit, tuple(deep_check(reader)))
    finally:
        db.close()


def _kept_commits(db: sqlite3.Connection, store: Path) -> list[str]:
    """Every kept commit readable, and every file it names there with its size."""
    problems = []
    try:
        rows = db.execute("SELECT number, body FROM commits").fetchall()
    except sqlite3.DatabaseError as exc:
        return [f"{store / DATABASE}: {exc}"]
    for number, text in rows:
        try:
            body = json.loads(text)
        except ValueError:
            problems.append(f"{store / DATABASE}: commit {number} is unreadable")
            continue
        if body.get("checksum") != body_checksum(body):
            problems.append(f"{store / DATABASE}: commit {number} does not match its own checksum")
            continue
        for record in body["segments"]:
            problems.extend(p for p in check_sizes(store / SEGMENTS, record) if p not in problems)
    return problems


def deep_check(reader: IndexReader) -> list[str]:
    """Checksums of every segment file, SQLite's integrity, every live row against its segment, counts."""
    problems: list[str] = []
    dimension = reader.commit.model.dimension
    seen: set[str] = set()
    for (text,) in reader.query("SELECT body FROM main.commits"):
        for record in json.loads(text)["segments"]:
            if record["name"] in seen:
                continue
            seen.add(record["name"])
            try:
                problems.extend(Segment(reader.path / SEGMENTS, record, dimension).check())
            except IndexCorruptError as exc:
                problems.append(str(exc))
    try:
        problems += [f"sqlite: {row[0]}" for row in reader.query("PRAGMA integrity_check") if row[0] != "ok"]
    except IndexCorruptError as exc:
        problems.append(str(exc))
    if problems:
        return problems
    for live in reader.lives:
        segment = live.segment
        postings = segment.postings.postings
        if len(postings) and int(postings["doc"].max()) >= segment.count:
            problems.append(f"segment {segment.name}: postings name rows it does not have")
        if segment.ann is not None and segment.ann.ntotal != segment.count:
            problems.append(f"segment {segment.name}: its IVF index holds {segment.ann.ntotal} of {segment.count}")
    problems += _rows_match(reader)
    counts = reader.commit.counts
    articles = reader.scalar("SELECT count(*) FROM articles")
    if articles != counts.articles:
        problems.append(f"{articles} articles in the database, the commit says {counts.articles}")
    orphans = reader.scalar(
        "SELECT count(*) FROM main.chunks c LEFT JOIN main.articles a ON a.uid = c.article_uid WHERE a.uid IS NULL"
    )
    if orphans:
        problems.append(f"{orphans} chunks belong to no article")
    return problems


def _rows_match(reader: IndexReader) -> list[str]:
    """The database's live chunks are exactly the segments' live rows, and each matches its row hash."""
    uids = np.concatenate([s.segment.uids if s.live is None else s.segment.uids[s.live] for s in reader.lives] or [[]])
    hashes = np.concatenate(
        [s.segment.hashes if s.live is None else s.segment.hashes[s.live] for s in reader.lives] or [[]]
    ).astype(np.uint64)
    order = np.argsort(uids)
    uids, hashes = uids[order].astype(np.int64), hashes[order]
    problems: list[str] = []
    seen = 0
    try:
        for batch in reader.batches(
            "SELECT c.uid, c.text, c.start, c.end, c.ordinal, a.id, a.title, a.date, a.source, a.url, c.id "
            "FROM main.chunks c JOIN temp.articles a ON a.uid = c.article_uid"
        ):
            for uid, *fields, chunk_id in batch:
                seen += 1
                at = int(np.searchsorted(uids, uid))
                if at >= len(uids) or uids[at] != uid:
                    problems.append(f"chunk {chunk_id} ({fields[4]!r}) is in {DATABASE} but in no segment")
                elif row_hash(*fields) != int(hashes[at]):
                    problems.append(f"chunk {chunk_id} ({fields[4]!r}) in {DATABASE} does not match its row hash")
                if len(problems) > 20:
                    return [*problems, "(more problems not listed)"]
    except IndexCorruptError as exc:
        return [*problems, str(exc)]
    if seen != len(uids):
        problems.append(f"{len(uids)} passages in the segments, {seen} chunks in {DATABASE}")
    return problems

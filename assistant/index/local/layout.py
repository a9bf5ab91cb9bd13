"""The index on disk: a store folder named by ``CURRENT``, holding one SQLite database and immutable segment files.

Layout of an index directory::

    CURRENT                 name of the live store, replaced atomically (write, fsync, rename) by a rebuild only
    store-000007/           one store: every generation from 7 on, until a rebuild replaces it
        store.sqlite        articles (and their texts), chunks (text, offsets), sources and commits, in WAL mode
        segments/
            seg-00000012.rows.npy      per passage: chunk id, version uid, article uid, row hash, source, length
            seg-00000012.vectors.npy   float32 vectors in the order of the rows (sorted by chunk id)
            seg-00000012.terms.npy     sorted term hashes with their offsets into the postings
            seg-00000012.postings.npy  (row, weighted term frequency) per term, for BM25
            seg-00000012.ann.faiss     an IVF index over the vectors, for large segments only
    .lock                   held by the one writer
    .tmp-store-000009-*     a rebuild being written; never read, removed by the next writer

A *commit* is a row of the ``commits`` table: a generation number and the list of live segments with the size and
xxh3 checksum of each of their files. A writer writes and fsyncs segment files first, then inserts the commit row
in the same SQLite transaction as the articles and chunks it makes visible: SQLite's WAL commit is the atomic switch.
Rows carry ``added_gen``/``removed_gen``, so a reader pinned to a generation sees exactly that generation's articles
while later ones are written; a removal is a tombstone until no kept generation can see the article.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import IndexCorruptError, IndexNotFoundError, StoreError
from ..records import generation_gone

if TYPE_CHECKING:
    pass

SCHEMA_VERSION = 2
CURRENT = "CURRENT"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
STORE_PREFIX = "store-"
LEGACY_PREFIX = "gen-"  # schema 1: a full copy of the index per generation, with a manifest.json
DATABASE = "store.sqlite"
SEGMENTS = "segments"

SCHEMA_SQL = """
CREATE TABLE store (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    uid INTEGER PRIMARY KEY,  -- one version of an article; a changed article gets a new uid
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    date TEXT,            -- as precise as the source: YYYY, YYYY-MM or YYYY-MM-DD
    day TEXT,             -- first day the date can mean, for filters and recency
    source TEXT,
    url TEXT,
    author TEXT,
    origin TEXT,          -- file, file:line or URL it was read from
    file TEXT,            -- resolved file path, to notice files that are gone
    root TEXT,            -- resolved root the file was found under
    content_hash TEXT NOT NULL,
    copy_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    added_gen INTEGER NOT NULL,
    removed_gen INTEGER   -- the generation that no longer has it (a tombstone), NULL while live
);
CREATE INDEX articles_id ON articles(id);
CREATE INDEX articles_removed ON articles(removed_gen) WHERE removed_gen IS NOT NULL;
-- Dates and sources of a generation without reading its rows: what `index info` and the source filter list.
CREATE INDEX articles_listing ON articles(added_gen, removed_gen, day, date, source);
-- The article's whole text, apart: scanning the articles (an update's classification) never reads it.
CREATE TABLE article_texts (uid INTEGER PRIMARY KEY REFERENCES articles(uid), text TEXT NOT NULL);
CREATE TABLE sources (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE chunks (
    uid INTEGER PRIMARY KEY,
    id INTEGER NOT NULL,  -- stable chunk id: publication day << 40 | hash(article id, ordinal)
    article_uid INTEGER NOT NULL REFERENCES articles(uid),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX chunks_article ON chunks(article_uid);
CREATE INDEX chunks_id ON chunks(id);
CREATE TABLE commits (number INTEGER PRIMARY KEY, generation INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX commits_generation ON commits(generation);
-- Articles a user removed with `index remove`, so that an update of their folder does not bring them back.
CREATE TABLE removed (
    id TEXT PRIMARY KEY,
    title TEXT,
    file TEXT,            -- resolved file path it was read from
    origin TEXT,
    removed_at TEXT NOT NULL
);
"""


def store_name(number: int) -> str:
    return f"{STORE_PREFIX}{number:06d}"


def store_number(name: str) -> int:
    """The number in a store folder's name (its first generation), or -1 for anything else."""
    digits = name.removeprefix(STORE_PREFIX)
    return int(digits) if name.startswith(STORE_PREFIX) and digits.isdigit() else -1


def rebuild_hint(directory: Path) -> str:
    return f"`assistant index build PATHS --index {directory}`"


def current_store(directory: Path) -> Path:
    """The folder of the live store, or IndexNotFoundError; an index of the previous version is refused."""
    pointer = directory / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFoundError(f"no index in {directory}: build one with {rebuild_hint(directory)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {pointer}: {exc}") from exc
    if name.startswith(LEGACY_PREFIX) and "/" not in name and (directory / name / "manifest.json").is_file():
        raise IndexCorruptError(
            f"the index in {directory} was written by an earlier version of the assistant (schema 1, one folder "
            f"per generation), which this version does not read: rebuild it with {rebuild_hint(directory)}"
        )
    if store_number(name) < 0 or not (directory / name).is_dir():
        raise IndexCorruptError(f"{pointer} names {name!r}, which is not a store in {directory}")
    return directory / name


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full, in whichever words the layer that hit it uses."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    # faiss reports a failed fwrite as a RuntimeError that quotes strerror.
    return isinstance(exc, RuntimeError) and os.strerror(errno.ENOSPC) in str(exc)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_checksum(path: Path) -> str:
    """xxh3-64 of a file's bytes, in hex: fast enough to check gigabytes of segments in a fraction of a second."""
    import xxhash

    digest = xxhash.xxh3_64()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def body_checksum(body: dict[str, Any]) -> str:
    import xxhash

    payload = {key: value for key, value in body.items() if key != "checksum"}
    return xxhash.xxh3_64_hexdigest(json.dumps(payload, sort_keys=True).encode())


def connect(store: Path, *, readonly: bool, create: bool = False) -> sqlite3.Connection:
    """The store's database, in WAL mode, so readers read the last commit while a writer writes the next one."""
    path = store / DATABASE
    if not create and not path.is_file():
        raise IndexCorruptError(f"{path} is missing")
    try:
        if readonly:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise IndexCorruptError(f"cannot open {path}: {exc}") from exc
    if version != SCHEMA_VERSION and not (version == 0 and create):
        db.close()
        raise IndexCorruptError(f"{path}: schema version {version} is not {SCHEMA_VERSION}; rebuild the index")
    return db


def load_commit(db: sqlite3.Connection, path: Path, generation: int | None = None) -> dict[str, Any]:
    """The newest commit (of ``generation``, when given), checked against its own checksum."""
    try:
        if generation is None:
            row = db.execute("SELECT number, body FROM commits ORDER BY number DESC LIMIT 1").fetchone()
        else:
            row = db.execute(
                "SELECT number, body FROM commits WHERE generation = ? ORDER BY number DESC LIMIT 1", (generation,)
            ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise IndexCorruptError(f"{path / DATABASE}: {exc}") from exc
    if row is None:
        if generation is None:
            raise IndexCorruptError(f"{path / DATABASE} holds no commit")
        kept = [r[0] for r in db.execute("SELECT DISTINCT generation FROM commits ORDER BY generation")]
        raise generation_gone(path.parent, generation, kept)
    try:
        body = json.loads(row[1])
    except ValueError as exc:
        raise IndexCorruptError(f"{path / DATABASE}: commit {row[0]} is unreadable: {exc}") from exc
    if not isinstance(body, dict) or body.get("checksum") != body_checksum(body):
        raise IndexCorruptError(f"{path / DATABASE}: commit {row[0]} does not match its own checksum")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise IndexCorruptError(f"{path / DATABASE}: commit {row[0]} has schema {body.get('schema_version')}")
    body["commit"] = int(row[0])
    return body


def oldest_kept(generation: int, keep: int) -> int:
    """The oldest generation still readable once ``generation`` is live and ``keep`` are kept (the commit says it)."""
    return max(1, generation - keep + 1)


def last_generation(directory: Path, live: Path | None) -> int:
    """The highest generation this index has published, or any store or legacy folder is numbered after: a new
    store goes on from there."""
    previous = 0
    if live is not None:
        with contextlib.suppress(StoreError, sqlite3.Error):
            db = connect(live, readonly=True)
            try:
                previous = int(load_commit(db, live)["generation"])
            finally:
                db.close()
    numbers = [store_number(p.name) for p in directory.glob(STORE_PREFIX + "*")]
    # An index of the previous version named its folders by generation: the numbers go on from there.
    legacy = [p.name.removeprefix(LEGACY_PREFIX) for p in directory.glob(LEGACY_PREFIX + "*")]
    numbers += [int(n) for n in legacy if n.isdigit()]
    return max([previous, *(n for n in numbers if n >= 0)])


def rename_into_place(built: Path, final: Path) -> None:
    """A store written in a temporary folder, made durable and given its final name (not yet live)."""
    fsync_file(built / DATABASE)
    fsync_dir(built / SEGMENTS)
    fsync_dir(built)
    os.rename(built, final)
    fsync_dir(final.parent)


def switch_current(directory: Path, store: Path) -> None:
    """Make ``store`` the live one: ``CURRENT`` replaced atomically (written, fsynced, renamed over)."""
    pointer = directory / f"{CURRENT}.tmp"
    pointer.write_text(store.name + "\n", encoding="utf-8")
    fsync_file(pointer)
    os.replace(pointer, directory / CURRENT)
    fsync_dir(directory)

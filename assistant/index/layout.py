"""The index on disk: generations of SQLite + FAISS files, a manifest with checksums, and an atomic switch.

Layout of an index directory::

    CURRENT            name of the live generation, replaced atomically (write, fsync, rename)
    gen-000007/        one complete, immutable generation
        manifest.json  schema version, model, chunker, counts, sha256 of every file, its own checksum
        meta.sqlite    articles, chunks (with offsets) and an FTS5 table for BM25
        vectors.faiss  an IndexIDMap2 over inner-product vectors, ids = chunk ids
    .lock              held by the one writer
    .tmp-gen-000008-*  a generation being written; never read, removed by the next writer

A writer (:mod:`assistant.index.writer`) copies the live generation into a temporary folder, changes it, fsyncs every
file, renames the folder into place and only then points ``CURRENT`` at it. A crash at any moment leaves
``CURRENT`` naming a complete generation. Readers verify the manifest's checksums before answering anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import GenerationGoneError, IndexCorruptError, IndexNotFoundError, ModelMismatchError

SCHEMA_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
SQLITE = "meta.sqlite"
VECTORS = "vectors.faiss"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"

TOKENIZER = "porter unicode61 remove_diacritics 2"
SCHEMA_SQL = f"""
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
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
    indexed_at TEXT NOT NULL
);
CREATE INDEX articles_day ON articles(day);
CREATE INDEX articles_source ON articles(source);
CREATE INDEX articles_copy_hash ON articles(copy_hash);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, title, tokenize = '{TOKENIZER}');
"""
# Articles a user removed with `index remove`, so that an update of their folder does not bring them back. Created
# when missing, so an index written before this table existed keeps working (schema version unchanged).
REMOVED_SQL = """
CREATE TABLE IF NOT EXISTS removed (
    id TEXT PRIMARY KEY,
    title TEXT,
    file TEXT,            -- resolved file path it was read from
    origin TEXT,
    removed_at TEXT NOT NULL
);
"""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_checksum(body: dict[str, Any]) -> str:
    payload = {key: value for key, value in body.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def generation_number(name: str) -> int:
    try:
        return int(name.removeprefix("gen-"))
    except ValueError:
        return -1


def current_generation(directory: Path) -> Path:
    """The folder of the live generation, or IndexNotFoundError."""
    pointer = directory / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index in {directory}: build one with `assistant index build PATHS --index {directory}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"cannot read {pointer}: {exc}") from exc
    if not name.startswith("gen-") or "/" in name or not (directory / name).is_dir():
        raise IndexCorruptError(f"{pointer} names {name!r}, which is not a generation in {directory}")
    return directory / name


def generation_path(directory: Path, number: int) -> Path:
    """The folder of generation ``number``, or GenerationGoneError when it is no longer kept (or never was)."""
    path = directory / f"gen-{number:06d}"
    if number < 1 or not (path / MANIFEST).is_file():
        kept = ", ".join(str(n) for n in generation_numbers(directory)) or "none"
        raise GenerationGoneError(
            f"index generation {number} is no longer kept in {directory} (kept: {kept})", generation=number
        )
    return path


def generation_numbers(directory: Path) -> list[int]:
    """The published generations on disk, oldest first."""
    numbers = (generation_number(p.name) for p in directory.glob("gen-*") if (p / MANIFEST).is_file())
    return sorted(n for n in numbers if n > 0)


def read_manifest(generation: Path) -> dict[str, Any]:
    path = generation / MANIFEST
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(body, dict) or body.get("manifest_sha256") != manifest_checksum(body):
        raise IndexCorruptError(f"{path} does not match its own checksum")
    if body.get("schema_version") != SCHEMA_VERSION:
        raise IndexCorruptError(
            f"{path}: schema version {body.get('schema_version')} is not {SCHEMA_VERSION}; rebuild the index"
        )
    return body


def check_model(manifest: dict[str, Any], identity: str, directory: Path) -> None:
    """Refuse to search or update an index with another model than the one that built it."""
    if manifest["model"]["identity"] != identity:
        raise ModelMismatchError(
            f"the index in {directory} was built with {manifest['model']['identity']}, but the configured model "
            f"is {identity}: set ASSISTANT_MODEL to the index's model, or rebuild with `assistant index build`"
        )


def check_files(generation: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems with the generation's files against the manifest (empty when all match)."""
    problems = []
    for name, expected in manifest.get("files", {}).items():
        path = generation / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{path} has {path.stat().st_size} bytes, manifest says {expected['bytes']}")
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{path} does not match its sha256 in the manifest")
    if set(manifest.get("files", {})) != {SQLITE, VECTORS}:
        problems.append(f"{generation / MANIFEST} does not list {SQLITE} and {VECTORS}")
    return problems


def disk_usage(directory: str | Path) -> int:
    return sum(p.stat().st_size for p in _walk_files(Path(directory)))


def _walk_files(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file():
            yield path

"""What the durability tests (test_durability_*.py) share: the golden queries, and looks at an index's folder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import FakeEmbedder, write_jsonl

from assistant import Retriever
from assistant.cli import cli
from assistant.index.reader import IndexReader

# Dated before the extra articles the tests add (2025), so those never change what these queries may return.
AS_OF = "2024-06-01"
GOLDEN_QUERIES = ("central bank interest rate", "volcano lava eruption in Iceland", "who won the cup final")


def golden_hits(index: Path, embedder: FakeEmbedder | None = None) -> dict[str, list[tuple]]:
    """Top hits of the golden queries: chunk id and every score, exactly."""
    retriever = Retriever.open(index, embedder=embedder or FakeEmbedder())
    try:
        return {
            query: [
                (h.chunk_id, h.article_id, h.score, h.dense, h.bm25) for h in retriever.search(query, k=3, as_of=AS_OF)
            ]
            for query in GOLDEN_QUERIES
        }
    finally:
        retriever.close()


def current(index: Path) -> str:
    """The store ``CURRENT`` names."""
    return (index / "CURRENT").read_text(encoding="utf-8").strip()


def generation(index: Path) -> int:
    """The live generation."""
    reader = IndexReader.open(index, verify=False)
    try:
        return reader.generation
    finally:
        reader.close()


def tmp_folders(index: Path) -> list[Path]:
    """Stores a rebuild is writing (or a dead one left)."""
    return sorted(index.glob(".tmp-store-*"))


def segment_files(store: Path) -> set[str]:
    return {p.name for p in (store / "segments").iterdir()} if (store / "segments").is_dir() else set()


def unnamed(index: Path) -> set[str]:
    """Segment files of the live store that no commit names: written by a writer that has not (yet) published."""
    store = index / current(index)
    db = sqlite3.connect(f"file:{store / 'store.sqlite'}?mode=ro", uri=True)
    try:
        named = {
            record["name"]
            for (body,) in db.execute("SELECT body FROM commits")
            for record in json.loads(body)["segments"]
        }
    finally:
        db.close()
    return {name for name in segment_files(store) if name.split(".", 1)[0] not in named}


def snapshot(index: Path) -> dict[str, str]:
    """Every file's sha256, except SQLite's shared-memory index (any connection rewrites it) and an empty WAL."""
    return {
        str(p.relative_to(index)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(index.rglob("*"))
        if p.is_file() and not p.name.endswith("-shm") and not (p.name.endswith("-wal") and not p.stat().st_size)
    }


def cli_here(*args: str | Path) -> Result:
    """The command line's code in this process (CliRunner): the same checks as ``processes.cli_in_child`` at a
    fraction of the cost."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def extra_batch(folder: Path, batch: int, count: int) -> Path:
    """``count`` small articles dated 2025 in words no golden query uses."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [
        {
            "id": f"b{batch}-{n}",
            "title": f"Bulletin zq{batch}x{n}",
            "text": f"Item zq{batch}x{n} of batch qv{batch} lists parcel kx{n} and crate wm{batch}x{n}.",
            "date": "2025-01-02",
            "source": "Extra Wire",
        }
        for n in range(count)
    ]
    return write_jsonl(folder / f"batch-{batch:04d}.jsonl", records)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"writer exited early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.002)


def kill_when_embedding(proc: subprocess.Popen, mark: Path, batches: int = 15) -> None:
    """SIGKILL a writer once its embedder has marked more than ``batches`` batches in ``mark`` (SlowEmbedder's
    SLOW_EMBEDDER_MARK): it is then mid-write. Returns when the process is gone, whatever happened."""
    try:
        wait_for(lambda: mark.exists() and mark.stat().st_size > batches, proc=proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)

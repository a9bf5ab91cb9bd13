"""What the durability tests (test_durability_*.py) share: the golden queries, and looks at an index's folder."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import FakeEmbedder, write_jsonl

from assistant import Retriever
from assistant.cli import cli

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
    return (index / "CURRENT").read_text(encoding="utf-8").strip()


def tmp_folders(index: Path) -> list[Path]:
    return sorted(index.glob(".tmp-gen-*"))


def snapshot(index: Path) -> dict[str, str]:
    return {
        str(p.relative_to(index)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(index.rglob("*"))
        if p.is_file()
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

"""What the durability tests (test_durability_*.py) share: the golden queries, and looks at an index's folder."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import FakeEmbedder, write_jsonl
from processes import program

from assistant import Retriever
from assistant.cli import cli
from assistant.index.local.reader import IndexReader

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


# -- writers killed at named moments (the crash loops of both backends) ------------------------------------------
class WriterServer:
    """tests/programs/slow_writer.py --serve: forks a writer per round, stopped at a named moment when asked.

    A writer stopped at its moment is SIGKILLed by ``kill``; one that ran past the end (the moment never came as
    often as asked) is reported as ended. Every writer is reaped by the server, never left behind.
    """

    def __init__(self, location: str | Path, inputs: list[Path], logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.proc = subprocess.Popen(
            [*program("slow_writer"), "--serve", str(location), *map(str, inputs)],
            env={**env, "SLOW_WRITER_LOGS": str(logs)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer, f"the writer server ended: {self.proc.poll()}"
        return answer

    def run(self, mode: str, moment: str | None = None, occurrence: int = 1) -> int:
        return int(self._ask(f"run {mode} {moment} {occurrence}" if moment else f"run {mode}"))

    def wait(self, pid: int) -> int | None:
        """Until the writer stops at its moment (None) or ends (its wait status, reaped)."""
        answer = self._ask(f"wait {pid}")
        return None if answer == "stopped" else int(answer.split()[1])

    def kill(self, pid: int) -> int:
        """SIGKILL the writer (stopped or running) and reap it: its wait status."""
        os.kill(pid, signal.SIGKILL)
        return int(self._ask(f"reap {pid}"))

    def reap(self, pid: int) -> int:
        return int(self._ask(f"reap {pid}"))

    def moments(self, pid: int) -> list[str]:
        """The named moments the writer logged, in order."""
        path = self.logs / f"{pid}.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line.split()[1] for line in lines if line.startswith("moment ")]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            self.proc.kill()


def killed_by_sigkill(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@dataclass(frozen=True)
class Round:
    """One kill: the write (``mode``), and either a named moment (its ``occurrence``-th time) or a time, as a
    fraction of an uninterrupted write of that kind (``at``; past 1.0 the writer has finished)."""

    mode: str
    moment: str | None = None
    occurrence: int = 1
    at: float = 0.0


def plan(kills: int, seed: int, seen: dict[str, Counter[str]], modes: tuple[str, ...]) -> list[Round]:
    """``kills`` rounds: two in three aimed at a named moment, each moment of each mode in turn (so every one is hit
    once ``kills`` covers them all), at a random one of its occurrences; the rest at stratified random times, so
    the spaces between the moments are covered too. ``seen`` holds the moments an uninterrupted write of each mode
    logged, and how often."""
    rng = random.Random(seed)
    targets = [(mode, name) for mode in modes for name in sorted(seen[mode])]
    rng.shuffle(targets)
    timed = sum(1 for number in range(kills) if number % 3 == 2)
    # Stratified: the timed kills spread evenly over the write and a little past its end, however few there are.
    times = [(stratum + rng.random()) / max(1, timed) * 1.25 for stratum in rng.sample(range(timed), timed)]
    rounds: list[Round] = []
    aimed = 0
    for number in range(kills):
        if number % 3 == 2:
            rounds.append(Round(modes[number % len(modes)], at=times.pop()))
        else:
            mode, name = targets[aimed % len(targets)]
            aimed += 1
            rounds.append(Round(mode, name, occurrence=rng.randint(1, seen[mode][name])))
    return rounds

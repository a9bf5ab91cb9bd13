"""Durability: a killed writer, damaged files, a full disk and concurrent readers never cost a working index."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FakeEmbedder, news_corpus, write_jsonl

from assistant import IndexCorruptError, IndexNotFoundError, Retriever, build_index, update_index
from assistant.store import IndexReader, verify

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

# Dated before the extra articles the tests add (2025), so those never change what these queries may return.
AS_OF = "2024-06-01"
GOLDEN_QUERIES = ("central bank interest rate", "volcano lava eruption in Iceland", "who won the cup final")


# -- helpers ---------------------------------------------------------------------------------------------------


def _golden(index: Path) -> dict[str, list[tuple]]:
    """Top hits of the golden queries: chunk id and every score, exactly."""
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    try:
        return {
            query: [
                (h.chunk_id, h.article_id, h.score, h.dense, h.bm25) for h in retriever.search(query, k=3, as_of=AS_OF)
            ]
            for query in GOLDEN_QUERIES
        }
    finally:
        retriever.close()


def _current(index: Path) -> str:
    return (index / "CURRENT").read_text(encoding="utf-8").strip()


def _tmp_folders(index: Path) -> list[Path]:
    return sorted(index.glob(".tmp-gen-*"))


def _snapshot(index: Path) -> dict[str, str]:
    return {
        str(p.relative_to(index)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(index.rglob("*"))
        if p.is_file()
    }


def _article_count(index: Path) -> int:
    reader = IndexReader.open(index)
    try:
        return int(reader.scalar("SELECT count(*) FROM articles"))
    finally:
        reader.close()


def _extra_batch(folder: Path, batch: int, count: int) -> Path:
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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ASSISTANT_PROGRESS="false")
    return env


def _wait_for(condition, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"writer exited early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.002)


_SLOW_EMBEDDER = """
import sys
import time

import assistant.indexing
from conftest import FakeEmbedder

from assistant import update_index
from assistant.settings import get_settings


class SlowEmbedder(FakeEmbedder):
    # The same vectors as the tests' FakeEmbedder, just slow, so a kill lands while the writer works.
    def embed(self, texts):
        time.sleep(DELAY)
        return super().embed(texts)


assistant.indexing._GROUP = 4  # several embed calls, not one group of 256


def run(index, inputs):
    update_index(inputs, index, embedder=SlowEmbedder(), settings=get_settings(progress=False))
"""


@pytest.fixture
def base_index(tmp_path: Path) -> tuple[Path, Path]:
    corpus = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=FakeEmbedder())
    return corpus, index


# -- SIGKILL mid-write -----------------------------------------------------------------------------------------


def test_sigkill_mid_update_leaves_the_old_generation_live(tmp_path: Path, base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    extra = tmp_path / "extra"
    _extra_batch(extra, 0, 200)  # 50 slow embed calls: seconds of work, killed within milliseconds
    before = _golden(index)
    live = _current(index)
    script = tmp_path / "slow_update.py"
    script.write_text(
        _SLOW_EMBEDDER.replace("DELAY", "0.05") + "\nrun(sys.argv[1], sys.argv[2:])\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), str(index), str(corpus), str(extra)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: bool(_tmp_folders(index)), proc=proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert _tmp_folders(index), "the kill should have left the unfinished generation behind"

    assert verify(index)[1] == []
    assert _current(index) == live
    assert _golden(index) == before

    # A new writer takes the (kernel-released) lock, clears the leftover and publishes.
    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.published and len(summary.added) == 200 and summary.articles == 205
    assert _tmp_folders(index) == []
    assert _current(index) != live and verify(index)[1] == []
    assert [[hit[:2] for hit in hits] for hits in _golden(index).values()] == [
        [hit[:2] for hit in hits] for hits in before.values()
    ]


def _exited(pid: int) -> bool:
    """Whether a process that is not our child has finished (it stays a zombie until its parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


_FORK_SERVER = """
import os
import traceback

index, *inputs = sys.argv[1:]
for line in sys.stdin:
    command, *args = line.split()
    if command == "run":
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(index, inputs)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        print(pid, flush=True)
    elif command == "reap":
        print(os.waitpid(int(args[0]), 0)[1], flush=True)
"""


def _kill_loop(tmp_path: Path, corpus: Path, index: Path, kills: int, seed: int) -> None:
    """Start an update, SIGKILL it at a random moment, check the index; ``kills`` times over.

    Imports are paid once: a server process forks one writer per round (``os.fork`` keeps it cheap).
    """
    extra = tmp_path / "extra"
    extra.mkdir()
    script = tmp_path / "fork_server.py"
    script.write_text(_SLOW_EMBEDDER.replace("DELAY", "0.02") + _FORK_SERVER, encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, str(script), str(index), str(corpus), str(extra)],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None

    def ask(line: str) -> str:
        server.stdin.write(line + "\n")
        server.stdin.flush()
        return server.stdout.readline().strip()

    rng = random.Random(seed)
    try:
        # One uninterrupted round measures how long a write takes here, from its temp folder to its exit.
        _extra_batch(extra, kills, 24)
        pid = int(ask("run"))
        _wait_for(lambda: bool(_tmp_folders(index)) or _exited(pid))
        started = time.monotonic()
        _wait_for(lambda: _exited(pid))
        duration = time.monotonic() - started
        assert int(ask(f"reap {pid}")) == 0 and _tmp_folders(index) == []

        golden = _golden(index)
        live = _current(index)
        articles = _article_count(index)
        pending = 0  # articles on disk that no published generation holds yet
        mid_write = 0
        for round_ in range(kills):
            if pending:  # the last round's batch was never published: drop it, so every round does the same work
                (extra / f"batch-{round_ - 1:04d}.jsonl").unlink()
            _extra_batch(extra, round_, 24)
            pending = 24
            pid = int(ask("run"))
            _wait_for(lambda pid=pid: bool(_tmp_folders(index)) or _exited(pid))  # a zombie at worst, not reused
            # Anywhere from "just started writing" to "finished a while ago", the commit included.
            time.sleep(rng.uniform(0.0, 1.25 * duration))
            tmp_existed = bool(_tmp_folders(index))
            os.kill(pid, signal.SIGKILL)  # unreaped until "reap", so the pid cannot be reused meanwhile
            status = int(ask(f"reap {pid}"))
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            assert killed or os.WEXITSTATUS(status) == 0, f"round {round_}: writer failed on its own"
            mid_write += killed and tmp_existed

            assert verify(index)[1] == [], f"round {round_}"
            now = _current(index)
            results = _golden(index)
            if now == live:
                assert results == golden, f"round {round_}: answers changed without a new generation"
                assert _article_count(index) == articles
            else:
                # Published: all of the update or nothing. The extra articles are after AS_OF, so the same
                # passages answer, with the same dense scores (BM25 statistics count the new rows).
                assert _article_count(index) == articles + pending, f"round {round_}: partial generation"
                for query, hits in results.items():
                    assert [(h[0], h[3]) for h in hits] == [(h[0], h[3]) for h in golden[query]], query
                live, golden, articles, pending = now, results, articles + pending, 0
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    if kills >= 5:
        assert mid_write >= 1, "no kill landed while a generation was being written"

    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.articles == articles + pending and _tmp_folders(index) == []
    assert verify(index)[1] == []


@pytest.mark.parametrize("kills", [5, pytest.param(200, marks=pytest.mark.slow)])
def test_sigkill_at_random_moments(tmp_path: Path, base_index: tuple[Path, Path], kills: int) -> None:
    corpus, index = base_index
    _kill_loop(tmp_path, corpus, index, kills, seed=1 if kills == 5 else kills)


# -- corruption ------------------------------------------------------------------------------------------------


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {"flip": _flip, "truncate": _truncate, "delete": Path.unlink}
FILES = ("meta.sqlite", "vectors.faiss", "manifest.json")


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_refused(base_index: tuple[Path, Path], name: str, damage: str) -> None:
    _, index = base_index
    DAMAGE[damage](index / _current(index) / name)
    with pytest.raises(IndexCorruptError):
        IndexReader.open(index)
    with pytest.raises(IndexCorruptError):
        Retriever.open(index, embedder=FakeEmbedder())
    manifest, problems = verify(index)
    assert problems
    # A damaged manifest cannot be trusted at all, so verify hands none back.
    assert (manifest is None) == (name == "manifest.json")
    assert name in " ".join(problems)


@pytest.mark.parametrize(
    "pointer",
    [b"gen-000099\n", b"garbage\n", b"", b"gen-../idx\n"],
    ids=["missing-generation", "garbage", "empty", "path"],
)
def test_bad_current_pointer_is_corrupt(base_index: tuple[Path, Path], pointer: bytes) -> None:
    _, index = base_index
    (index / "CURRENT").write_bytes(pointer)
    with pytest.raises(IndexCorruptError, match="CURRENT"):
        IndexReader.open(index)
    with pytest.raises(IndexCorruptError):
        Retriever.open(index, embedder=FakeEmbedder())
    with pytest.raises(IndexCorruptError):
        verify(index)


def test_binary_garbage_in_current_is_corrupt(base_index: tuple[Path, Path]) -> None:
    _, index = base_index
    (index / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(IndexCorruptError):
        IndexReader.open(index)


def test_rebuild_replaces_binary_garbage_current(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    (index / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    build_index([corpus], index, embedder=FakeEmbedder())
    assert verify(index)[1] == []


def test_missing_current_is_not_found(base_index: tuple[Path, Path], tmp_path: Path) -> None:
    _, index = base_index
    (index / "CURRENT").unlink()
    with pytest.raises(IndexNotFoundError, match="assistant index build"):
        IndexReader.open(index)
    with pytest.raises(IndexNotFoundError):
        Retriever.open(index, embedder=FakeEmbedder())
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(tmp_path / "never-built")


def _damage_current(index: Path) -> None:
    (index / "CURRENT").write_text("gen-000042\n")


CORRUPTIONS = {
    "sqlite-flip": lambda index: _flip(index / _current(index) / "meta.sqlite"),
    "faiss-truncate": lambda index: _truncate(index / _current(index) / "vectors.faiss"),
    "manifest-flip": lambda index: _flip(index / _current(index) / "manifest.json"),
    "manifest-delete": lambda index: (index / _current(index) / "manifest.json").unlink(),
    "current-dangling": _damage_current,
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_update_refuses_a_corrupt_index_and_changes_nothing(
    base_index: tuple[Path, Path], corruption: str, tmp_path: Path
) -> None:
    corpus, index = base_index
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    CORRUPTIONS[corruption](index)
    before = _snapshot(index)
    with pytest.raises(IndexCorruptError):
        update_index([corpus], index, embedder=FakeEmbedder())
    assert _snapshot(index) == before
    assert _tmp_folders(index) == []


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_rebuild_replaces_a_corrupt_index(base_index: tuple[Path, Path], corruption: str) -> None:
    corpus, index = base_index
    CORRUPTIONS[corruption](index)
    summary = build_index([corpus], index, embedder=FakeEmbedder())
    assert summary.published and summary.articles == 5
    assert verify(index)[1] == []
    assert _current(index) == f"gen-{summary.generation:06d}"
    assert _golden(index)["central bank interest rate"]


# -- disk full -------------------------------------------------------------------------------------------------


def _enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failing", ["vectors.faiss", "meta.sqlite", "manifest.json", "CURRENT.tmp"])
def test_disk_full_during_commit(base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import faiss

    import assistant.writer as store

    corpus, index = base_index
    before = _golden(index)
    live = _current(index)
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    with monkeypatch.context() as patch:
        if failing == "vectors.faiss":

            def write_index(vectors: object, path: str) -> None:
                Path(path).write_bytes(b"\x00" * 100)  # a partial file, then the disk is full
                _enospc()

            patch.setattr(faiss, "write_index", write_index)
        else:
            real_fsync = store._fsync_file

            def fsync(path: Path) -> None:
                if path.name == failing:
                    _enospc()
                real_fsync(path)

            patch.setattr(store, "_fsync_file", fsync)
        with pytest.raises(OSError) as raised:
            update_index([corpus], index, embedder=FakeEmbedder())
    assert raised.value.errno == errno.ENOSPC
    assert _current(index) == live and verify(index)[1] == []
    assert _golden(index) == before
    assert _tmp_folders(index) == []

    summary = update_index([corpus], index, embedder=FakeEmbedder())  # the lock was released
    assert summary.published and summary.added == ["news/new.txt"]
    assert verify(index)[1] == [] and _current(index) != live


# -- concurrent readers ----------------------------------------------------------------------------------------


def test_searches_keep_working_during_updates(tmp_path: Path, base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    query = "comet seen by astronomers"
    stale = Retriever.open(index, embedder=FakeEmbedder())  # never refreshed: its generation gets pruned
    fresh = Retriever.open(index, embedder=FakeEmbedder())  # refreshes before every search
    errors: list[BaseException] = []
    searches = {"stale": 0, "fresh": 0}
    stop = threading.Event()

    def reader(name: str, retriever: Retriever, refresh: bool) -> None:
        while not stop.is_set():
            try:
                if refresh:
                    retriever.refresh()
                assert retriever.search(query, k=3, as_of="2030-01-01")
                searches[name] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [
        threading.Thread(target=reader, args=("stale", stale, False)),
        threading.Thread(target=reader, args=("fresh", fresh, True)),
    ]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: min(searches.values()) > 0 or bool(errors), timeout=10)
        before_updates = dict(searches)
        for n in range(3):
            (corpus / f"comet{n}.txt").write_text(f"Comet {n} seen\n\nAstronomers saw comet number {n}.\n")
            assert update_index([corpus], index, embedder=FakeEmbedder()).published
        after_updates = dict(searches)
        _wait_for(lambda: fresh.generation == 4 or bool(errors), timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    # Both readers searched while the updates ran.
    assert all(after_updates[name] > before_updates[name] for name in searches), (before_updates, after_updates)
    assert errors == []
    assert not (index / "gen-000001").exists()  # the stale reader kept answering from a deleted generation

    assert fresh.generation == 4
    assert {h.article_id for h in stale.search(query, k=3, as_of="2030-01-01")}.isdisjoint(
        {"news/comet0.txt", "news/comet1.txt", "news/comet2.txt"}
    )
    assert stale.refresh() is True and stale.generation == 4
    assert stale.search(query, k=1, as_of="2030-01-01")[0].article_id.startswith("news/comet")
    stale.close()
    fresh.close()

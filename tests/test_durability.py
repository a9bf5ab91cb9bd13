"""Durability: a killed writer, damaged files, a full disk and concurrent readers never cost a working index."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import SEED_QUESTION, FakeEmbedder, news_corpus, write_jsonl

import assistant.index.update
from assistant import (
    Answer,
    Assistant,
    Hit,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    Retriever,
    build_index,
    update_index,
)
from assistant.cli import DISK_FULL_EXIT, cli
from assistant.errors import EXIT_CODES
from assistant.index.integrity import check_index as verify
from assistant.index.layout import generation_number
from assistant.index.reader import IndexReader

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

# Dated before the extra articles the tests add (2025), so those never change what these queries may return.
AS_OF = "2024-06-01"
GOLDEN_QUERIES = ("central bank interest rate", "volcano lava eruption in Iceland", "who won the cup final")


# -- helpers ---------------------------------------------------------------------------------------------------


class WideEmbedder(FakeEmbedder):
    """The fake embedder with vectors so wide that vectors.faiss, not meta.sqlite, is most of a generation."""

    identity = "fake-hashing-wide@v1"
    dimension = 4096


def _golden(index: Path, embedder: FakeEmbedder | None = None) -> dict[str, list[tuple]]:
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


def _article_ids(index: Path) -> set[str]:
    reader = IndexReader.open(index)
    try:
        return {row[0] for row in reader.query("SELECT id FROM articles")}
    finally:
        reader.close()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "assistant", *map(str, args)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cli_here(*args: str | Path) -> Result:
    """The command line's code in this process (CliRunner): the same checks as ``_cli`` at a fraction of the cost."""
    return CliRunner().invoke(cli, [str(a) for a in args])


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

import faiss  # imported once here rather than in every forked writer, which is what a round costs
import tqdm

import assistant.index.update
from conftest import FakeEmbedder

from assistant import build_index, update_index
from assistant.settings import get_settings


class SlowEmbedder(FakeEmbedder):
    # The same vectors as the tests' FakeEmbedder, just slow, so a kill lands while the writer works.
    def embed(self, texts):
        time.sleep(DELAY)
        return super().embed(texts)


assistant.index.update._GROUP = 4  # several embed calls, not one group of 256


def run(index, inputs, mode="update"):
    write = build_index if mode == "rebuild" else update_index
    write(inputs, index, embedder=SlowEmbedder(), settings=get_settings(progress=False))
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
    assert (index / ".lock").exists(), "the lock file stays; only the kernel's lock on it went with the writer"

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


_DIE_BEFORE_SWITCHING = """
import os
import sys

import assistant.index.writer
from conftest import FakeEmbedder

from assistant import update_index


def replace(source, target):
    if os.path.basename(target) == "CURRENT":
        os._exit(9)  # dies like a SIGKILL would: no cleanup, between renaming the folder and switching CURRENT
    os.rename(source, target)


assistant.index.writer.os.replace = replace
update_index(sys.argv[2:], sys.argv[1], embedder=FakeEmbedder())
"""


def test_a_generation_renamed_but_never_published_is_removed(tmp_path: Path, base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    before = _golden(index)
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    script = tmp_path / "die_before_switching.py"
    script.write_text(_DIE_BEFORE_SWITCHING, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(index), str(corpus)], env=_env(), capture_output=True)
    assert done.returncode == 9, done.stderr
    # Complete and checksummed, but nothing names it: readers still get generation 1.
    assert sorted(p.name for p in index.glob("gen-*")) == ["gen-000001", "gen-000002"]
    assert _current(index) == "gen-000001" and verify(index)[1] == [] and _golden(index) == before

    (corpus / "comet2.txt").write_text("Second comet\n\nAstronomers saw another comet.\n")
    summary = update_index([corpus], index, embedder=FakeEmbedder())
    # The next publish drops it, and keeps generation 1, which readers may still have open, instead.
    assert summary.generation == 3 and summary.added == ["news/comet.txt", "news/comet2.txt"]
    assert sorted(p.name for p in index.glob("gen-*")) == ["gen-000001", "gen-000003"]
    assert verify(index)[1] == []


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
                run(index, inputs, *args)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        print(pid, flush=True)
    elif command == "reap":
        print(os.waitpid(int(args[0]), 0)[1], flush=True)
"""

MODES = ("rebuild", "update")
BATCH = 24


def _committing(index: Path) -> bool:
    """Whether a writer is in the last steps of its commit: vectors written, fsyncs, rename and switch to come."""
    return any((folder / "vectors.faiss").exists() for folder in _tmp_folders(index))


def _kill_loop(tmp_path: Path, corpus: Path, index: Path, kills: int, seed: int) -> dict[str, int]:
    """Start a rebuild or an update (in turn), SIGKILL it at a random moment, check the index; ``kills`` times over.

    Every round replaces the extra articles with a new batch, so a rebuild and an update both publish exactly the
    corpus and that batch, and take about as long in round 200 as in round 1. Imports are paid once: a server
    process forks one writer per round (``os.fork`` keeps it cheap).
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
    corpus_ids = _article_ids(index)

    def ask(line: str) -> str:
        server.stdin.write(line + "\n")
        server.stdin.flush()
        return server.stdout.readline().strip()

    def new_batch(batch: int) -> set[str]:
        """Replace the extra articles; returns the articles a generation written from now on holds."""
        for old in extra.iterdir():
            old.unlink()
        _extra_batch(extra, batch, BATCH)
        return corpus_ids | {f"b{batch}-{n}" for n in range(BATCH)}

    rng = random.Random(seed)
    # Stratified: the kills spread evenly over the write (and past its end), however few rounds there are.
    moments = [(stratum + rng.random()) / kills for stratum in rng.sample(range(kills), kills)]
    stats = dict.fromkeys(("rebuild", "update", "at_commit", "killed", "mid_write", "published", "unpublished_left"), 0)
    started_loop = time.monotonic()
    try:
        # One uninterrupted write of each kind measures how long it takes here: from its temp folder to its exit,
        # and from its vectors file (the last steps of the commit) to its exit.
        duration: dict[str, float] = {}
        committing: dict[str, float] = {}
        for batch, mode in enumerate(MODES, start=kills):
            expected = new_batch(batch)
            pid = int(ask(f"run {mode}"))
            _wait_for(lambda pid=pid: bool(_tmp_folders(index)) or _exited(pid))
            started = time.monotonic()
            _wait_for(lambda pid=pid: _committing(index) or _exited(pid))
            commit_started = time.monotonic()
            _wait_for(lambda pid=pid: _exited(pid))
            duration[mode] = time.monotonic() - started
            committing[mode] = time.monotonic() - commit_started
            assert int(ask(f"reap {pid}")) == 0 and _tmp_folders(index) == []
            assert _article_ids(index) == expected, mode

        golden = _golden(index)
        live = _current(index)
        held = _article_ids(index)
        seen_unpublished: set[str] = set()
        for round_ in range(kills):
            mode = MODES[round_ % len(MODES)]
            where = f"round {round_} ({mode})"
            started_from = live
            expected = new_batch(round_)
            pid = int(ask(f"run {mode}"))
            _wait_for(lambda pid=pid: bool(_tmp_folders(index)) or _exited(pid))  # a zombie at worst, not reused
            if round_ % 3 == 2:
                # Every third kill aims at the commit's last steps, a few milliseconds a uniform draw rarely hits.
                _wait_for(lambda pid=pid: _committing(index) or _exited(pid))
                time.sleep(moments[round_] * 1.25 * committing[mode])
                stats["at_commit"] += 1
            else:
                # Anywhere from "just started writing" to "finished a while ago", the commit included.
                time.sleep(moments[round_] * 1.25 * duration[mode])
            tmp_existed = bool(_tmp_folders(index))
            os.kill(pid, signal.SIGKILL)  # unreaped until "reap", so the pid cannot be reused meanwhile
            status = int(ask(f"reap {pid}"))
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            assert killed or os.WEXITSTATUS(status) == 0, f"{where}: writer failed on its own"
            stats[mode] += 1
            stats["killed"] += killed
            stats["mid_write"] += killed and tmp_existed

            checked = _cli_here("index", "verify", "--index", index)
            assert checked.exit_code == 0 and checked.stdout.startswith("ok: "), f"{where}: {checked.output}"
            if round_ % 50 == 49:  # now and then the real command, in a process of its own
                done = _cli("index", "verify", "--index", index)
                assert done.returncode == 0, f"{where}: {done.stderr}"
            now = _current(index)
            results = _golden(index)  # the index opens and answers
            articles = _article_ids(index)
            assert killed or now != live, f"{where}: the writer finished but published nothing"
            if now == live:
                assert results == golden, f"{where}: answers changed without a new generation"
                assert articles == held, f"{where}: articles changed without a new generation"
            else:
                # Published: all of the write or nothing. The extra articles are after AS_OF, so the same
                # passages answer, with the same dense scores (BM25 statistics count the new rows).
                assert articles == expected, f"{where}: partial generation"
                for query, hits in results.items():
                    assert [(h[0], h[3]) for h in hits] == [(h[0], h[3]) for h in golden[query]], (where, query)
                live, golden, held = now, results, articles
                stats["published"] += 1
            # Killed between renaming its folder into place and switching CURRENT: a complete generation that
            # nothing names, which the next writer to publish removes.
            unpublished = {p.name for p in index.glob("gen-*") if generation_number(p.name) > generation_number(live)}
            stats["unpublished_left"] += bool(unpublished - seen_unpublished)
            seen_unpublished |= unpublished
            # Leftovers never pile up: each writer clears the last one's temp folder, and a write that runs to its
            # end prunes all but the new generation and the one before it (killed before pruning, it leaves more).
            assert len(_tmp_folders(index)) <= 1, where
            if not killed:
                assert {p.name for p in index.glob("gen-*")} == {started_from, live}, where
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    if kills >= 5:
        assert stats["mid_write"] >= 1, "no kill landed while a generation was being written"

    done = _cli("index", "verify", "--index", index)
    assert done.returncode == 0 and done.stdout.startswith(f"ok: generation {generation_number(live)},"), done.stderr
    # The next writer to publish clears whatever the killed ones left: a temp folder, an unpublished generation,
    # one not yet pruned. Only the new generation and the one before it stay.
    expected = new_batch(kills + len(MODES))
    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.published and _article_ids(index) == expected and _tmp_folders(index) == []
    assert sorted(p.name for p in index.glob("gen-*")) == [live, f"gen-{summary.generation:06d}"]
    assert verify(index)[1] == [] and not (index / "CURRENT.tmp").exists()
    print(
        f"\nkill loop: {kills} kills ({stats['rebuild']} during a rebuild, {stats['update']} during an update, "
        f"{stats['at_commit']} aimed at the commit); "
        f"{stats['killed']} writers killed, {stats['mid_write']} mid-write, {kills - stats['killed']} had finished; "
        f"{stats['published']} new generations published; {stats['unpublished_left']} kills left a renamed but "
        f"unpublished generation; uninterrupted writes took {duration['rebuild']:.2f}s (rebuild) and "
        f"{duration['update']:.2f}s (update), their commits' last steps {1000 * committing['rebuild']:.0f}ms and "
        f"{1000 * committing['update']:.0f}ms; {time.monotonic() - started_loop:.0f}s in all"
    )
    return stats


@pytest.mark.parametrize("kills", [6, pytest.param(200, marks=pytest.mark.slow)])
def test_sigkill_at_random_moments(tmp_path: Path, base_index: tuple[Path, Path], kills: int) -> None:
    corpus, index = base_index
    stats = _kill_loop(tmp_path, corpus, index, kills, seed=1 if kills < 200 else kills)
    assert stats["rebuild"] == stats["update"] == kills // 2


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
    with pytest.raises(IndexCorruptError):
        Assistant.open(index, embedder=FakeEmbedder())
    manifest, problems = verify(index)
    assert problems
    # A damaged manifest cannot be trusted at all, so verify hands none back.
    assert (manifest is None) == (name == "manifest.json")
    assert name in " ".join(problems)


@pytest.mark.parametrize("name", FILES)
def test_a_damaged_new_generation_is_never_answered_from(base_index: tuple[Path, Path], name: str) -> None:
    """Readers that refresh onto a published but damaged generation refuse it and keep answering from theirs."""
    corpus, index = base_index
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    assistant = Assistant.open(index, embedder=FakeEmbedder())
    before = retriever.search("central bank interest rate", k=3, as_of=AS_OF)
    (corpus / "rates.md").write_text("---\ntitle: Bank news\ndate: 2024-03-05\n---\n\nRates were cut.\n")
    assert update_index([corpus], index, embedder=FakeEmbedder()).generation == 2
    _flip(index / "gen-000002" / name)
    try:
        for reader in (retriever, assistant):
            with pytest.raises(IndexCorruptError):
                reader.refresh()
        assert retriever.generation == 1 and retriever.search("central bank interest rate", k=3, as_of=AS_OF) == before
        answer = assistant.ask("Did the central bank raise interest rates?", as_of=AS_OF)
        assert answer.generation == 1 and answer.citations
        assert "raised its benchmark" in " ".join(c.excerpt for c in answer.citations)
    finally:
        retriever.close()
        assistant.close()


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


_NOSPACE = os.strerror(errno.ENOSPC)


def _enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, _NOSPACE)


@pytest.mark.parametrize("failing", ["vectors.faiss", "meta.sqlite", "manifest.json", "CURRENT.tmp"])
def test_disk_full_during_commit(base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import faiss

    import assistant.index.writer as store

    corpus, index = base_index
    before = _golden(index)
    live = _current(index)
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    with monkeypatch.context() as patch:
        if failing == "vectors.faiss":

            def write_index(vectors: object, path: str) -> None:
                Path(path).write_bytes(b"\x00" * 100)  # a partial file, then the disk is full, as faiss says it
                raise RuntimeError(
                    f"Error: 'ret == (size * 4)' failed: write error in {path}: 100 != 1280 ({_NOSPACE})"
                )

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
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(index)
    assert _current(index) == live and verify(index)[1] == []
    assert _golden(index) == before
    # Nothing of the failed write stays to hold space on the full disk, not even a generation already renamed.
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", live]

    summary = update_index([corpus], index, embedder=FakeEmbedder())  # the lock was released
    assert summary.published and summary.added == ["news/new.txt"]
    assert verify(index)[1] == [] and _current(index) != live


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_the_command_line_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))  # as a plain write reports it: no file name

    monkeypatch.setattr(assistant.index.update, "update_index", fail)
    result = _cli_here("index", "update", tmp_path, "--index", tmp_path / "idx")
    if code == errno.EIO:  # any other failure is not dressed up as a full disk
        assert result.exit_code == 1 and isinstance(result.exception, OSError)
        return
    assert (result.exit_code, result.stderr.splitlines()) == (
        DISK_FULL_EXIT,
        [
            f"error: disk full while writing the index in {tmp_path / 'idx'}: [Errno {code}] {os.strerror(code)}; "
            "the previous index is unchanged"
        ],
    )


_CLI_WITH_TEST_EMBEDDER = """
import os
import sys
from pathlib import Path

from assistant.cli import main

# The real command line, with a test embedder instead of the packaged model.
EMBEDDERS = {"fake": "conftest:FakeEmbedder", "wide": "test_durability:WideEmbedder"}
os.environ["ASSISTANT_EMBEDDER"] = EMBEDDERS[os.environ["TEST_EMBEDDER"]]
try:
    main()
except SystemExit as done:
    # For the test: the error the command turned into its message, and the one that was raised from.
    error = done.__context__
    if error is not None:
        Path(os.environ["TEST_CAUSE_FILE"]).write_text(repr(error.__cause__ or error))
    raise
"""

# Runs inside a private mount namespace, with a small tmpfs mounted at MOUNT: a copy of the index goes onto it, the
# disk is filled up to FREE bytes, then the command runs; the index comes back out (with the reports) to OUT.
_FULL_DISK_DRIVER = """
import json
import os
import shutil
import subprocess
import sys

mount, index, free, out, *command = sys.argv[1:]
target = os.path.join(mount, "idx")
shutil.copytree(index, target)
disk = os.statvfs(mount)
with open(os.path.join(mount, "filler"), "wb") as handle:
    handle.write(bytes(max(0, disk.f_bavail * disk.f_frsize - int(free))))
free_before = os.statvfs(mount).f_bavail * disk.f_frsize
update = subprocess.run([*command, "--index", target], capture_output=True, text=True)
free_after = os.statvfs(mount).f_bavail * disk.f_frsize
check = subprocess.run(
    [sys.executable, "-m", "assistant", "index", "verify", "--index", target], capture_output=True, text=True
)
shutil.copytree(target, os.path.join(out, "idx"))
report = {
    "index": target,
    "free": [free_before, free_after],
    "update": {"returncode": update.returncode, "stdout": update.stdout, "stderr": update.stderr},
    "verify": {"returncode": check.returncode, "stdout": check.stdout, "stderr": check.stderr},
}
with open(os.path.join(out, "report.json"), "w") as handle:
    json.dump(report, handle)
"""

_UNSHARE = ["unshare", "-rm", "sh", "-c"]


@pytest.fixture(scope="module")
def private_tmpfs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless this process may mount a tmpfs in a mount namespace of its own (as root, or by user namespace)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a small tmpfs")
    probe = tmp_path_factory.mktemp("tmpfs-probe")
    done = subprocess.run(
        [*_UNSHARE, 'mount -t tmpfs -o size=64k none "$0"', str(probe)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {done.stderr.strip()}")


# Where the disk fills up, chosen by how much room is left for the update (from the sizes the same update writes
# on an ordinary disk): while copying the live database, while the new database grows, or while writing vectors.
FULL_AT = {
    "copy": lambda base_db, new_db, vectors: base_db // 2,
    "database": lambda base_db, new_db, vectors: (base_db + new_db) // 2,
    # Room for the new database and its journal twice over, but not for the vectors after them.
    "vectors": lambda base_db, new_db, vectors: 2 * new_db + 64 * 1024,
}
# How SQLite and faiss word it, before the writer turns it into one OSError.
CAUSE = {
    "copy": ("OperationalError('database or disk is full')",),
    "database": ("OperationalError('database or disk is full')",),
    "vectors": ("RuntimeError(", "vectors.faiss", "(No space left on device)"),
}


@pytest.mark.parametrize("stage", FULL_AT)
def test_a_real_full_disk_fails_the_update_cleanly(tmp_path: Path, private_tmpfs: None, stage: str) -> None:
    embedder_name, embedder = ("wide", WideEmbedder) if stage == "vectors" else ("fake", FakeEmbedder)
    corpus = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=embedder())
    extra = tmp_path / "extra"
    extra.mkdir()
    words = " ".join(f"ledger{n}" for n in range(60))
    write_jsonl(
        extra / "wire.jsonl",
        [
            {"id": f"w{n}", "title": f"Wire {n}", "text": f"Wire item {n} lists {words}.", "date": "2025-01-02"}
            for n in range(150)
        ],
    )
    before = _snapshot(index)
    names = sorted(p.name for p in index.iterdir())
    golden = _golden(index, embedder())

    probe = tmp_path / "probe"  # the same update on an ordinary disk: how much it writes
    shutil.copytree(index, probe)
    assert update_index([corpus, extra], probe, embedder=embedder()).published
    base_db = (index / _current(index) / "meta.sqlite").stat().st_size
    new_db = (probe / _current(probe) / "meta.sqlite").stat().st_size
    vectors = (probe / _current(probe) / "vectors.faiss").stat().st_size
    free = FULL_AT[stage](base_db, new_db, vectors)
    # The sizes really put the failure where the stage says.
    assert {
        "copy": free < base_db,
        "database": base_db + 16384 < free < new_db - 16384,
        "vectors": free + 65536 < new_db + vectors,
    }[stage], (base_db, new_db, vectors)

    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    driver = tmp_path / "full_disk.py"
    driver.write_text(_FULL_DISK_DRIVER, encoding="utf-8")
    command = tmp_path / "cli_test_embedder.py"
    command.write_text(_CLI_WITH_TEST_EMBEDDER, encoding="utf-8")
    env = {**_env(), "TEST_EMBEDDER": embedder_name, "TEST_CAUSE_FILE": str(out / "cause.txt")}
    done = subprocess.run(
        [
            *_UNSHARE,
            'mount -t tmpfs -o size=16m none "$0" && exec "$@"',
            str(mount),
            sys.executable,
            str(driver),
            str(mount),
            str(index),
            str(free),
            str(out),
            sys.executable,
            str(command),
            "index",
            "update",
            str(corpus),
            str(extra),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    update = report["update"]

    # One line that names the problem, and its own exit code; no traceback.
    assert update["returncode"] == DISK_FULL_EXIT, update
    assert update["stderr"].splitlines() == [
        f"error: disk full while writing the index in {report['index']}: [Errno 28] No space left on device; "
        "the previous index is unchanged"
    ]
    assert update["stdout"] == ""
    cause = (out / "cause.txt").read_text()
    assert cause.startswith(CAUSE[stage][0]) and all(part in cause for part in CAUSE[stage]), cause
    # On the full disk itself, the previous generation still verifies.
    assert report["verify"]["returncode"] == 0, report["verify"]
    assert report["verify"]["stdout"].startswith("ok: generation 1, 5 articles")
    assert report["free"][1] == report["free"][0] <= free  # the failed writer gave back all it took

    after = out / "idx"
    assert sorted(p.name for p in after.iterdir()) == names  # no temp folder, no unpublished generation
    assert _snapshot(after) == before
    assert _golden(after, embedder()) == golden
    # With room again, the next update goes through: the lock was released and nothing is left in the way.
    summary = update_index([corpus, extra], after, embedder=embedder())
    assert summary.published and len(summary.added) == 150 and verify(after)[1] == []


# -- a held lock, and one left by a killed writer ------------------------------------------------------------

_HOLD_LOCK = """
import sys

from assistant.index.writer import IndexWriter

# A writer that has started (lock taken, unfinished generation begun), then hangs until it is killed.
writer = IndexWriter(sys.argv[1], model={}, chunker={})  # referenced: a collected writer lets its lock go
writer.begin()
print("writing", flush=True)
sys.stdin.read()
"""


def test_a_second_writer_is_refused_until_the_first_dies(
    tmp_path: Path, base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, index = base_index
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    monkeypatch.setenv("ASSISTANT_EMBEDDER", "conftest:FakeEmbedder")
    script = tmp_path / "hold_lock.py"
    script.write_text(_HOLD_LOCK, encoding="utf-8")
    holder = subprocess.Popen(
        [sys.executable, str(script), str(index)],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "writing"
        before = _snapshot(index)
        refused = f"error: the index in {index} is being updated by another process; try again when it finishes"
        # The real command in a process of its own (removing needs no embedder) ...
        done = _cli("index", "remove", "news/volcano.md", "--index", index)
        assert (done.returncode, done.stderr.splitlines()) == (EXIT_CODES[IndexLockedError], [refused])
        assert EXIT_CODES[IndexLockedError] == 7
        # ... and updating or rebuilding through the command line's code, with the test embedder.
        for command in ("update", "build"):
            result = _cli_here("index", command, corpus, "--index", index)
            assert (result.exit_code, result.stderr.splitlines()) == (7, [refused]), command
        assert _snapshot(index) == before
        assert verify(index)[1] == []
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
        holder.stdin.close()
    assert holder.returncode == -signal.SIGKILL
    # What a killed writer leaves: the lock file (the kernel dropped its lock on it) and an unfinished generation.
    assert (index / ".lock").exists() and _tmp_folders(index)

    result = _cli_here("index", "update", corpus, "--index", index)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{index}: generation 2 — 6 articles")
    assert _tmp_folders(index) == [] and verify(index)[1] == []


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


LEDGERS = 4
_MARKER = re.compile(r"\bq(\d+)\b")


def _write_ledgers(folder: Path, generation: int) -> None:
    """The same few articles, rewritten so that every sentence names the generation that will hold it."""
    folder.mkdir(exist_ok=True)
    for n in range(LEDGERS):
        (folder / f"ledger{n}.md").write_text(
            f"---\ntitle: Harbour ledger entry {n}\ndate: 2024-05-0{n + 1}\nsource: Ledger Wire\n---\n\n"
            f"Ledger entry marker q{generation} reads a balance of {n} crowns for the harbour account. "
            f"The harbour clerk filed marker q{generation} for ledger entry {n} on Monday.\n",
            encoding="utf-8",
        )


def _markers(text: str) -> set[int]:
    return {int(number) for number in _MARKER.findall(text)}


def test_every_answer_comes_from_one_generation_while_updates_swap_them(tmp_path: Path) -> None:
    folder = tmp_path / "ledgers"
    index = tmp_path / "idx"
    _write_ledgers(folder, 1)
    build_index([folder], index, embedder=FakeEmbedder())
    updates = 8
    # Shared by their threads, so refreshes race searches and each other, as in the chat page.
    assistant = Assistant.open(index, embedder=FakeEmbedder())
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    errors: list[BaseException] = []
    answered: dict[str, list[int]] = {}  # per thread: the generation of every reply, in order
    stop = threading.Event()

    def check_hits(hits: list[Hit]) -> int:
        assert len(hits) == LEDGERS, hits
        generations = {hit.generation for hit in hits}
        assert len(generations) == 1, f"one search mixed generations {generations}"
        generation = generations.pop()
        for hit in hits:
            assert _markers(hit.text) == {generation}, (generation, hit.text)
        return generation

    def check_answer(answer: Answer) -> int:
        assert answer.citations, answer
        for citation in answer.citations:
            assert _markers(citation.excerpt) == {answer.generation}, (answer.generation, citation.excerpt)
        assert _markers(answer.text) <= {answer.generation}, (answer.generation, answer.text)
        return answer.generation

    def asker(name: str) -> None:
        while not stop.is_set():
            try:
                assistant.refresh()
                answer = assistant.ask("What balance does the harbour ledger entry marker read?", as_of="2030-01-01")
                answered[name].append(check_answer(answer))
            except BaseException as exc:
                errors.append(exc)
                return

    def searcher(name: str) -> None:
        while not stop.is_set():
            try:
                retriever.refresh()
                hits = retriever.search("harbour ledger entry marker balance", k=LEDGERS, as_of="2030-01-01")
                answered[name].append(check_hits(hits))
            except BaseException as exc:
                errors.append(exc)
                return

    threads = []
    for n in range(2):
        for role, target in (("ask", asker), ("search", searcher)):
            name = f"{role}{n}"
            answered[name] = []
            threads.append(threading.Thread(target=target, args=(name,), name=name))
    for thread in threads:
        thread.start()
    try:
        for generation in range(2, updates + 2):
            _write_ledgers(folder, generation)
            summary = update_index([folder], index, embedder=FakeEmbedder())
            assert (summary.generation, len(summary.changed)) == (generation, LEDGERS)
            # Every reader moves on to the new generation (and so also reads while the next update runs).
            _wait_for(
                lambda generation=generation: (
                    bool(errors) or all(replies and replies[-1] >= generation for replies in answered.values())
                )
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assistant.close()
        retriever.close()
    assert errors == []
    for name, replies in answered.items():
        assert set(range(2, updates + 2)) <= set(replies), name


# -- reproducible builds ---------------------------------------------------------------------------------------


def _fingerprint(index: Path, embedder: object, queries: tuple[str, ...], as_of: str) -> dict[str, object]:
    """Everything two builds of the same articles must agree on: rows, vectors and the answers to queries."""
    reader = IndexReader.open(index)
    try:
        articles = reader.query(
            "SELECT id, title, text, date, day, source, url, author, origin, content_hash, copy_hash FROM articles "
            "ORDER BY id"
        )
        chunks = reader.query("SELECT id, article_id, ordinal, start, end, text FROM chunks ORDER BY id")
        manifest = {key: reader.manifest[key] for key in ("model", "chunker", "counts", "roots")}
    finally:
        reader.close()
    retriever = Retriever.open(index, embedder=embedder)
    try:
        results = {
            query: [(h.chunk_id, h.article_id, h.score, h.dense, h.bm25) for h in retriever.search(query, as_of=as_of)]
            for query in queries
        }
    finally:
        retriever.close()
    return {
        "articles": [tuple(row) for row in articles],
        "chunks": [tuple(row) for row in chunks],
        "vectors": hashlib.sha256((index / _current(index) / "vectors.faiss").read_bytes()).hexdigest(),
        "manifest": manifest,
        "results": results,
    }


def test_rebuilding_the_same_corpus_gives_the_same_index_and_answers(tmp_path: Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    prints = []
    for name in ("one", "two"):
        build_index([corpus], tmp_path / name, embedder=FakeEmbedder())
        prints.append(_fingerprint(tmp_path / name, FakeEmbedder(), GOLDEN_QUERIES, AS_OF))
    assert prints[0] == prints[1]
    assert len(prints[0]["articles"]) == 5 and all(prints[0]["results"].values())


@pytest.mark.slow  # about 5 s of model calls on top of loading the model
def test_rebuilding_the_default_corpus_with_the_real_model_gives_the_same_answers(
    tmp_path: Path, real_embedder: object
) -> None:
    corpus = REPO / "corpus"
    queries = (SEED_QUESTION, "Which companies are spending on artificial intelligence?", "Baidu chatbot")
    prints = []
    for name in ("one", "two"):
        build_index([corpus], tmp_path / name, embedder=real_embedder)
        prints.append(_fingerprint(tmp_path / name, real_embedder, queries, "2025-06-01"))
    assert prints[0] == prints[1]
    assert all(prints[0]["results"].values())

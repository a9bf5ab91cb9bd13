"""Durability when a writer dies: SIGKILLed mid-write, at random moments (hundreds of times in the slow suite), or
between renaming its generation into place and publishing it. The last published generation always stays live and
verifies, and the next writer clears what the dead one left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FakeEmbedder, article_ids
from durability import cli_here, current, extra_batch, golden_hits, tmp_folders, wait_for
from processes import child_env, cli_in_child, program

from assistant import update_index
from assistant.index.integrity import check_index as verify
from assistant.index.layout import generation_number


def slow_writer_env(seconds: str) -> dict[str, str]:
    """For tests/programs/slow_writer.py: the tests' vectors, each batch ``seconds`` late."""
    return child_env(ASSISTANT_EMBEDDER="embedders:SlowEmbedder", SLOW_EMBEDDER_SECONDS=seconds)


def test_sigkill_mid_update_leaves_the_old_generation_live(tmp_path: Path, base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    extra = tmp_path / "extra"
    extra_batch(extra, 0, 200)  # 50 slow embed calls: seconds of work, killed within milliseconds
    before = golden_hits(index)
    live = current(index)
    proc = subprocess.Popen(
        [*program("slow_writer"), str(index), str(corpus), str(extra)],
        env=slow_writer_env("0.05"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: bool(tmp_folders(index)), proc=proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert tmp_folders(index), "the kill should have left the unfinished generation behind"
    assert (index / ".lock").exists(), "the lock file stays; only the kernel's lock on it went with the writer"

    assert verify(index)[1] == []
    assert current(index) == live
    assert golden_hits(index) == before

    # A new writer takes the (kernel-released) lock, clears the leftover and publishes.
    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.published and len(summary.added) == 200 and summary.articles == 205
    assert tmp_folders(index) == []
    assert current(index) != live and verify(index)[1] == []
    assert [[hit[:2] for hit in hits] for hits in golden_hits(index).values()] == [
        [hit[:2] for hit in hits] for hits in before.values()
    ]


def test_a_generation_renamed_but_never_published_is_removed(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    before = golden_hits(index)
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    env = child_env(ASSISTANT_EMBEDDER="assistant.testing:HashingEmbedder")
    done = subprocess.run([*program("die_before_switching"), str(index), str(corpus)], env=env, capture_output=True)
    assert done.returncode == 9, done.stderr
    # Complete and checksummed, but nothing names it: readers still get generation 1.
    assert sorted(p.name for p in index.glob("gen-*")) == ["gen-000001", "gen-000002"]
    assert current(index) == "gen-000001" and verify(index)[1] == [] and golden_hits(index) == before

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


MODES = ("rebuild", "update")
BATCH = 24


def _committing(index: Path) -> bool:
    """Whether a writer is in the last steps of its commit: vectors written, fsyncs, rename and switch to come."""
    return any((folder / "vectors.faiss").exists() for folder in tmp_folders(index))


def _kill_loop(tmp_path: Path, corpus: Path, index: Path, kills: int, seed: int) -> dict[str, int]:
    """Start a rebuild or an update (in turn), SIGKILL it at a random moment, check the index; ``kills`` times over.

    Every round replaces the extra articles with a new batch, so a rebuild and an update both publish exactly the
    corpus and that batch, and take about as long in round 200 as in round 1. Imports are paid once: a server
    process forks one writer per round (``os.fork`` keeps it cheap).
    """
    extra = tmp_path / "extra"
    extra.mkdir()
    server = subprocess.Popen(
        [*program("slow_writer"), "--serve", str(index), str(corpus), str(extra)],
        env=slow_writer_env("0.02"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    corpus_ids = article_ids(index)

    def ask(line: str) -> str:
        server.stdin.write(line + "\n")
        server.stdin.flush()
        return server.stdout.readline().strip()

    def new_batch(batch: int) -> set[str]:
        """Replace the extra articles; returns the articles a generation written from now on holds."""
        for old in extra.iterdir():
            old.unlink()
        extra_batch(extra, batch, BATCH)
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
            wait_for(lambda pid=pid: bool(tmp_folders(index)) or _exited(pid))
            started = time.monotonic()
            wait_for(lambda pid=pid: _committing(index) or _exited(pid))
            commit_started = time.monotonic()
            wait_for(lambda pid=pid: _exited(pid))
            duration[mode] = time.monotonic() - started
            committing[mode] = time.monotonic() - commit_started
            assert int(ask(f"reap {pid}")) == 0 and tmp_folders(index) == []
            assert article_ids(index) == expected, mode

        golden = golden_hits(index)
        live = current(index)
        held = article_ids(index)
        seen_unpublished: set[str] = set()
        for round_ in range(kills):
            mode = MODES[round_ % len(MODES)]
            where = f"round {round_} ({mode})"
            started_from = live
            expected = new_batch(round_)
            pid = int(ask(f"run {mode}"))
            wait_for(lambda pid=pid: bool(tmp_folders(index)) or _exited(pid))  # a zombie at worst, not reused
            if round_ % 3 == 2:
                # Every third kill aims at the commit's last steps, a few milliseconds a uniform draw rarely hits.
                wait_for(lambda pid=pid: _committing(index) or _exited(pid))
                time.sleep(moments[round_] * 1.25 * committing[mode])
                stats["at_commit"] += 1
            else:
                # Anywhere from "just started writing" to "finished a while ago", the commit included.
                time.sleep(moments[round_] * 1.25 * duration[mode])
            tmp_existed = bool(tmp_folders(index))
            os.kill(pid, signal.SIGKILL)  # unreaped until "reap", so the pid cannot be reused meanwhile
            status = int(ask(f"reap {pid}"))
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            assert killed or os.WEXITSTATUS(status) == 0, f"{where}: writer failed on its own"
            stats[mode] += 1
            stats["killed"] += killed
            stats["mid_write"] += killed and tmp_existed

            checked = cli_here("index", "verify", "--index", index)
            assert checked.exit_code == 0 and checked.stdout.startswith("ok: "), f"{where}: {checked.output}"
            if round_ % 50 == 49:  # now and then the real command, in a process of its own
                done = cli_in_child("index", "verify", "--index", index)
                assert done.returncode == 0, f"{where}: {done.stderr}"
            now = current(index)
            results = golden_hits(index)  # the index opens and answers
            articles = article_ids(index)
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
            assert len(tmp_folders(index)) <= 1, where
            if not killed:
                assert {p.name for p in index.glob("gen-*")} == {started_from, live}, where
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    if kills >= 5:
        assert stats["mid_write"] >= 1, "no kill landed while a generation was being written"

    done = cli_in_child("index", "verify", "--index", index)
    assert done.returncode == 0 and done.stdout.startswith(f"ok: generation {generation_number(live)},"), done.stderr
    # The next writer to publish clears whatever the killed ones left: a temp folder, an unpublished generation,
    # one not yet pruned. Only the new generation and the one before it stay.
    expected = new_batch(kills + len(MODES))
    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.published and article_ids(index) == expected and tmp_folders(index) == []
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

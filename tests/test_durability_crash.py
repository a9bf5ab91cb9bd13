"""Durability when a writer dies: SIGKILLed mid-write, during a merge, at random moments (hundreds of times in the
slow suite), after writing segment files it never commits, or between renaming a rebuilt store into place and
switching to it. The last published generation always stays live and verifies, and the next writer clears what
the dead one left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import FakeEmbedder, article_ids
from durability import (
    Round,
    WriterServer,
    cli_here,
    current,
    extra_batch,
    generation,
    golden_hits,
    kill_when_embedding,
    killed_by_sigkill,
    plan,
    segment_files,
    tmp_folders,
    unnamed,
)
from processes import child_env, cli_in_child, program

from assistant import update_index
from assistant.index.local.integrity import check_index as verify
from assistant.index.local.reader import kept_generations


def slow_writer_env(seconds: str, **extra: str) -> dict[str, str]:
    """For tests/programs/slow_writer.py: the tests' vectors, each batch ``seconds`` late."""
    return child_env(ASSISTANT_EMBEDDER="embedders:SlowEmbedder", SLOW_EMBEDDER_SECONDS=seconds, **extra)


def test_sigkill_mid_update_leaves_the_old_generation_live(tmp_path: Path, base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    extra = tmp_path / "extra"
    extra_batch(extra, 0, 200)  # 50 slow embed calls: seconds of work, killed within milliseconds
    before = golden_hits(index)
    mark = tmp_path / "embedding"
    proc = subprocess.Popen(
        [*program("slow_writer"), str(index), str(corpus), str(extra)],
        # A segment every 40 passages: the kill finds segment files written that no commit names yet.
        env=slow_writer_env("0.05", SLOW_EMBEDDER_MARK=str(mark), ASSISTANT_SEGMENT_ROWS="40"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        kill_when_embedding(proc, mark)
    finally:
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    left = unnamed(index)
    assert left, "the kill should have left segment files that no commit names"
    assert (index / ".lock").exists(), "the lock file stays; only the kernel's lock on it went with the writer"

    assert verify(index).problems == ()
    assert generation(index) == 1
    assert golden_hits(index) == before

    # A new writer takes the (kernel-released) lock, clears the leftovers and publishes.
    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.published and len(summary.added) == 200 and summary.articles == 205
    assert unnamed(index) == set() and not left & segment_files(index / current(index))
    assert generation(index) == 2 and verify(index).problems == ()
    assert [[hit[:2] for hit in hits] for hits in golden_hits(index).values()] == [
        [hit[:2] for hit in hits] for hits in before.values()
    ]


def test_segments_written_but_never_committed_are_removed(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    before = golden_hits(index)
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    env = child_env(ASSISTANT_EMBEDDER="assistant.testing:HashingEmbedder")
    done = subprocess.run([*program("die_at"), "commit", str(index), str(corpus)], env=env, capture_output=True)
    assert done.returncode == 9, done.stderr
    left = unnamed(index)
    assert left and all(name.startswith("seg-00000002.") for name in left)
    assert generation(index) == 1 and verify(index).problems == () and golden_hits(index) == before

    summary = update_index([corpus], index, embedder=FakeEmbedder())
    assert summary.generation == 2 and summary.added == ["news/comet.txt"]
    assert unnamed(index) == set() and verify(index).problems == ()


def test_a_store_renamed_but_never_published_is_removed(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    before = golden_hits(index)
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    env = child_env(ASSISTANT_EMBEDDER="assistant.testing:HashingEmbedder")
    done = subprocess.run([*program("die_at"), "switch", str(index), str(corpus)], env=env, capture_output=True)
    assert done.returncode == 9, done.stderr
    # Complete, but nothing names it: readers still get generation 1.
    assert sorted(p.name for p in index.glob("store-*")) == ["store-000001", "store-000002"]
    assert current(index) == "store-000001" and verify(index).problems == () and golden_hits(index) == before

    (corpus / "comet2.txt").write_text("Second comet\n\nAstronomers saw another comet.\n")
    summary = update_index([corpus], index, embedder=FakeEmbedder())
    # The next writer drops it (nothing ever read generation 2 there), and publishes generation 2 in the live store.
    assert summary.generation == 2 and summary.added == ["news/comet.txt", "news/comet2.txt"]
    assert sorted(p.name for p in index.glob("store-*")) == ["store-000001"]
    assert verify(index).problems == ()


MODES = ("rebuild", "update")
BATCH = 24
# A kill at one of these leaves the live generation as it was; at any other named moment the write has published.
UNPUBLISHED = ("segment-written", "committing", "renamed")


def _committing(index: Path) -> bool:
    """Whether a writer has written segment files that no commit names yet (in a rebuild's store, or the live one)."""
    return any(segment_files(folder) for folder in tmp_folders(index)) or bool(unnamed(index))


def _doing(logs: Path, pid: int) -> str:
    """What a writer's log says it was doing last: "merging", or "" (writing, or done)."""
    path = logs / f"{pid}.log"
    lines = path.read_text().splitlines() if path.exists() else []
    started = sum(line.startswith("merging") for line in lines)
    return "merging" if started > sum(line.startswith("merged into") for line in lines) else ""


def _check_stopped_at(moment: str, index: Path, live: int, where: str) -> None:
    """The index as a writer stopped at ``moment`` leaves it, read while it is stopped: the moment is what it says."""
    now = generation(index)
    if moment in ("segment-written", "committing"):
        assert _committing(index) and now == live, f"{where}: no unnamed segment files, or published early"
    elif moment == "renamed":
        assert any(p.name > current(index) for p in index.glob("store-*")) and now == live, where
    elif moment == "merge-written":
        assert unnamed(index) and now == live + 1, f"{where}: no merged segment waiting for its commit"
    else:  # published, merge-committed, purged
        assert now == live + 1, f"{where}: generation {now}, expected {live + 1}"


def _kill_loop(tmp_path: Path, corpus: Path, index: Path, kills: int, seed: int) -> Counter[str]:
    """Start a rebuild or an update, SIGKILL it at a named moment or a random time, check the index; ``kills`` times.

    Two kills in three are aimed: the writer stops itself at a named moment (a segment written, its commit row
    written, its store renamed into place, published, a merged segment written, a merge committed, old data purged;
    each of those of each kind of write in turn, at a random one of its occurrences), the test checks that the index
    is in the state that moment claims, then kills it there. The others land at stratified random times, from "just
    started" to "finished a while ago". Every round replaces the extra articles with a new batch, so a rebuild and
    an update both publish exactly the corpus and that batch, and take about as long in round 200 as in round 1. An
    update tombstones the last batch, so after it publishes, the merge policy (a merge factor of 2 here) rewrites
    that batch's segment and merges the rest. Imports are paid once: a server process forks one writer per round.
    """
    extra = tmp_path / "extra"
    extra.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    server = WriterServer(index, [corpus, extra], logs, slow_writer_env("0.02", ASSISTANT_MERGE_FACTOR="2"))
    corpus_ids = article_ids(index)

    def new_batch(batch: int) -> set[str]:
        """Replace the extra articles; returns the articles a generation written from now on holds."""
        for old in extra.iterdir():
            old.unlink()
        extra_batch(extra, batch, BATCH)
        return corpus_ids | {f"b{batch}-{n}" for n in range(BATCH)}

    stats: Counter[str] = Counter()
    started_loop = time.monotonic()
    try:
        # One uninterrupted write of each kind: how long it takes here, and the moments it passes, how often.
        duration: dict[str, float] = {}
        seen: dict[str, Counter[str]] = {}
        for batch, mode in enumerate(MODES, start=kills):
            expected = new_batch(batch)
            started = time.monotonic()
            pid = server.run(mode)
            assert server.reap(pid) == 0 and tmp_folders(index) == [] and unnamed(index) == set()
            duration[mode] = time.monotonic() - started
            seen[mode] = Counter(server.moments(pid))
            assert article_ids(index) == expected, mode
        assert set(seen["rebuild"]) >= {*UNPUBLISHED, "published", "purged"}, seen
        assert set(seen["update"]) >= {"segment-written", "committing", "published", "merge-written"}, seen

        golden = golden_hits(index)
        live = generation(index)
        held = article_ids(index)
        rounds = plan(kills, seed, seen, MODES)
        number = 0
        while number < len(rounds):
            target = rounds[number]
            where = f"round {number} ({target})"
            expected = new_batch(number)
            started = time.monotonic()
            pid = server.run(target.mode, target.moment, target.occurrence)
            if target.moment is not None:
                status = server.wait(pid)
                if (
                    status is not None
                ):  # this write passed the moment fewer times (merges vary): aim again, at the first
                    assert status == 0, f"{where}: writer failed on its own"
                    stats["missed"] += 1
                    rounds.insert(number + 1, Round(target.mode, target.moment, 1))
                else:
                    _check_stopped_at(target.moment, index, live, where)
                    status = server.kill(pid)
                    stats[f"at {target.mode} {target.moment}"] += 1
            else:
                time.sleep(max(0.0, target.at * duration[target.mode] - (time.monotonic() - started)))
                status = server.kill(pid)
                stats["at a random time"] += 1
            killed = killed_by_sigkill(status)
            assert killed or os.WEXITSTATUS(status) == 0, f"{where}: writer failed on its own"
            stats[target.mode] += 1
            stats["killed"] += killed
            stats["in_merge"] += killed and _doing(logs, pid) == "merging"

            checked = cli_here("index", "verify", "--index", index)
            assert checked.exit_code == 0 and checked.stdout.startswith("ok: "), f"{where}: {checked.output}"
            if number % 50 == 49:  # now and then the real command, in a process of its own
                done = cli_in_child("index", "verify", "--index", index)
                assert done.returncode == 0, f"{where}: {done.stderr}"
            now = generation(index)
            results = golden_hits(index)  # the index opens and answers
            articles = article_ids(index)
            assert killed or now != live, f"{where}: the writer finished but published nothing"
            if killed and target.moment is not None:
                assert (now == live) == (target.moment in UNPUBLISHED), f"{where}: generation {now} after {live}"
            if now == live:
                # Killed before publishing, or while merging what it had published: the same answers, exactly.
                stats["mid_write"] += killed and _doing(logs, pid) != "merging"
                assert results == golden, f"{where}: answers changed without a new generation"
                assert articles == held, f"{where}: articles changed without a new generation"
            else:
                # Published: all of the write or nothing. The extra articles are after AS_OF, so the same
                # passages answer, with the same dense scores (BM25 statistics count the new rows).
                assert now == live + 1 and articles == expected, f"{where}: partial generation"
                for query, hits in results.items():
                    assert [(h[0], h[3]) for h in hits] == [(h[0], h[3]) for h in golden[query]], (where, query)
                live, golden, held = now, results, articles
                stats["published"] += 1
            # Killed between renaming its store into place and switching CURRENT: a complete store that nothing
            # names, which the next writer removes.
            stats["unpublished_left"] += any(p.name > current(index) for p in index.glob("store-*"))
            # Leftovers never pile up: each writer clears the last one's temporary store and unnamed files.
            assert len(tmp_folders(index)) <= 1, where
            if not killed:
                assert unnamed(index) == set() and kept_generations(index)[-1] == live, where
                assert len(list(index.glob("store-*"))) <= 2, where
            number += 1
    finally:
        server.close()
    aimed = {f"at {mode} {name}" for mode in MODES for name in seen[mode]}
    if kills >= 3 * len(aimed) // 2:  # two in three rounds aimed: enough rounds to aim at each moment once
        assert {key for key in stats if key.startswith("at ")} >= aimed, f"moments never hit: {aimed - set(stats)}"
    assert stats["mid_write"] >= 1, "no kill landed while a generation was being written"

    done = cli_in_child("index", "verify", "--index", index)
    assert done.returncode == 0 and done.stdout.startswith(f"ok: generation {live},"), done.stderr
    # The next writer to publish clears whatever the killed ones left: a temporary store, unnamed segment files,
    # an unpublished store, commits and stores older than the kept generations.
    expected = new_batch(len(rounds) + len(MODES))
    summary = update_index([corpus, extra], index, embedder=FakeEmbedder())
    assert summary.published and article_ids(index) == expected and tmp_folders(index) == []
    assert unnamed(index) == set() and summary.generation == live + 1
    assert kept_generations(index)[-1] == live + 1
    assert verify(index).problems == () and not (index / "CURRENT.tmp").exists()
    print(
        f"\nkill loop: {len(rounds)} rounds, {stats['killed']} writers killed ({stats['rebuild']} rebuilds, "
        f"{stats['update']} updates), {stats['mid_write']} before publishing, {stats['in_merge']} while merging, "
        f"{len(rounds) - stats['killed']} had finished; {stats['published']} new generations published; "
        f"{stats['unpublished_left']} kills left a renamed but unpublished store; {stats['missed']} aims re-aimed; "
        f"by moment: {dict(sorted((k, v) for k, v in stats.items() if k.startswith('at ')))}; uninterrupted writes "
        f"took {duration['rebuild']:.2f}s (rebuild) and {duration['update']:.2f}s (update); "
        f"{time.monotonic() - started_loop:.0f}s in all"
    )
    return stats


@pytest.mark.parametrize("kills", [6, 18, pytest.param(200, marks=pytest.mark.slow)])
def test_sigkill_at_named_and_random_moments(tmp_path: Path, base_index: tuple[Path, Path], kills: int) -> None:
    corpus, index = base_index
    stats = _kill_loop(tmp_path, corpus, index, kills, seed=kills)
    assert stats["rebuild"] + stats["update"] >= kills
    if kills >= 200:
        assert stats["in_merge"] >= 5, "too few kills landed during a merge"

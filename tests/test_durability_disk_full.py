"""Durability on a full disk: wherever the write fails (a segment's vectors, its IVF index, the database's commit,
each segment file, the switch to a rebuilt store), the update fails with one readable line and its own exit code,
the previous generation stays live and verifies, nothing of the failed write holds space, and the next update goes
through.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FakeEmbedder, news_corpus, write_jsonl
from durability import cli_here, current, golden_hits, segment_files, snapshot, unnamed
from embedders import WideEmbedder
from processes import child_env, program

import assistant.indexing.update
from assistant import build_index, get_settings, update_index
from assistant.cli import DISK_FULL_EXIT
from assistant.index.local.integrity import check_index as verify
from assistant.index.local.reader import IndexReader

_NOSPACE = os.strerror(errno.ENOSPC)


def _enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, _NOSPACE)


@pytest.mark.parametrize("failing", ["rows", "vectors", "terms", "postings", "CURRENT.tmp"])
def test_disk_full_during_commit(base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import assistant.index.local.layout as layout
    import assistant.index.local.segments as segments

    corpus, index = base_index
    before = golden_hits(index)
    files = snapshot(index)
    live = current(index)
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    with monkeypatch.context() as patch:
        if failing == "CURRENT.tmp":
            real_fsync = layout.fsync_file

            def fsync(path: Path) -> None:
                if path.name == failing:
                    _enospc()
                real_fsync(path)

            patch.setattr(layout, "fsync_file", fsync)
            write = build_index  # only a rebuild switches CURRENT
        else:
            real_write = segments.ArrayFile.write

            def partial(self: segments.ArrayFile, block: object) -> None:
                if f".{failing}." in self.path.name:
                    self.path.write_bytes(b"\x00" * 100)  # a partial file, then the disk is full
                    _enospc()
                real_write(self, block)

            patch.setattr(segments.ArrayFile, "write", partial)
            write = update_index
        with pytest.raises(OSError) as raised:
            write([corpus], index, embedder=FakeEmbedder())
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(index)
    assert current(index) == live and verify(index).problems == ()
    assert golden_hits(index) == before
    # Nothing of the failed write stays to hold space on the full disk, not even a store already renamed.
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", live]
    assert unnamed(index) == set() and snapshot(index) == files

    summary = update_index([corpus], index, embedder=FakeEmbedder())  # the lock was released
    assert summary.published and summary.added == ["news/new.txt"]
    assert verify(index).problems == () and summary.generation == 2


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_the_command_line_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))  # as a plain write reports it: no file name

    monkeypatch.setattr(assistant.indexing.update, "update_index", fail)
    result = cli_here("index", "update", tmp_path, "--index", tmp_path / "idx")
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


# A shell in a mount namespace of its own (root in it, through a user namespace when need be): what mounts a tmpfs.
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


# Where the disk fills up, chosen by how much room is left for the update (from the sizes the same update writes on
# an ordinary disk): while writing the new segment's vectors, its IVF index, or the database's commit (its WAL).
FULL_AT = {
    "vectors": lambda sizes: sizes["rows"] + sizes["vectors"] // 2,
    "ivf": lambda sizes: sizes["segment"] - sizes["ann"] // 2,
    "database": lambda sizes: sizes["segment"] + sizes["database"] // 2,
}
# How the layer that hit it words it, before the writer turns it into one OSError.
CAUSE = {
    "vectors": ("OSError(28, 'No space left on device')",),
    "ivf": ("OSError(28, 'No space left on device')",),
    "database": ("OperationalError('database or disk is full')",),
}


def _written(index: Path, probe: Path) -> dict[str, int]:
    """Bytes the probe's update wrote: per kind of segment file, all segment files, the database's growth."""
    before = segment_files(index / current(index))
    folder = probe / current(probe) / "segments"
    new = [p for p in folder.iterdir() if p.name not in before]
    sizes = {kind: sum(p.stat().st_size for p in new if f".{kind}." in p.name) for kind in ("rows", "vectors", "ann")}
    sizes["segment"] = sum(p.stat().st_size for p in new)
    sizes["database"] = (probe / current(probe) / "store.sqlite").stat().st_size - (
        index / current(index) / "store.sqlite"
    ).stat().st_size
    return sizes


@pytest.mark.parametrize("stage", FULL_AT)
def test_a_real_full_disk_fails_the_update_cleanly(tmp_path: Path, private_tmpfs: None, stage: str) -> None:
    # The command line runs in a process of its own, so it gets the same embedder by name, through the setting.
    embedder, chosen = (
        (WideEmbedder, "embedders:WideEmbedder")
        if stage != "database"
        else (FakeEmbedder, "assistant.testing:HashingEmbedder")
    )
    corpus = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=embedder())
    extra = tmp_path / "extra"
    extra.mkdir()
    words = " ".join(f"ledger{n}" for n in range(60))
    count = 1100 if stage == "ivf" else 150  # an IVF index only for a segment of at least ann_min_rows
    write_jsonl(
        extra / "wire.jsonl",
        [
            {"id": f"w{n}", "title": f"Wire {n}", "text": f"Wire item {n} lists {words}.", "date": "2025-01-02"}
            for n in range(count)
        ],
    )
    settings = get_settings(ann_min_rows=1000, merge_after_write=False, progress=False)
    env_settings = {"ASSISTANT_ANN_MIN_ROWS": "1000", "ASSISTANT_MERGE_AFTER_WRITE": "false"}
    before = snapshot(index)
    names = sorted(p.name for p in index.iterdir())
    golden = golden_hits(index, embedder())

    probe = tmp_path / "probe"  # the same update on an ordinary disk: how much it writes
    shutil.copytree(index, probe)
    assert update_index([corpus, extra], probe, embedder=embedder(), settings=settings).published
    sizes = _written(index, probe)
    free = FULL_AT[stage](sizes)
    # The sizes really put the failure where the stage says.
    assert {
        "vectors": sizes["rows"] + 16384 < free < sizes["rows"] + sizes["vectors"] - 16384,
        "ivf": sizes["segment"] - sizes["ann"] + 16384 < free < sizes["segment"] - 16384,
        "database": sizes["segment"] + 16384 < free < sizes["segment"] + sizes["database"] - 16384,
    }[stage], sizes

    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    env = child_env(ASSISTANT_EMBEDDER=chosen, TEST_CAUSE_FILE=str(out / "cause.txt"), **env_settings)
    done = subprocess.run(
        [
            *_UNSHARE,
            'mount -t tmpfs -o size=16m none "$0" && exec "$@"',
            str(mount),
            *program("full_disk"),
            str(mount),
            str(index),
            str(free),
            str(out),
            *program("cli_reporting_cause"),
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
    # The failed writer gave back all it took (SQLite may also drop its shared-memory file when the last
    # connection closes, giving back a little more).
    assert report["free"][0] <= report["free"][1] <= report["free"][0] + 65536 and report["free"][0] <= free

    after = out / "idx"
    assert sorted(p.name for p in after.iterdir()) == names  # no temp folder, no unpublished generation
    assert snapshot(after) == before
    assert golden_hits(after, embedder()) == golden
    # With room again, the next update goes through: the lock was released and nothing is left in the way.
    summary = update_index([corpus, extra], after, embedder=embedder(), settings=settings)
    assert summary.published and len(summary.added) == count and verify(after).problems == ()


def test_a_full_disk_during_the_merge_after_an_update_leaves_the_update_published(
    base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.index.local.merging as merging

    corpus, index = base_index
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    real_merge = merging.merge

    def merge(inputs: list[object], dead: object, writer: object) -> dict[str, object]:
        record = real_merge(inputs, dead, writer)  # type: ignore[arg-type]
        _enospc()  # the merged segment is written, then the disk fills up before its commit
        return record

    settings = get_settings(merge_factor=2, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(merging, "merge", merge)
        summary = update_index([corpus], index, embedder=FakeEmbedder(), settings=settings)
    assert summary.published and summary.generation == 2 and summary.merges == 0
    assert unnamed(index) == set() and verify(index).problems == ()
    reader = IndexReader.open(index)
    assert len(reader.lives) == 2  # not merged, and nothing of the merge left behind
    reader.close()
    (corpus / "new2.txt").write_text("Second comet\n\nAstronomers saw another comet.\n")
    assert update_index([corpus], index, embedder=FakeEmbedder(), settings=settings).merges >= 1
    assert verify(index).problems == ()

"""Durability on a full disk: wherever the write fails (copying the database, growing it, writing vectors, the
commit's fsyncs), the update fails with one readable line and its own exit code, the previous generation stays live
and verifies, nothing of the failed write holds space, and the next update goes through.
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
from durability import cli_here, current, golden_hits, snapshot
from embedders import WideEmbedder
from processes import child_env, program

import assistant.index.update
from assistant import build_index, update_index
from assistant.cli import DISK_FULL_EXIT
from assistant.index.integrity import check_index as verify

_NOSPACE = os.strerror(errno.ENOSPC)


def _enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, _NOSPACE)


@pytest.mark.parametrize("failing", ["vectors.faiss", "meta.sqlite", "manifest.json", "CURRENT.tmp"])
def test_disk_full_during_commit(base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import faiss

    import assistant.index.writer as store

    corpus, index = base_index
    before = golden_hits(index)
    live = current(index)
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
    assert current(index) == live and verify(index)[1] == []
    assert golden_hits(index) == before
    # Nothing of the failed write stays to hold space on the full disk, not even a generation already renamed.
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", live]

    summary = update_index([corpus], index, embedder=FakeEmbedder())  # the lock was released
    assert summary.published and summary.added == ["news/new.txt"]
    assert verify(index)[1] == [] and current(index) != live


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_the_command_line_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))  # as a plain write reports it: no file name

    monkeypatch.setattr(assistant.index.update, "update_index", fail)
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
    # The command line runs in a process of its own, so it gets the same embedder by name, through the setting.
    embedder, chosen = (
        (WideEmbedder, "embedders:WideEmbedder")
        if stage == "vectors"
        else (FakeEmbedder, "assistant.testing:HashingEmbedder")
    )
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
    before = snapshot(index)
    names = sorted(p.name for p in index.iterdir())
    golden = golden_hits(index, embedder())

    probe = tmp_path / "probe"  # the same update on an ordinary disk: how much it writes
    shutil.copytree(index, probe)
    assert update_index([corpus, extra], probe, embedder=embedder()).published
    base_db = (index / current(index) / "meta.sqlite").stat().st_size
    new_db = (probe / current(probe) / "meta.sqlite").stat().st_size
    vectors = (probe / current(probe) / "vectors.faiss").stat().st_size
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
    env = child_env(ASSISTANT_EMBEDDER=chosen, TEST_CAUSE_FILE=str(out / "cause.txt"))
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
    assert report["free"][1] == report["free"][0] <= free  # the failed writer gave back all it took

    after = out / "idx"
    assert sorted(p.name for p in after.iterdir()) == names  # no temp folder, no unpublished generation
    assert snapshot(after) == before
    assert golden_hits(after, embedder()) == golden
    # With room again, the next update goes through: the lock was released and nothing is left in the way.
    summary = update_index([corpus, extra], after, embedder=embedder())
    assert summary.published and len(summary.added) == 150 and verify(after)[1] == []

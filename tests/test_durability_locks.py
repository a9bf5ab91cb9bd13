"""Durability with two writers: one index has one writer at a time. A second is refused with its own exit code
while the first works, and takes over once the first is killed, clearing what it left.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from durability import cli_here, snapshot, tmp_folders, unnamed
from processes import child_env, cli_in_child, program

from assistant import IndexLockedError
from assistant.errors import EXIT_CODES
from assistant.index.local.integrity import check_index as verify


def test_a_second_writer_is_refused_until_the_first_dies(
    base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, index = base_index
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    monkeypatch.setenv("ASSISTANT_EMBEDDER", "assistant.testing:HashingEmbedder")
    holder = subprocess.Popen(
        [*program("hold_lock"), str(index)],
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "writing"
        before = snapshot(index)
        refused = f"error: the index in {index} is being updated by another process; try again when it finishes"
        # The real command in a process of its own (removing needs no embedder) ...
        done = cli_in_child("index", "remove", "news/volcano.md", "--index", index)
        assert (done.returncode, done.stderr.splitlines()) == (EXIT_CODES[IndexLockedError], [refused])
        assert EXIT_CODES[IndexLockedError] == 7
        # ... and updating or rebuilding through the command line's code, with the test embedder.
        for command in ("update", "build"):
            result = cli_here("index", command, corpus, "--index", index)
            assert (result.exit_code, result.stderr.splitlines()) == (7, [refused]), command
        assert snapshot(index) == before
        assert verify(index).problems == ()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
        holder.stdin.close()
    assert holder.returncode == -signal.SIGKILL
    # What a killed writer leaves: the lock file (the kernel dropped its lock on it) and an open transaction that
    # SQLite rolls back; nothing is published and nothing else changed.
    assert (index / ".lock").exists() and snapshot(index) == before and unnamed(index) == set()

    result = cli_here("index", "update", corpus, "--index", index)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{index}: generation 2 — 6 articles")
    assert tmp_folders(index) == [] and verify(index).problems == ()

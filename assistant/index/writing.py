"""What every writer shares, whichever backend it writes: one writer at a time, the clock that stamps commits,
articles and removals, and the named moments of a write that the crash tests stop a writer at."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IndexLockedError

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["moment", "utc_now", "writer_lock"]


def utc_now() -> str:
    """The time a commit, an article or a removal is stamped with: UTC, to the second, ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def writer_lock(path: Path, index: object) -> BaseFileLock:
    """The one-writer lock of ``index`` (a folder, or a Milvus Lite folder) in the file ``path``, taken; or
    IndexLockedError. flock is released by the kernel when a writer dies, so a killed writer never leaves a stale
    lock."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise IndexLockedError(
            f"the index in {index} is being updated by another process; try again when it finishes"
        ) from None
    return lock


def moment(name: str) -> dict[str, str]:
    """A log record's ``extra`` naming a moment of a write (``segment-written``, ``committing``, ``renamed``,
    ``published``, ``merge-written``, ``merge-committed``, ``purged``; on Milvus ``rows-inserted`` and ``deleting``):
    the points where a writer that dies must leave the index as the crash tests check it. Logged at DEBUG, so a
    test's handler can stop a writer exactly there; nothing else reads them."""
    return {"moment": name}

"""BLAS and OpenMP on one thread while searches run: one query is too small to share between cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

__all__ = ["one_thread"]

_THREADS = threading.Lock()
_limited: list[Any] = []  # the limiter in force, while at least one search runs
_searching = 0


@lru_cache(maxsize=1)
def _controller() -> Any:
    """The thread pools of the libraries loaded (finding them takes milliseconds: once per process)."""
    import faiss  # noqa: F401  loaded first, so its OpenMP runtime is among the ones limited
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run BLAS and OpenMP (numpy's and FAISS's) on one thread while searches run.

    One query is too small to share between cores: spread over two, each step waits for the slower thread, and
    with another process busy on a core (a chat page next to a build), a search takes several times longer.
    The limit is process-wide (threadpoolctl), set by the first search in and lifted by the last one out.
    """
    global _searching
    with _THREADS:
        if not _searching:
            _limited.append(_controller().limit(limits=1))
        _searching += 1
    try:
        yield
    finally:
        with _THREADS:
            _searching -= 1
            if not _searching:
                _limited.pop().restore_original_limits()

"""Reading numpy files (the store's segments, the language identifier's model) safely from several threads.

numpy reads an ``.npy`` header with ``ast.literal_eval``, and CPython 3.11 keeps the AST constructor's recursion
depth in state that threads share (python/cpython#106905): two threads building an AST at once can fail with
"SystemError: AST constructor recursion depth mismatch". It happened here when a writer purged old segments
(reading their rows) while readers in other threads of the same process opened the new ones, as the chat page does
while it updates, and when a search's first question in another language loaded py3langid's model (numpy too)
beside them. So every numpy read of the project's goes through :func:`parsed` (one at a time, :data:`HEADERS`; a
header takes microseconds), and a read that another AST user of the process (an import defining pydantic models,
say) disturbed is made again: the error is about the shared counter, not the file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import numpy as np

__all__ = ["ATTEMPTS", "HEADERS", "mapped_array", "parsed", "read_header"]

logger = logging.getLogger(__name__)

HEADERS = threading.Lock()
ATTEMPTS = 3
_MISMATCH = "AST constructor recursion depth mismatch"
T = TypeVar("T")


def mapped_array(path: Path) -> np.ndarray:
    """``np.load(path, mmap_mode="r")``: the array mapped read-only, its header parsed under the lock."""
    return parsed(lambda: np.load(path, mmap_mode="r"), path)


def read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, Fortran order and dtype of the version 1.0 ``.npy`` file open at its start in ``handle``;
    ValueError for another version or a header numpy cannot read."""
    start = handle.tell()

    def parse() -> tuple[tuple[int, ...], bool, np.dtype]:
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        if version != (1, 0):
            raise ValueError(f"npy version {version}")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        return shape, fortran, dtype

    return parsed(parse, getattr(handle, "name", "an .npy file"))


def parsed(parse: Callable[[], T], what: object) -> T:
    """``parse()`` (a read of numpy files naming ``what``) alone among the project's, made again when another
    thread's AST disturbed it."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with HEADERS:
                return parse()
        except SystemError as exc:
            if _MISMATCH not in str(exc) or attempt == ATTEMPTS:
                raise
            logger.info("reading %s again: another thread was building an AST (%s)", what, exc)
    raise AssertionError("not reached")

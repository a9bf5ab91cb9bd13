"""A writer that dies at a chosen moment of its commit, skipping every cleanup as a SIGKILL would.

    die_at.py switch INDEX INPUT...   a rebuild, dying between renaming its store into place and switching CURRENT
    die_at.py commit INDEX INPUT...   an update, dying after writing its segment files, before the commit row

Exits with status 9 at that moment. The embedder is the one ``ASSISTANT_EMBEDDER`` chooses.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import assistant.index.local.writer
from assistant import build_index, update_index


def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    if os.path.basename(target) == "CURRENT":
        os._exit(9)
    os.rename(source, target)


def commit_body(*args: Any, **kwargs: Any) -> dict[str, Any]:
    os._exit(9)


if __name__ == "__main__":
    moment, index, *inputs = sys.argv[1:]
    if moment == "switch":
        assistant.index.local.writer.os.replace = replace  # type: ignore[assignment]
        build_index(inputs, index)
    else:
        assistant.index.local.writer.IndexWriter.commit_body = commit_body  # type: ignore[method-assign]
        update_index(inputs, index)

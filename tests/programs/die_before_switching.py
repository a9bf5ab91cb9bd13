"""An update that dies between renaming its generation into place and switching CURRENT to it.

    die_before_switching.py INDEX INPUT...

Exits with status 9 the moment the writer would replace CURRENT, skipping every cleanup as a SIGKILL would.
The embedder is the one ``ASSISTANT_EMBEDDER`` chooses.
"""

from __future__ import annotations

import os
import sys

import assistant.index.writer
from assistant import update_index


def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    if os.path.basename(target) == "CURRENT":
        os._exit(9)
    os.rename(source, target)


if __name__ == "__main__":
    assistant.index.writer.os.replace = replace  # type: ignore[assignment]
    update_index(sys.argv[2:], sys.argv[1])

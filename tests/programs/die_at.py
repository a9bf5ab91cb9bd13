"""A writer that dies at a named moment of its commit (assistant.index.writing.moment), skipping every cleanup as a
SIGKILL would.

    die_at.py switch INDEX INPUT...   a rebuild, dying between renaming its store into place and switching CURRENT
    die_at.py commit INDEX INPUT...   an update, dying after writing its segment files and commit row, before the
                                      transaction that publishes them commits

Exits with status 9 at that moment. The embedder is the one ``ASSISTANT_EMBEDDER`` chooses.
"""

from __future__ import annotations

import logging
import os
import sys

from assistant import build_index, update_index

MOMENTS = {"switch": "renamed", "commit": "committing"}


class DieAt(logging.Handler):
    def __init__(self, moment: str) -> None:
        super().__init__(logging.DEBUG)
        self.moment = moment

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "moment", None) == self.moment:
            os._exit(9)


if __name__ == "__main__":
    moment, index, *inputs = sys.argv[1:]
    logger = logging.getLogger("assistant.index")
    logger.addHandler(DieAt(MOMENTS[moment]))
    logger.setLevel(logging.DEBUG)
    (build_index if moment == "switch" else update_index)(inputs, index)

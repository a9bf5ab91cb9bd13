"""The real command line, which also writes down what its error message came from.

    cli_reporting_cause.py ARGS...    (as ``assistant ARGS...``)

When the command ends with an error, the exception it turned into its message (or the one that was raised from)
is written, as its repr, to the file ``TEST_CAUSE_FILE`` names: how SQLite or faiss worded a failure the message
no longer shows.
"""

from __future__ import annotations

import os
from pathlib import Path

from assistant.cli import main

if __name__ == "__main__":
    try:
        main()
    except SystemExit as done:
        error = done.__context__
        if error is not None:
            Path(os.environ["TEST_CAUSE_FILE"]).write_text(repr(error.__cause__ or error))
        raise

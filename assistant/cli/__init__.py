"""The ``assistant`` command: build, update and inspect an index, search it, ask it, evaluate it, serve the page.

Data goes to stdout (``--json`` for machines), progress and logs to stderr; see :mod:`assistant.cli.options` for
how errors become exit codes.
"""

from .main import cli, main
from .options import DISK_FULL_EXIT

__all__ = ["DISK_FULL_EXIT", "cli", "main"]

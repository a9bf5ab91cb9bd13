"""What every command shares: the --index, --json and filter options, JSON output, and errors as exit codes.

Errors from the library become a one-line message and the exit code listed in :mod:`assistant.errors`; a disk
that fills up while the index is written exits with ``DISK_FULL_EXIT`` (12).
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from ..errors import AssistantError, exit_code

__all__ = ["DISK_FULL_EXIT", "emit", "errors", "filter_options", "index_option", "json_option"]

# Not an AssistantError: the library reports a full disk as the OSError it is (the index writer names the index
# folder in it), so callers can match on errno.
DISK_FULL_EXIT = 12

index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory (default: ASSISTANT_INDEX_DIR or index/).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--since, --until, --source and --as-of: which articles a question may be answered from."""
    for option in reversed(
        [
            click.option("--since", default=None, help="Only articles published on or after (YYYY[-MM[-DD]])."),
            click.option("--until", default=None, help="Only articles published on or before (YYYY[-MM[-DD]])."),
            click.option("--source", "sources", multiple=True, help="Only this outlet (repeatable)."),
            click.option("--as-of", "as_of", default=None, help="Ask as of this day: later articles are excluded."),
        ]
    ):
        func = option(func)
    return func


def errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AssistantError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exit_code(exc))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = exc.filename or kwargs.get("index_dir") or "the index folder"
            click.echo(
                f"error: disk full while writing the index in {where}: [Errno {exc.errno}] {exc.strerror}; "
                "the previous index is unchanged",
                err=True,
            )
            sys.exit(DISK_FULL_EXIT)

    return wrapper


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))

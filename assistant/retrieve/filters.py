"""Which chunks a search may return: the date window as a range of chunk ids, and the outlets asked for."""

from __future__ import annotations

import datetime as dt

from ..index.candidates import Window
from ..index.ids import day_range

__all__ = ["window_of"]


def window_of(
    since: dt.date | None,
    until: dt.date | None,
    sources: list[str],
    as_of: dt.date,
    keep_undated: bool = False,
) -> Window:
    """The chunks published in the window (up to ``as_of``), by ``sources`` when given.

    Chunk ids sort by publication day, so a window is an id range, a slice of every segment; undated chunks sort
    first and stay in unless an explicit window asks for dated ones (``keep_undated`` keeps them in a phrase window
    such as "this week"). Both rankings apply the window while ranking, before truncation.
    """
    last = min(as_of, until) if until else as_of
    if since or until:
        # An explicit window asks for dated articles; an undated one cannot be shown to be inside it.
        low, high = day_range(since.isoformat() if since else "0001-01-01", last.isoformat())
    else:
        low, high = 0, day_range(None, last.isoformat())[1]  # undated ids sort first, so they stay in
    return Window(low, high, undated=keep_undated, sources=tuple(sorted(set(sources))) if sources else None)

"""Which chunks a search may return: the date window as a range of chunk ids, and outlets as a mask."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ..index.chunking import DAY_SHIFT, day_range
from ..index.reader import ChunkTable

__all__ = ["Allowed", "allowed_chunks"]


@dataclass(frozen=True)
class Allowed:
    """Chunks a search may return: ids in [low, high) (a date window), and the mask when sources filter."""

    low: int
    high: int
    mask: np.ndarray | None
    count: int
    everything: bool


def allowed_chunks(
    table: ChunkTable,
    since: dt.date | None,
    until: dt.date | None,
    sources: list[str],
    as_of: dt.date,
    keep_undated: bool = False,
) -> Allowed:
    """The chunks of ``table`` published in the window (up to ``as_of``), by those ``sources`` when given.

    Chunk ids sort by publication day, so a window is an id range both rankings apply natively; undated chunks sort
    first and stay in unless an explicit window asks for dated ones (``keep_undated`` keeps them in a phrase
    window such as "this week").
    """
    last = min(as_of, until) if until else as_of
    if since or until:
        # An explicit window asks for dated articles; an undated one cannot be shown to be inside it.
        low, high = day_range(since.isoformat() if since else "0001-01-01", last.isoformat())
    else:
        low, high = 0, day_range(None, last.isoformat())[1]  # undated ids sort first, so they stay in
    first, stop = np.searchsorted(table.ids, [low, high])
    undated = int(np.searchsorted(table.ids, 1 << DAY_SHIFT)) if keep_undated and low > 0 else 0
    mask = None
    if sources or undated:
        # Two id ranges (undated, and the window) or a source filter: a mask over the in-memory ids.
        mask = np.zeros(len(table.ids), dtype=bool)
        mask[first:stop] = True
        mask[:undated] = True
        if sources:
            codes = [table.source_names.index(s) for s in sources if s in table.source_names]
            mask &= np.isin(table.sources, codes)
        low = 0 if undated else low
        count = int(mask.sum())
    else:
        count = int(stop - first)
    return Allowed(low, high, mask, count, everything=count == len(table.ids))

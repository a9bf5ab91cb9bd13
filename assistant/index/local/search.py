"""Candidates from one generation: the best passages by meaning (dense) and by words (BM25), under a filter.

Both rankings apply the filter (a chunk-id window, i.e. a date window; optionally the undated passages; optionally
some sources; always the generation's tombstones) inside every segment before anything is truncated, then keep the
best ``n`` over all segments. Ties break by chunk id, so results do not depend on how a generation is segmented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..candidates import Candidates, Window
from ..ids import DAY_SHIFT
from . import ann
from .postings import Part, bm25, length_norms

if TYPE_CHECKING:
    from .segments import Segment

__all__ = ["Live", "dense", "lexical"]


@dataclass
class Live:
    """A segment as one generation sees it: ``live`` marks the rows it holds (None: all of them)."""

    segment: Segment
    live: np.ndarray | None
    norms: np.ndarray | None = None  # BM25's length term of each row, for the generation's average length

    @property
    def count(self) -> int:
        return self.segment.count if self.live is None else int(np.count_nonzero(self.live))

    def part(self, average_length: float) -> Part:
        if self.norms is None:
            self.norms = length_norms(self.segment.lengths, average_length)
        return self.segment.postings, self.norms, self.live


def allowed(live: Live, window: Window, codes: tuple[int, ...] | None) -> tuple[int, int, np.ndarray | None]:
    """(first, stop, mask) of the rows of a segment the window allows (``codes``: its outlets' codes, None for any):
    positions in [first, stop), and where ``mask`` (over the whole segment) is True when the window is not just one
    range."""
    ids = live.segment.ids
    first, stop = (int(x) for x in np.searchsorted(ids, [window.low, window.high]))
    undated = int(np.searchsorted(ids, 1 << DAY_SHIFT)) if window.undated and window.low > 0 else 0
    if not (undated or codes is not None or live.live is not None):
        return first, stop, None
    mask = np.zeros(len(ids), dtype=bool)
    mask[first:stop] = True
    mask[:undated] = True
    if codes is not None:
        mask &= np.isin(live.segment.sources, codes)
    if live.live is not None:
        mask &= live.live
    return (0 if undated else first), stop, mask


def dense(
    lives: Sequence[Live],
    vector: np.ndarray,
    n: int,
    window: Window,
    codes: tuple[int, ...] | None,
    *,
    exact_max_rows: int,
    probes: int,
) -> Candidates:
    found = []
    query = np.ascontiguousarray(vector, dtype=np.float32)
    for at, live in enumerate(lives):
        live.segment.verify()
        first, stop, mask = allowed(live, window, codes)
        positions, scores = ann.search(
            live.segment, query, n, first, stop, mask, exact_max_rows=exact_max_rows, probes=probes
        )
        found.append((at, positions, scores.astype(np.float64)))
    return _best(lives, found, n)


def lexical(
    lives: Sequence[Live],
    hashes: Sequence[int],
    n: int,
    window: Window,
    codes: tuple[int, ...] | None,
    average_length: float,
) -> Candidates:
    live_rows = sum(live.count for live in lives)
    for live in lives:
        live.segment.verify()
    limits = [allowed(live, window, codes) for live in lives]
    scored = bm25([live.part(average_length) for live in lives], hashes, live_rows, n, limits)
    found = []
    for at, (rows, scores) in enumerate(scored):
        chosen = ann.best(scores, lives[at].segment.ids[rows], n)
        if len(chosen):
            found.append((at, rows[chosen], scores[chosen]))
    return _best(lives, found, n)


def _best(lives: Sequence[Live], found: list[tuple[int, np.ndarray, np.ndarray]], n: int) -> Candidates:
    if not found:
        empty = np.zeros(0, np.int64)
        return Candidates(empty, np.zeros(0), empty, empty, empty)
    segments = np.concatenate([np.full(len(p), at, dtype=np.int64) for at, p, _ in found])
    positions = np.concatenate([p for _, p, _ in found]).astype(np.int64)
    scores = np.concatenate([s for _, _, s in found])
    ids = np.concatenate([lives[at].segment.ids[p] for at, p, _ in found])
    order = np.lexsort((ids, -scores))[:n]
    articles = np.array(
        [lives[s].segment.articles[p] for s, p in zip(segments[order], positions[order], strict=True)], dtype=np.int64
    )
    return Candidates(ids[order], scores[order], articles, segments[order], positions[order])

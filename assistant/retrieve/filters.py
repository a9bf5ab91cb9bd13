"""Which passages a search may return: the caller's :class:`Filters` (as of, since, until, outlets, how many), and
the window they make (the date window as a range of chunk ids, and the outlets asked for)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..index.candidates import Window
from ..index.ids import day_range
from .timeframes import DateLike

__all__ = ["Filters", "window_of"]


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


@dataclass(frozen=True)
class Filters:
    """Which passages may answer, as the caller asked: published by ``as_of`` (None: today), between ``since`` and
    ``until``, by ``sources`` (None: any outlet), the best ``k`` (None: the settings'). The one value the page,
    the command line and Python callers hand the assistant and the retriever; days are ISO text or dates."""

    as_of: DateLike = None
    since: DateLike = None
    until: DateLike = None
    sources: tuple[str, ...] | None = None
    k: int | None = None

    @classmethod
    def of(
        cls,
        *,
        as_of: DateLike = None,
        since: DateLike = None,
        until: DateLike = None,
        sources: Iterable[str] | None = None,
        k: int | None = None,
    ) -> Filters:
        """The filters with ``sources`` deduplicated and sorted, None when they name no outlet."""
        return cls(as_of, since, until, tuple(sorted({s for s in sources or () if s})) or None, k)

    @classmethod
    def given(
        cls,
        filters: Filters | None,
        *,
        as_of: DateLike = None,
        since: DateLike = None,
        until: DateLike = None,
        sources: Iterable[str] | None = None,
        k: int | None = None,
    ) -> Filters:
        """``filters``, or the filters given one by one (a caller's convenience), never both."""
        loose = cls.of(as_of=as_of, since=since, until=until, sources=sources, k=k)
        if filters is None:
            return loose
        if loose != cls():
            raise ConfigError("give the filters as one Filters value or one by one (as_of, since, ...), not both")
        return filters

    def record(self) -> dict[str, Any]:
        """The filters as an answer's trace records them: days as ISO text, outlets as a list."""
        sources = list(self.sources) if self.sources else None
        return {
            "as_of": _iso(self.as_of),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "sources": sources,
            "k": self.k,
        }


def _iso(value: DateLike) -> str | None:
    return None if value in (None, "") else str(value.isoformat() if hasattr(value, "isoformat") else value)

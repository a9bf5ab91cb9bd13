"""The reporting behind an answer, in one line: how many articles, by how many outlets, over which days, the latest,
and whether they disagree.

"From 4 articles by 3 outlets, 12 Feb – 3 Mar 2025; latest: Reuters, 3 Mar 2025."
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..answers import Citation, Conflict, Coverage
from ..documents import Hit
from .evidence import Evidence

__all__ = ["coverage_of", "related_hits", "short_date"]


def related_hits(evidence: Evidence, margin: float, floor: float) -> list[Hit]:
    """Passages that report what the answer says: a sentence of theirs scores within ``margin`` of the lead's and
    supports the answer at least ``floor`` (the abstention threshold)."""
    if not evidence.candidates:
        return []
    best = evidence.candidates[0].score
    return [evidence.hits[c.hit] for c in evidence.candidates if c.score >= best - margin and c.support >= floor]


def coverage_of(
    citations: Sequence[Citation], related: Sequence[Hit] = (), conflicts: Sequence[Conflict] = ()
) -> Coverage | None:
    """Coverage of the articles ``citations`` quote and the ``related`` passages that report the same thing."""
    articles: dict[str, tuple[str | None, str | None]] = {}
    reports: list[Citation | Hit] = [*citations, *related]
    for item in reports:
        articles.setdefault(item.article_id, (item.source, item.date))
    if not articles:
        return None
    outlets = tuple(sorted({source for source, _ in articles.values() if source}))
    dated = sorted((date, source) for source, date in articles.values() if date)
    first, last = (dated[0][0], dated[-1][0]) if dated else (None, None)
    latest_source = dated[-1][1] if dated else None
    count = len(articles)
    line = f"From {count} article{'s' * (count != 1)}"
    if outlets:
        line += f" by {len(outlets)} outlet{'s' * (len(outlets) != 1)}"
    if first and last:
        line += f", {date_range(first, last)}"
    undated = count - len(dated)
    if undated and dated:
        line += f" ({undated} undated)"
    if last and count > 1:
        line += f"; latest: {latest_source or 'unknown outlet'}, {short_date(last)}"
    line += "."
    pairs = tuple((c.citations[0], c.citations[1]) for c in conflicts if len(c.citations) >= 2)
    for conflict in conflicts:
        sides = " and ".join(
            f"[{number}] says {value}" for number, value in zip(conflict.citations, conflict.values, strict=False)
        )
        line += f" The sources disagree: {sides}."
    return Coverage(count, outlets, first, last, latest_source, last, line, pairs)


def date_range(first: str, last: str) -> str:
    """'12 Feb – 3 Mar 2025' (the year once when both ends share it, '1–2 May 2024' within a month)."""
    if first == last:
        return f"{'on' if len(first) == 10 else 'in'} {short_date(first)}"
    a, b = _parse(first), _parse(last)
    if a and b and a[1] == b[1] == 3 and (a[0].year, a[0].month) == (b[0].year, b[0].month):
        return f"{a[0].day}–{_format(b)}"
    if a and b and a[0].year == b[0].year and a[1] > 1 and b[1] > 1:
        return f"{_format(a, year=False)} – {_format(b)}"
    return f"{short_date(first)} – {short_date(last)}"


def short_date(value: str) -> str:
    """'2025-03-03' → '3 Mar 2025'; '2025-03' → 'Mar 2025'; '2025' → '2025'; anything else unchanged."""
    parsed = _parse(value)
    return _format(parsed) if parsed else value


def _parse(value: str) -> tuple[dt.date, int] | None:
    """The date and how many of its parts are known (1 year, 2 month, 3 day)."""
    parts = value.split("-")
    try:
        numbers = [int(p) for p in parts[:3]]
        day = dt.date(numbers[0], numbers[1] if len(numbers) > 1 else 1, numbers[2] if len(numbers) > 2 else 1)
    except (ValueError, IndexError):
        return None
    return day, len(numbers)


def _format(parsed: tuple[dt.date, int], *, year: bool = True) -> str:
    day, known = parsed
    if known == 1:
        return str(day.year)
    text = f"{day:%b}" if known == 2 else f"{day.day} {day:%b}"
    return f"{text} {day.year}" if year else text

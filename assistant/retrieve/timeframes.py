"""Dates in questions and arguments: parsing ``--since``-style values and relative phrases like "this week"."""

from __future__ import annotations

import datetime as dt
import re

from ..errors import ConfigError

DateLike = dt.date | dt.datetime | str | None

_WORD_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "ten": 10,
    "a": 1,
    "few": 3,
    "several": 5,
}

# Phrase → days back from as-of. Windows are padded: a quiz asked on Friday about "this week" may cite an article
# from the Friday before, and news about "last month" is often published early this month.
_PHRASES: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"\btoday\b|\bthis morning\b|\btonight\b"), 2),
    (re.compile(r"\byesterday\b"), 3),
    (re.compile(r"\bthis week(end)?\b|\bthe past week\b|\bthe last week\b"), 10),
    (re.compile(r"\blast week(end)?\b"), 17),
    (re.compile(r"\bthis month\b|\bthe past month\b"), 35),
    (re.compile(r"\blast month\b"), 65),
]
_COUNTED = re.compile(r"\b(?:past|last|previous)\s+(\d+|" + "|".join(_WORD_NUMBERS) + r")\s+(day|week|month)s?\b")
_UNIT_DAYS = {"day": 1, "week": 7, "month": 31}


def parse_day(value: DateLike, *, name: str = "date", end: bool = False) -> dt.date | None:
    """``2025``, ``2025-02`` or ``2025-02-17`` (or a date) → a day; partial dates give their first day,
    or their last when ``end`` (so ``--until 2025-02`` includes all of February)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", text)
    if not match:
        try:
            return dt.datetime.fromisoformat(text).date()
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not a date (use YYYY, YYYY-MM or YYYY-MM-DD)") from None
    # The year is never optional in the pattern; month and day are.
    year = int(match[1])
    month, day = (int(g) if g else None for g in match.groups()[1:])
    if month is not None and not 1 <= month <= 12:
        raise ConfigError(f"{name}: {text!r} has no month {month}")
    try:
        if month is None:
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        if day is None:
            if end:
                following = dt.date(year + (month == 12), month % 12 + 1, 1)
                return following - dt.timedelta(days=1)
            return dt.date(year, month, 1)
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a valid date ({exc})") from None


def window_from_question(question: str, as_of: dt.date) -> dt.date | None:
    """The earliest publication day a question's own wording asks for ("this week"), or None."""
    text = question.lower()
    days: int | None = None
    for pattern, span in _PHRASES:
        if pattern.search(text):
            days = max(days or 0, span)
    for amount, unit in _COUNTED.findall(text):
        count = int(amount) if amount.isdigit() else _WORD_NUMBERS[amount]
        days = max(days or 0, count * _UNIT_DAYS[unit] + 3)
    return None if days is None else as_of - dt.timedelta(days=days)


_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_PERIOD = re.compile(
    r"\b(?:(?P<month>" + "|".join(_MONTH_NAMES) + r")\s+(?:\d{1,2}(?:st|nd|rd|th)?,?\s+)?)?(?P<year>(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
# A question about what is still to come can be answered by an article written before it.
_AHEAD = re.compile(r"\b(?:will|going to|expected|plans?|planned|upcoming|next|scheduled|set to)\b", re.IGNORECASE)


def period_start(question: str) -> dt.date | None:
    """The first day of the latest month or year a question names ("in December 2022"), unless it looks ahead.

    An article published before that day cannot report what happened then, however alike its words are.
    """
    if _AHEAD.search(question):
        return None
    starts = []
    for match in _PERIOD.finditer(question):
        month = _MONTH_NAMES.index(match["month"].lower()) + 1 if match["month"] else 1
        starts.append(dt.date(int(match["year"]), month, 1))
    return max(starts, default=None)

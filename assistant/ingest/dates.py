"""Publication dates, at the precision the source gives them (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import re
import time
import warnings

from dateutil import parser as date_parser

_YEAR = re.compile(r"(\d{4})")
_YEAR_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")
# Two defaults that differ in every field: whatever dateutil fills in from them was not in the string.
_DEFAULT_A = dt.datetime(2000, 1, 1)
_DEFAULT_B = dt.datetime(2001, 2, 2)
# The longest written-out date ("Wednesday, 17 September 2025 at 10:30:00 Central European Summer Time") is under
# 80 characters; longer values are not dates, and dateutil takes seconds over a 100 kB one.
_MAX_DATE_CHARS = 200


def _year_month(year: int, month: int | None = None, day: int | None = None) -> str | None:
    if not 1 <= year <= 9999:
        return None
    if month is None:
        return f"{year:04d}"
    if not 1 <= month <= 12:
        return None
    if day is None:
        return f"{year:04d}-{month:02d}"
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_date(value: object) -> str | None:
    """A date at the precision given: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; ``None`` if there is none.

    Datetimes keep the calendar day of their own time zone (the day the publisher printed), not UTC's.
    A missing day or month is never filled in.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return _year_month(value.year, value.month, value.day)
    if isinstance(value, time.struct_time):
        return _year_month(value.tm_year, value.tm_mon, value.tm_mday)
    if isinstance(value, int):
        return _year_month(value) if 1000 <= value <= 9999 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_DATE_CHARS:
        return None
    if match := _YEAR.fullmatch(text):
        return _year_month(int(match[1]))
    if match := _YEAR_MONTH.fullmatch(text):
        return _year_month(int(match[1]), int(match[2]))
    if _ISO_DAY.fullmatch(text):
        with contextlib.suppress(ValueError):
            return parse_date(dt.datetime.fromisoformat(text))
    with contextlib.suppress(TypeError, ValueError, IndexError, ArithmeticError):
        return parse_date(email.utils.parsedate_to_datetime(text))  # RFC 2822, as in RSS
    return _parse_free_date(text)


def _parse_free_date(text: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown time-zone names only matter for the time, not the date
        try:
            first = date_parser.parse(text, default=_DEFAULT_A)
            second = date_parser.parse(text, default=_DEFAULT_B)
        # ArithmeticError: dateutil's Decimal seconds raise InvalidOperation on "2024222:2222...201" (fuzzing found it).
        except (ValueError, ArithmeticError, TypeError):
            return None
    if first.year != second.year:
        return None  # "February 17" has no year; guessing one would misdate the article
    if first.month != second.month:
        return _year_month(first.year)
    if first.day != second.day:
        return _year_month(first.year, first.month)
    return _year_month(first.year, first.month, first.day)

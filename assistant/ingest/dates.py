"""Publication dates, at the precision the source gives them (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import math
import re
import time
import warnings

from dateutil import parser as date_parser

_YEAR = re.compile(r"(\d{4})")
_YEAR_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")
# Day first with dots ("10.06.2013") is the European way to write a date; dateutil would read it month first.
_DOTTED_DAY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_DIGITS = re.compile(r"\d{8,13}")
# Unix timestamps in exports: seconds (9-10 digits, 1973-2286) or milliseconds (12-13 digits). Eight digits are a
# compact date ("20191119"), never a timestamp: a timestamp that short would be in 1970.
_EPOCH_SECONDS = (10**8, 10**10)
_EPOCH_MILLISECONDS = (10**11, 10**13)
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
        return _year_month(value) if 1000 <= value <= 9999 else _number_date(value)
    if isinstance(value, float):  # a JSON timestamp with a fraction of a second
        return parse_date(int(value)) if math.isfinite(value) and (value.is_integer() or value >= 1e8) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_DATE_CHARS:
        return None
    if _DIGITS.fullmatch(text):
        return _number_date(int(text))
    if match := _DOTTED_DAY.fullmatch(text):
        return _year_month(int(match[3]), int(match[2]), int(match[1]))
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


def _number_date(value: int) -> str | None:
    """A date written as a number: ``20191119``, or a Unix timestamp in seconds or milliseconds (a UTC day)."""
    if 10_000_000 <= value <= 99_999_999:
        return _year_month(value // 10_000, value // 100 % 100, value % 100)
    for low, high, scale in (*_EPOCH_SECONDS, 1), (*_EPOCH_MILLISECONDS, 1000):
        if low <= value < high:
            return parse_date(dt.datetime.fromtimestamp(value // scale, dt.UTC))
    return None


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

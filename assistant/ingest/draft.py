"""What a parser makes of one article before its identity is settled: a :class:`Draft` and its metadata fields."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from ..errors import InputError
from ..text.cleaning import clean_inline, strip_unprintable
from .dates import parse_date

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    """An article as parsed, before identity and sidecar metadata are settled."""

    text: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    author: str | None = None
    id: str | None = None
    line: int | None = None  # line of a JSON Lines record or JSON array item
    entry: int | None = None  # 1-based position of a feed entry
    summary_only: bool = False  # a feed entry without its full text (the linked page has it)
    warnings: tuple[str, ...] = ()  # what was ignored: the article is indexed without it


class Metadata(TypedDict, total=False):
    """The :class:`Draft` fields that :func:`metadata_fields` fills, so that ``Draft(**fields)`` is checked."""

    title: str
    date: str
    source: str
    url: str
    author: str
    id: str


# Literal keys let mypy check each ``fields[key]`` against :class:`Metadata`.
_INLINE_FIELDS: tuple[Literal["title", "source", "author"], ...] = ("title", "source", "author")
_RAW_FIELDS: tuple[Literal["url", "id"], ...] = ("url", "id")


def _meta_str(value: object, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # YAML reads `title: 1984` as a number
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)  # several authors
    raise InputError(f"field {field!r} must be a string", field=field)


def metadata_fields(
    record: Mapping[str, Any], *, strict_date: bool = False, warnings: list[str] | None = None
) -> Metadata:
    """The known metadata keys of ``record``, cleaned; absent or empty values are left out.

    An unreadable date is an error with ``strict_date``; otherwise it is left out and said in ``warnings``.
    """
    fields: Metadata = {}
    for key in _INLINE_FIELDS:
        value = _meta_str(record.get(key), key)
        if value and (value := clean_inline(value)):
            fields[key] = value
    for raw_key in _RAW_FIELDS:
        value = _meta_str(record.get(raw_key), raw_key)
        if value and (value := strip_unprintable(value).strip()):
            fields[raw_key] = value
    raw_date = record.get("date")
    date = parse_date(raw_date)
    if date is not None:
        fields["date"] = date
    elif raw_date not in (None, ""):
        if strict_date:
            raise InputError(f"unparseable date {raw_date!r}", field="date")
        logger.debug("ignoring unparseable date %r", raw_date)
        if warnings is not None:
            shown = repr(raw_date) if len(repr(raw_date)) <= 60 else repr(raw_date)[:59] + "…"
            warnings.append(f"unparseable date {shown} ignored: indexed without a date")
    return fields


def one_line(error: Exception, limit: int = 200) -> str:
    message = " ".join(str(error).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def same_title(a: str, b: str) -> bool:
    """Whether two titles read the same once cleaned, ignoring case."""
    return clean_inline(a).casefold() == clean_inline(b).casefold()


def without_title(text: str, title: str) -> str:
    """Drop a first paragraph of cleaned ``text`` that repeats the title, unless it is all there is.

    Cleaned text is paragraphs joined by blank lines, so the first one is found without splitting the others off:
    a list of every paragraph is an object per paragraph, gigabytes for a 50 MB file of short lines.
    """
    first, separator, rest = text.partition("\n\n")
    return rest if separator and same_title(first, title) else text


Parsed = Draft | InputError

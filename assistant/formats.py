"""Parsers for each input format: file content in, :class:`Draft` articles (cleaned text and metadata) out.

Problems are raised or returned as :class:`~assistant.errors.InputError`, so :mod:`assistant.ingestion` can
turn them into ``Skipped`` entries naming the file and line. Nothing here reads files or opens the network.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import io
import json
import logging
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import feedparser
import trafilatura
import yaml
from dateutil import parser as date_parser
from frontmatter.default_handlers import YAMLHandler
from lxml import etree
from lxml import html as lxml_html
from lxml.html import defs as lxml_defs

from .cleaning import clean_inline, clean_text
from .errors import InputError

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


# ---------------------------------------------------------------- dates

_YEAR = re.compile(r"(\d{4})")
_YEAR_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")
# Two defaults that differ in every field: whatever dateutil fills in from them was not in the string.
_DEFAULT_A = dt.datetime(2000, 1, 1)
_DEFAULT_B = dt.datetime(2001, 2, 2)


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
    if not text:
        return None
    if match := _YEAR.fullmatch(text):
        return _year_month(int(match[1]))
    if match := _YEAR_MONTH.fullmatch(text):
        return _year_month(int(match[1]), int(match[2]))
    if _ISO_DAY.fullmatch(text):
        with contextlib.suppress(ValueError):
            return parse_date(dt.datetime.fromisoformat(text))
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return parse_date(email.utils.parsedate_to_datetime(text))  # RFC 2822, as in RSS
    return _parse_free_date(text)


def _parse_free_date(text: str) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown time-zone names only matter for the time, not the date
        try:
            first = date_parser.parse(text, default=_DEFAULT_A)
            second = date_parser.parse(text, default=_DEFAULT_B)
        except (ValueError, OverflowError, TypeError):
            return None
    if first.year != second.year:
        return None  # "February 17" has no year; guessing one would misdate the article
    if first.month != second.month:
        return _year_month(first.year)
    if first.day != second.day:
        return _year_month(first.year, first.month)
    return _year_month(first.year, first.month, first.day)


# ---------------------------------------------------------------- metadata

_INLINE_FIELDS = ("title", "source", "author")
_RAW_FIELDS = ("url", "id")


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


def metadata_fields(record: Mapping[str, Any], *, strict_date: bool = False) -> dict[str, str]:
    """The known metadata keys of ``record``, cleaned; absent or empty values are left out."""
    fields: dict[str, str] = {}
    for key in _INLINE_FIELDS:
        value = _meta_str(record.get(key), key)
        if value and (value := clean_inline(value)):
            fields[key] = value
    for key in _RAW_FIELDS:
        value = _meta_str(record.get(key), key)
        if value and (value := value.strip()):
            fields[key] = value
    raw_date = record.get("date")
    date = parse_date(raw_date)
    if date is not None:
        fields["date"] = date
    elif raw_date not in (None, ""):
        if strict_date:
            raise InputError(f"unparseable date {raw_date!r}", field="date")
        logger.debug("ignoring unparseable date %r", raw_date)
    return fields


def _one_line(error: Exception, limit: int = 200) -> str:
    message = " ".join(str(error).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


# ---------------------------------------------------------------- text and markdown

_YAML = YAMLHandler()
# In a .txt a leading "---" is often a decorative rule; only a `key:` right after it marks front matter.
_TXT_FRONT_MATTER = re.compile(r"-{3,}[ \t]*\n\s*[A-Za-z_][\w-]*[ \t]*:")
_MD_HEADING = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")


def split_front_matter(text: str, *, strict: bool) -> tuple[dict[str, Any], str]:
    if not _YAML.detect(text) or (not strict and not _TXT_FRONT_MATTER.match(text)):
        return {}, text
    try:
        front, body = _YAML.split(text)
    except ValueError:
        raise InputError("bad front matter: no closing '---' line") from None
    try:
        data = _YAML.load(front)
    except yaml.MarkedYAMLError as error:
        # The front matter text starts on the file's first line, so the mark's line is the file's line.
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError(f"bad front matter: {error.problem or error.context}{where}") from None
    except yaml.YAMLError as error:
        raise InputError(f"bad front matter: {_one_line(error)}") from None
    if data is None:
        return {}, body
    if not isinstance(data, dict):
        raise InputError("bad front matter: not a mapping of keys to values")
    return data, body


def _front_fields(data: dict[str, Any]) -> dict[str, str]:
    try:
        return metadata_fields(data)
    except InputError as error:
        raise InputError(f"bad front matter: {error.reason}") from None


def _same(a: str, b: str) -> bool:
    return clean_inline(a).casefold() == clean_inline(b).casefold()


def _without_title(paragraphs: list[str], title: str) -> list[str]:
    """Drop a first paragraph that repeats the title, unless it is all there is."""
    if len(paragraphs) > 1 and _same(paragraphs[0], title):
        return paragraphs[1:]
    return paragraphs


def parse_txt(text: str) -> Draft:
    """First line is the title, the rest the body; optional YAML front matter supplies metadata."""
    data, body = split_front_matter(text, strict=False)
    fields = _front_fields(data)
    paragraphs = [p for p in clean_text(body).split("\n\n") if p]
    title = fields.pop("title", None)
    if title is None and paragraphs:
        title = clean_inline(paragraphs[0])
        # A one-line file keeps its line as the text too, rather than being dropped as empty.
        paragraphs = paragraphs[1:] or paragraphs
    elif title is not None:
        paragraphs = _without_title(paragraphs, title)
    return Draft(text="\n\n".join(paragraphs), title=title, **fields)


def parse_markdown(text: str) -> Draft:
    """Front matter for metadata; a leading `# heading` is the title when front matter has none."""
    data, body = split_front_matter(text, strict=True)
    fields = _front_fields(data)
    title = fields.pop("title", None)
    lines = body.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and (heading := _MD_HEADING.fullmatch(lines[first].strip())):
        heading_text = clean_inline(heading[1])
        if title is None or _same(title, heading_text):
            title = title or heading_text
            del lines[first]
    # Without a title the first line stays in the body: in markdown it is prose, unlike a .txt's first line.
    return Draft(text=clean_text("\n".join(lines)), title=title, **fields)


# ---------------------------------------------------------------- HTML

# Publication date only, from markup; extensive search would guess from dates mentioned in the prose.
_DATE_PARAMS = {"original_date": True, "extensive_search": False}
# lxml's HTML 4 block tags plus the HTML 5 sectioning ones, each of which starts a new line of text.
_BLOCK_TAGS = lxml_defs.block_tags | {"article", "aside", "figcaption", "figure", "footer", "header", "main", "nav"}
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object")


def parse_html(page: str | bytes) -> Draft:
    """Main text and metadata of a web page; scripts, navigation and comment sections are left out.

    ``page`` is bytes when the caller could not tell the encoding: trafilatura then guesses it.
    """
    doc: Any = trafilatura.bare_extraction(
        page,
        with_metadata=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        include_tables=True,
        date_extraction_params=_DATE_PARAMS,
    )
    raw_text = getattr(doc, "text", None) if doc is not None else None
    if not raw_text or not raw_text.strip():
        raise InputError("no main text found in HTML")
    title = clean_inline(doc.title or "") or None
    paragraphs = [p for p in clean_text(raw_text).split("\n\n") if p]
    if title is not None:
        paragraphs = _without_title(paragraphs, title)
    return Draft(
        text="\n\n".join(paragraphs),
        title=title,
        date=parse_date(doc.date),
        source=clean_inline(doc.sitename or "") or None,
        url=(doc.url or "").strip() or None,
        author=clean_inline(doc.author or "") or None,
    )


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, one line per block element; scripts and styles dropped."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for element in [el for el in root.iter(*_DROP_TAGS)]:
        element.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag in _BLOCK_TAGS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
        elif element.tag == "br":
            element.tail = "\n" + (element.tail or "")
    return str(root.text_content())


# ---------------------------------------------------------------- JSON

Parsed = Draft | InputError


def _json_error(error: json.JSONDecodeError, line: int | None = None) -> InputError:
    where = f"column {error.colno}" if line is not None else f"line {error.lineno}, column {error.colno}"
    return InputError(f"malformed JSON: {error.msg} ({where})", line=line or error.lineno)


def record_to_draft(record: object, line: int | None = None) -> Draft:
    if not isinstance(record, dict):
        raise InputError("record is not a JSON object", line=line)
    text = record.get("text")
    if text is None:
        raise InputError("missing field 'text'", line=line, field="text")
    if not isinstance(text, str):
        raise InputError("field 'text' must be a string", line=line, field="text")
    try:
        fields = metadata_fields(record)
    except InputError as error:
        raise InputError(error.reason, line=line, field=error.field) from None
    return Draft(text=clean_text(text), line=line, **fields)


def _parse_record(record: object, line: int) -> Parsed:
    try:
        return record_to_draft(record, line)
    except InputError as error:
        return error


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _array_items(text: str) -> list[tuple[int, object]]:
    """Items of an already-validated JSON array with the line each starts on, for precise messages."""
    decoder = json.JSONDecoder()
    items: list[tuple[int, object]] = []
    pos = _WHITESPACE.match(text).end() + 1  # type: ignore[union-attr]  # past "["
    line, counted = 1, 0
    while True:
        pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] == "]":
            return items
        if text[pos] == ",":
            pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        line += text.count("\n", counted, pos)
        counted = pos
        value, pos = decoder.raw_decode(text, pos)
        items.append((line, value))


def parse_json(text: str) -> Draft | list[Parsed]:
    """One object is a single article (a :class:`Draft`); an array holds records, each parsed separately."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _json_error(error) from None
    if isinstance(data, dict):
        return record_to_draft(data)
    if isinstance(data, list):
        return [_parse_record(value, line) for line, value in _array_items(text)]
    raise InputError("JSON must be an object or an array of objects")


def parse_jsonl(text: str) -> list[Parsed]:
    """One record per line; a bad line is reported and the others still load."""
    results: list[Parsed] = []
    # split("\n"), not splitlines(): U+2028 inside a JSON string is not a record boundary.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            results.append(_json_error(error, number))
            continue
        results.append(_parse_record(record, number))
    return results


# ---------------------------------------------------------------- feeds


def _entry_text(entry: Any) -> str:
    # Full content beats the summary, which feeds often truncate.
    parts = entry.get("content") or []
    detail = parts[0] if parts else entry.get("summary_detail") or {}
    value = detail.get("value") or entry.get("summary") or ""
    if "html" in (detail.get("type") or "text/html"):
        value = html_to_text(value)
    return clean_text(value)


def parse_feed(data: bytes) -> list[Parsed]:
    """Each RSS/Atom entry is an article; a file that is not a feed is an error."""
    # A file object, never bytes or str: feedparser would treat those as a path or URL to open.
    feed: Any = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True)
    entries = feed.get("entries") or []
    if not entries:
        if not feed.get("version"):
            problem = feed.get("bozo_exception") if feed.get("bozo") else None
            raise InputError("not a feed" + (f": {_one_line(problem)}" if problem else ""))
        raise InputError("empty: feed has no entries")
    source = clean_inline(feed.feed.get("title") or "") or None
    drafts: list[Parsed] = []
    for number, entry in enumerate(entries, start=1):
        title_detail = entry.get("title_detail") or {}
        title = entry.get("title") or ""
        if "html" in (title_detail.get("type") or ""):
            title = html_to_text(title)
        date: str | None = None
        for key in ("published", "updated", "published_parsed", "updated_parsed"):
            if date := parse_date(entry.get(key)):
                break
        drafts.append(
            Draft(
                text=_entry_text(entry),
                title=clean_inline(title) or None,
                date=date,
                source=source,
                url=(entry.get("link") or "").strip() or None,
                author=clean_inline(entry.get("author") or "") or None,
                id=(entry.get("id") or "").strip() or None,
                entry=number,
            )
        )
    return drafts

"""RSS and Atom feeds: each entry becomes a :class:`~assistant.ingest.draft.Draft` article."""

from __future__ import annotations

import io
from typing import Any

import feedparser

from ..errors import InputError
from ..text.cleaning import clean_inline, clean_text, strip_unprintable
from .dates import parse_date
from .draft import Draft, Parsed, one_line
from .webpage import markup_text


def _entry_text(entry: Any) -> str:
    # Full content beats the summary, which feeds often truncate.
    parts = entry.get("content") or []
    detail = parts[0] if parts else entry.get("summary_detail") or {}
    value = detail.get("value") or entry.get("summary") or ""
    return clean_text(markup_text(value, is_html="html" in (detail.get("type") or "text/html")))


def _feed_inline(node: Any, key: str) -> str | None:
    """A one-line feed value (title, author), its markup removed.

    feedparser calls an RSS title plain text unless it looks like harmless HTML, so an escaped
    "<script>...</script>" in one stayed in as words; feed readers render such titles as HTML, so markup in them is
    taken as markup.
    """
    detail = node.get(f"{key}_detail") or {}
    return clean_inline(markup_text(node.get(key) or "", is_html="html" in (detail.get("type") or ""))) or None


def parse_feed(data: bytes) -> list[Parsed]:
    """Each RSS/Atom entry is an article; a file that is not a feed is an error."""
    # A file object, never bytes or str: feedparser would treat those as a path or URL to open.
    try:
        feed: Any = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True)
    except Exception as error:
        # feedparser means to report bad feeds as "bozo", not raise, but fuzzing found it raising on some:
        # UnicodeDecodeError on `encoding="ut\xe6-8"`, KeyError 'links' from its loose parser on a mangled <link>.
        raise InputError(f"not a feed: feedparser failed with {type(error).__name__}: {one_line(error)}") from None
    entries = feed.get("entries") or []
    if not entries:
        if not feed.get("version"):
            problem = feed.get("bozo_exception") if feed.get("bozo") else None
            raise InputError("not a feed" + (f": {one_line(problem)}" if problem else ""))
        raise InputError("empty: feed has no entries")
    source = _feed_inline(feed.feed, "title")
    drafts: list[Parsed] = []
    for number, entry in enumerate(entries, start=1):
        date: str | None = None
        for key in ("published", "updated", "published_parsed", "updated_parsed"):
            if date := parse_date(entry.get(key)):
                break
        drafts.append(
            Draft(
                text=_entry_text(entry),
                title=_feed_inline(entry, "title"),
                date=date,
                source=source,
                url=strip_unprintable(entry.get("link") or "").strip() or None,
                author=_feed_inline(entry, "author"),
                id=strip_unprintable(entry.get("id") or "").strip() or None,
                entry=number,
            )
        )
    return drafts

"""RSS and Atom feeds: each entry becomes a :class:`~assistant.ingest.draft.Draft` article."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import feedparser

from ..errors import InputError
from ..text.cleaning import clean_inline, clean_text, strip_unprintable
from .dates import parse_date
from .decoding import LIMIT_SETTING, bom_encoding, detect_encoding, text_encoding, too_large
from .draft import Draft, Parsed, one_line
from .webpage import markup_text

# The start of a big feed read to find its encoding.
_SAMPLE = 1 << 20


def _entry_text(entry: Any) -> tuple[str, bool]:
    """The entry's text, and whether it is only a summary (the feed has no full content for it)."""
    # Full content beats the summary, which feeds often truncate.
    parts = entry.get("content") or []
    detail = parts[0] if parts else entry.get("summary_detail") or {}
    value = detail.get("value") or entry.get("summary") or ""
    text = clean_text(markup_text(value, is_html="html" in (detail.get("type") or "text/html")))
    return text, not (parts and parts[0].get("value"))


def _feed_inline(node: Any, key: str) -> str | None:
    """A one-line feed value (title, author), its markup removed.

    feedparser calls an RSS title plain text unless it looks like harmless HTML, so an escaped
    "<script>...</script>" in one stayed in as words; feed readers render such titles as HTML, so markup in them is
    taken as markup.
    """
    detail = node.get(f"{key}_detail") or {}
    return clean_inline(markup_text(node.get(key) or "", is_html="html" in (detail.get("type") or ""))) or None


_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9_.:-]+)["'][^>]*\?>""")
_ANY_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_UNDETECTED = (
    'encoding not declared, not UTF-8, and not recognised: add encoding="…" to the <?xml ?> line or save the '
    "feed as UTF-8"
)


def _declared_or_detected(data: bytes, *, whole: bool = True) -> str | None:
    """The encoding to read a feed with when it is not what the file says: None when the file says it right.

    XML without a declaration is UTF-8; a feed that is not, or that declares an encoding it is not in, is read
    in the encoding charset-normalizer recognises. ``whole`` is False for the first part of a bigger file, whose
    last character may be cut.
    """
    if bom_encoding(data):
        return None
    declared = _DECLARATION.match(data)
    encoding = text_encoding(declared[1].decode("ascii")) if declared else "utf-8"
    try:
        if encoding is not None:
            data.decode(encoding)
            return None
    except UnicodeDecodeError as error:
        if not whole and error.start >= len(data) - 3:
            return None  # a multi-byte character cut by the end of the sample
    except UnicodeError:  # punycode and idna raise their own
        pass
    detected = detect_encoding(data)
    if detected is None:
        raise InputError(_UNDETECTED)
    return detected


def _as_utf8(data: bytes) -> bytes:
    """The feed's bytes, transcoded to declared UTF-8 when they are in another encoding than the file says."""
    encoding = _declared_or_detected(data)
    if encoding is None:
        return data
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise InputError(_UNDETECTED) from None
    body = _ANY_DECLARATION.sub(b"", text.encode("utf-8"), count=1)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


@dataclasses.dataclass(frozen=True)
class FeedDocument:
    """A whole feed as read: its entries, its title, and how long its publisher says it may be cached (RSS
    ``<ttl>``, in minutes; None when it does not say)."""

    entries: list[Parsed]
    title: str | None = None
    ttl_minutes: int | None = None
    problem: str | None = None  # what feedparser's forgiving parser had to step over (not well-formed XML)


def parse_feed(data: bytes) -> list[Parsed]:
    """Each RSS/Atom entry is an article; a file that is not a feed is an error."""
    return read_feed(data).entries


def read_feed(data: bytes, *, allow_empty: bool = False) -> FeedDocument:
    """A feed's entries with its title and ``<ttl>``; a document that is not a feed is an InputError, and so is a
    feed without entries unless ``allow_empty`` (a watched feed may be quiet today)."""
    data = _as_utf8(data)
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
        if not allow_empty:
            raise InputError("empty: feed has no entries")
        if feed.get("bozo"):  # a watched feed that reads as empty because its XML is broken has failed
            raise InputError(f"not well-formed XML: {one_line(feed.get('bozo_exception'))}")
    source = _feed_inline(feed.feed, "title")
    drafts: list[Parsed] = []
    for number, entry in enumerate(entries, start=1):
        text, summary_only = _entry_text(entry)
        date: str | None = None
        for key in ("published", "updated", "published_parsed", "updated_parsed"):
            if date := parse_date(entry.get(key)):
                break
        drafts.append(
            Draft(
                text=text,
                title=_feed_inline(entry, "title"),
                date=date,
                source=source,
                url=strip_unprintable(entry.get("link") or "").strip() or None,
                author=_feed_inline(entry, "author"),
                id=strip_unprintable(entry.get("id") or "").strip() or None,
                entry=number,
                summary_only=summary_only,
            )
        )
    ttl = str(feed.feed.get("ttl") or "").strip()
    problem = one_line(feed.get("bozo_exception")) if feed.get("bozo") else None
    return FeedDocument(drafts, source, int(ttl) if ttl.isdigit() else None, problem)


# An entry alone, in the root its feed had, for feedparser to read as a one-entry feed.
_WRAPPERS = {
    "feed": (b'<feed xmlns="http://www.w3.org/2005/Atom">', b"</feed>"),
    "rdf": (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel/>',
        b"</rdf:RDF>",
    ),
}
_RSS_WRAPPER = (b'<rss version="2.0"><channel>', b"</channel></rss>")


def _local(element: Any) -> str:
    from lxml import etree

    return etree.QName(element).localname.lower() if isinstance(element.tag, str) else ""


# How much of a big feed is handed to the parser at a time. The entries are taken as they close whatever this is:
# after a syntax error, the parser's queue still holds every entry that closed before it (see stream_feed).
_PIECE = 1 << 16


def stream_feed(handle: BinaryIO, max_bytes: int) -> Iterator[Parsed]:
    """The entries of a feed too big to read whole, one at a time: the size limit and memory are per entry.

    feedparser needs a whole document, so each ``<item>``/``<entry>`` is cut out by lxml's pull parser and given
    to it alone. That parser needs well-formed XML (feedparser's own is forgiving): a syntax error ends the file
    there, with a reason; every entry that closed before the error is kept.

    The file is fed to the parser in pieces and the entries are taken from its event queue, never from
    ``iterparse``: ``iterparse`` raises a syntax error as soon as it meets it, dropping the entries the parser had
    already queued from the same read, so how many were kept depended on lxml's read size (lxml 6.2 reads more at
    a time than 6.1 did, and kept none of the 50 entries before an error that 6.1 kept). The pull parser keeps its
    queue through an error in a piece: what is drained after it is what closed before it, whatever the piece size
    (tests/test_real_inputs.py feeds from one byte to the whole file at a time).
    """
    from lxml import etree

    encoding = _declared_or_detected(handle.read(_SAMPLE), whole=False)
    handle.seek(0)
    parser = etree.XMLPullParser(
        events=("start", "end"), encoding=encoding, huge_tree=True, resolve_entities=False, no_network=True
    )
    entries = _Entries(max_bytes)
    try:
        while piece := handle.read(_PIECE):
            parser.feed(piece)
            yield from entries.take(parser.read_events())
    except etree.XMLSyntaxError as error:
        yield from entries.take(parser.read_events())  # the entries that closed before the error, in its piece
        yield _not_well_formed(error, entries.number)
        return
    try:
        parser.close()
    except etree.XMLSyntaxError as error:
        # The file ended inside an element: what close() queues now are the elements it ended itself (an entry cut
        # off mid-way among them), not entries the file closed. Every one that did was taken above.
        yield _not_well_formed(error, entries.number)
        return
    yield from entries.take(parser.read_events())


def _not_well_formed(error: Exception, read: int) -> InputError:
    return InputError(
        f"feed over the size limit is read entry by entry, which needs well-formed XML: {one_line(error)}; "
        f"the {read} entries before it were read (raise {LIMIT_SETTING} to read it whole)"
    )


class _Entries:
    """Turns a pull parser's events into parsed entries, keeping the feed's root and title for the entries."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.root: str | None = None
        self.source: str | None = None
        self.number = 0

    def take(self, events: Iterator[tuple[str, Any]]) -> Iterator[Parsed]:
        for event, element in events:
            name = _local(element)
            if event == "start":
                self.root = self.root or name
                continue
            parent = element.getparent()
            # The feed's own title (under the channel or the Atom feed), not an entry's.
            if name == "title" and self.source is None and parent is not None and _local(parent) in ("channel", "feed"):
                self.source = clean_inline(element.text or "") or None
            if name in ("item", "entry"):
                yield from self._entry(element, parent)

    def _entry(self, element: Any, parent: Any) -> Iterator[Parsed]:
        from lxml import etree

        self.number += 1
        xml = etree.tostring(element, encoding="utf-8")
        # Memory stays per entry: the entry and the siblings before it are dropped once read.
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del parent[0]
        if len(xml) > self.max_bytes:
            yield too_large(f"entry {self.number} too large: {len(xml)} bytes", self.max_bytes)
            return
        start, end = _WRAPPERS.get(self.root or "", _RSS_WRAPPER)
        try:
            drafts = parse_feed(start + xml + end)
        except InputError as error:
            yield InputError(f"entry {self.number}: {error.reason}")
            return
        for draft in drafts:
            # parse_feed reports a bad entry as an InputError item; it keeps its own message.
            yield (
                draft
                if isinstance(draft, InputError)
                else dataclasses.replace(draft, source=self.source or draft.source, entry=self.number)
            )

"""The supported input formats: one table from file suffix to reader, which everything else derives from.

Discovery, the parser dispatch and the chat page's upload list all read :data:`FORMATS`, so a format added here is
accepted everywhere at once. A reader turns a file's bytes into parsed items and says whether the file is a single
article (which may then have a ``NAME.meta.json`` sidecar) or a container of many (JSON Lines, feeds). Containers
can also be streamed record by record, so ``ASSISTANT_MAX_FILE_MB`` bounds one record, not a whole export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError
from .decoding import decode_article_text, decode_html
from .draft import Draft, Parsed
from .feeds import parse_feed, stream_feed
from .markdown import parse_markdown, parse_txt
from .records import parse_json, parse_jsonl, stream_jsonl
from .webpage import parse_html

__all__ = ["FORMATS", "SUPPORTED_SUFFIXES", "Format", "format_of", "parse", "suffix_of"]

Reader = Callable[[bytes], tuple[list[Parsed], bool]]
Streamer = Callable[[BinaryIO, int], Iterator[Parsed]]


@dataclass(frozen=True)
class Format:
    """A kind of input file: its name for people, and how its bytes become parsed articles.

    ``stream`` reads a container from an open file one record at a time, each at most the limit in bytes;
    ``always_stream`` says to do so even for a file under the limit. ``gzip`` files are decompressed first.
    """

    name: str
    read: Reader
    stream: Streamer | None = None
    always_stream: bool = False
    gzip: bool = False


def _txt(data: bytes) -> tuple[list[Parsed], bool]:
    return [parse_txt(decode_article_text(data))], True


def _markdown(data: bytes) -> tuple[list[Parsed], bool]:
    return [parse_markdown(decode_article_text(data))], True


def _html(data: bytes) -> tuple[list[Parsed], bool]:
    return [parse_html(decode_html(data))], True


def _json(data: bytes) -> tuple[list[Parsed], bool]:
    parsed = parse_json(decode_article_text(data))
    return ([parsed], True) if isinstance(parsed, Draft) else (parsed, False)


def _jsonl(data: bytes) -> tuple[list[Parsed], bool]:
    return parse_jsonl(decode_article_text(data)), False


def _feed(data: bytes) -> tuple[list[Parsed], bool]:
    return parse_feed(data), False


_TEXT = Format("plain text", _txt)
_MARKDOWN = Format("Markdown", _markdown)
_HTML = Format("HTML", _html)
_FEED = Format("RSS/Atom feed", _feed, stream=stream_feed)

FORMATS: dict[str, Format] = {
    ".txt": _TEXT,
    ".md": _MARKDOWN,
    ".markdown": _MARKDOWN,
    ".html": _HTML,
    ".htm": _HTML,
    ".xhtml": _HTML,
    ".html.gz": Format("gzipped HTML", _html, gzip=True),
    ".json": Format("JSON", _json),
    # One record per line: always streamed, so an export of any size is read in bounded memory.
    ".jsonl": Format("JSON Lines", _jsonl, stream=stream_jsonl, always_stream=True),
    ".xml": _FEED,
    ".rss": _FEED,
    ".atom": _FEED,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(FORMATS)
# Longest first, so "story.html.gz" is gzipped HTML rather than an unsupported ".gz".
_BY_LENGTH = sorted(FORMATS, key=len, reverse=True)


def suffix_of(path: str | Path) -> str:
    """The format suffix of a file name: the longest one in :data:`FORMATS` it ends with, else its last suffix."""
    name = Path(path).name.lower()
    return next((suffix for suffix in _BY_LENGTH if name.endswith(suffix)), Path(name).suffix)


def format_of(path: str | Path) -> Format:
    """The format of a file, by its name; InputError for an unsupported one."""
    suffix = suffix_of(path)
    kind = FORMATS.get(suffix)
    if kind is None:
        raise InputError(f"unsupported file type {suffix or '(no extension)'}")
    return kind


def parse(suffix: str, data: bytes) -> tuple[list[Parsed], bool]:
    """Parsed items of a file with this suffix (its whole, uncompressed bytes), and whether it is a single article."""
    return format_of("file" + suffix).read(data)

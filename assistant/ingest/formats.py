"""The supported input formats: one table from file suffix to reader, which everything else derives from.

Discovery, the parser dispatch and the chat page's upload list all read :data:`FORMATS`, so a format added here is
accepted everywhere at once. A reader turns a file's bytes into parsed items and says whether the file is a single
article (which may then have a ``NAME.meta.json`` sidecar) or a container of many (JSON Lines, feeds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError
from .decoding import decode_article_text, decode_html
from .draft import Draft, Parsed
from .feeds import parse_feed
from .markdown import parse_markdown, parse_txt
from .records import parse_json, parse_jsonl
from .webpage import parse_html

__all__ = ["FORMATS", "SUPPORTED_SUFFIXES", "Format", "parse"]

Reader = Callable[[bytes], tuple[list[Parsed], bool]]


@dataclass(frozen=True)
class Format:
    """A kind of input file: its name for people, and how its bytes become parsed articles."""

    name: str
    read: Reader


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
_FEED = Format("RSS/Atom feed", _feed)

FORMATS: dict[str, Format] = {
    ".txt": _TEXT,
    ".md": _MARKDOWN,
    ".markdown": _MARKDOWN,
    ".html": _HTML,
    ".htm": _HTML,
    ".json": Format("JSON", _json),
    ".jsonl": Format("JSON Lines", _jsonl),
    ".xml": _FEED,
    ".rss": _FEED,
    ".atom": _FEED,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(FORMATS)


def parse(suffix: str, data: bytes) -> tuple[list[Parsed], bool]:
    """Parsed items of a file with this suffix, and whether it is a single article."""
    kind = FORMATS.get(suffix.lower())
    if kind is None:
        raise InputError(f"unsupported file type {suffix.lower() or '(no extension)'}")
    return kind.read(data)

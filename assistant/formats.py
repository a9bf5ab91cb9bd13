"""Parsers for each input format: file content in, :class:`Draft` articles (cleaned text and metadata) out.

Problems are raised or returned as :class:`~assistant.errors.InputError`, so :mod:`assistant.ingestion` can
turn them into ``Skipped`` entries naming the file and line. Nothing here reads files or opens the network.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trafilatura
import yaml
from frontmatter.default_handlers import YAMLHandler
from lxml import etree
from lxml import html as lxml_html
from lxml.html import defs as lxml_defs

from .cleaning import clean_inline, clean_text, strip_unprintable
from .dates import parse_date
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
        if value and (value := strip_unprintable(value).strip()):
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


def one_line(error: Exception, limit: int = 200) -> str:
    message = " ".join(str(error).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


# ---------------------------------------------------------------- text and markdown

_YAML = YAMLHandler()


# libyaml's safe loader when installed, as python-frontmatter itself uses.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FrontMatterLoader(_SafeLoader):
    """The safe loader, leaving dates as written: :func:`parse_date` reads them at the precision given.

    YAML's own timestamp type raised ValueError on an impossible date ("2024-02-30"), which lost the whole article;
    as a string it is an unparseable date, ignored like any other.
    """


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
# In a .txt a leading "---" is often a decorative rule; only a `key:` right after it marks front matter.
_TXT_FRONT_MATTER = re.compile(r"-{3,}[ \t]*\n\s*[A-Za-z_][\w-]*[ \t]*:")


def split_front_matter(text: str, *, strict: bool) -> tuple[dict[str, Any], str]:
    if not _YAML.detect(text) or (not strict and not _TXT_FRONT_MATTER.match(text)):
        return {}, text
    try:
        front, body = _YAML.split(text)
    except ValueError:
        raise InputError("bad front matter: no closing '---' line") from None
    try:
        data = _YAML.load(front, Loader=_FrontMatterLoader)
    except yaml.MarkedYAMLError as error:
        # The front matter text starts on the file's first line, so the mark's line is the file's line.
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError(f"bad front matter: {error.problem or error.context}{where}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:  # values YAML checks only as it builds
        raise InputError(f"bad front matter: {one_line(error)}") from None
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


def _without_title(text: str, title: str) -> str:
    """Drop a first paragraph of cleaned ``text`` that repeats the title, unless it is all there is.

    Cleaned text is paragraphs joined by blank lines, so the first one is found without splitting the others off:
    a list of every paragraph is an object per paragraph, gigabytes for a 50 MB file of short lines.
    """
    first, separator, rest = text.partition("\n\n")
    return rest if separator and _same(first, title) else text


def _md_heading(line: str) -> str | None:
    """The text of an ATX heading line (``# Title`` or ``# Title #``), else None; ``line`` is stripped.

    Plain string operations: the regex ``#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*`` it replaces backtracked over every space
    of a line like "# a        b", quadratic (seconds for a 16 kB first line).
    """
    if len(line) < 3 or line[0] != "#" or line[1] not in " \t":
        return None
    body = line[1:].lstrip(" \t")
    if not body:
        return None
    # A closing run of #s counts only after a space or tab, and only if text is left before it ("# C#" keeps "#").
    unclosed = body.rstrip("#")
    if unclosed != body and unclosed[-1:] in (" ", "\t") and (text := unclosed.rstrip(" \t")):
        return text
    return body


def parse_txt(text: str) -> Draft:
    """First line is the title, the rest the body; optional YAML front matter supplies metadata."""
    data, body = split_front_matter(text, strict=False)
    fields = _front_fields(data)
    text = clean_text(body)
    title = fields.pop("title", None)
    if title is None and text:
        first, separator, rest = text.partition("\n\n")
        title = clean_inline(first)
        # A one-line file keeps its line as the text too, rather than being dropped as empty.
        text = rest if separator else text
    elif title is not None:
        text = _without_title(text, title)
    return Draft(text=text, title=title, **fields)


def parse_markdown(text: str) -> Draft:
    """Front matter for metadata; a leading `# heading` is the title when front matter has none."""
    data, body = split_front_matter(text, strict=True)
    fields = _front_fields(data)
    title = fields.pop("title", None)
    # The first line that is not blank is the one holding the first non-space character.
    if (content := len(body) - len(body.lstrip())) < len(body):
        start = body.rfind("\n", 0, content) + 1
        end = body.find("\n", content)
        end = len(body) if end < 0 else end
        if (heading := _md_heading(body[start:end].strip())) is not None:
            heading_text = clean_inline(heading)
            if title is None or _same(title, heading_text):
                title = title or heading_text
                body = body[:start] + body[end + 1 :]
    # Without a title the first line stays in the body: in markdown it is prose, unlike a .txt's first line.
    return Draft(text=clean_text(body), title=title, **fields)


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
    text = clean_text(raw_text)
    if title is not None:
        text = _without_title(text, title)
    return Draft(
        text=text,
        title=title,
        date=parse_date(doc.date),
        source=clean_inline(doc.sitename or "") or None,
        url=strip_unprintable(doc.url or "").strip() or None,
        author=clean_inline(doc.author or "") or None,
    )


# Characters lxml parses but then refuses to store in a tree (setting .text raised ValueError and lost the whole
# feed); the cleaner would drop them from the text anyway.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, one line per block element; scripts and styles dropped."""
    fragment = _NOT_XML.sub("", fragment)
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


# json recurses once per level of nesting: "[[[[..." deeper than the interpreter's stack is a RecursionError.
_TOO_DEEP = "JSON nested too deeply to read"


def parse_json(text: str) -> Draft | list[Parsed]:
    """One object is a single article (a :class:`Draft`); an array holds records, each parsed separately."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _json_error(error) from None
    except RecursionError:
        raise InputError(_TOO_DEEP) from None
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
        except RecursionError:
            results.append(InputError(_TOO_DEEP, line=number))
            continue
        results.append(_parse_record(record, number))
    return results

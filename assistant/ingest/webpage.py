"""Web pages: the main text and metadata of an HTML page, and the visible text of an HTML fragment."""

from __future__ import annotations

import re
from typing import Any

import trafilatura
from lxml import etree
from lxml import html as lxml_html
from lxml.html import defs as lxml_defs

from ..errors import InputError
from ..text.cleaning import clean_inline, clean_text, strip_unprintable
from .dates import parse_date
from .draft import Draft, without_title

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
        text = without_title(text, title)
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

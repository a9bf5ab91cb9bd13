"""Web pages: the main text and metadata of an HTML page, and the visible text of an HTML fragment."""

from __future__ import annotations

import re
from typing import Any

import trafilatura
from lxml import etree
from lxml import html as lxml_html
from lxml.html import defs as lxml_defs
from trafilatura.utils import load_html

from ..errors import InputError
from ..text.cleaning import clean_inline, clean_text, strip_unprintable
from .dates import parse_date
from .draft import Draft, without_title
from .pagemeta import page_facts, split_site_suffix

# Publication date only, from markup; extensive search would guess from dates mentioned in the prose.
_DATE_PARAMS = {"original_date": True, "extensive_search": False}
# lxml's HTML 4 block tags plus the HTML 5 sectioning ones, each of which starts a new line of text.
_BLOCK_TAGS = lxml_defs.block_tags | {"article", "aside", "figcaption", "figure", "footer", "header", "main", "nav"}
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object")


def parse_html(page: str | bytes) -> Draft:
    """Main text and metadata of a web page; scripts, navigation and comment sections are left out.

    ``page`` is bytes when the caller could not tell the encoding: trafilatura then guesses it. The page's own
    markup decides its address, date and outlet (:mod:`assistant.ingest.pagemeta`); trafilatura's reading of them
    is the fallback.
    """
    tree = load_html(page)
    if tree is None:
        raise InputError("no main text found in HTML")
    _drop_hover_cards(tree)
    doc: Any = trafilatura.bare_extraction(
        tree,
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
    text = clean_text(raw_text)
    if _is_template(text):
        raise InputError("unrendered page template: its text is {{…}} placeholders (save the page after it has loaded)")
    facts = page_facts(tree, clean_inline(doc.sitename or "") or None)
    title = clean_inline(doc.title or "") or None
    suffix_date = None
    if title is not None:
        title, suffix_date = split_site_suffix(title, facts.names)
        text = without_title(text, title)
    return Draft(
        text=text,
        title=title,
        date=facts.date or suffix_date or parse_date(doc.date),
        source=facts.outlet,
        url=facts.url or strip_unprintable(doc.url or "").strip() or None,
        author=_byline(clean_inline(doc.author or "") or None, facts.agency),
    )


# Pop-up cards a script shows on hover, nested inside the sentence that names someone: as text they run into it
# ("Rep. Ilhan OmarIlhan OmarHillicon Valley: … MORE (D-Minn.)"). Matched on class, never on the words inside.
_HOVER_CARD = re.compile(r"(?:^|[\s_-])(?:rollover|tooltip|popover|hover-?card)(?:[\s_-]|$)", re.IGNORECASE)


def _drop_hover_cards(tree: Any) -> None:
    """Drop each pop-up card (several links: the name again, its latest stories); its trigger, one link, stays.

    Innermost first, so a wrapper holding the trigger and the emptied pop-up is left with its one link.
    """
    cards = [el for el in tree.iter() if isinstance(el.tag, str) and _HOVER_CARD.search(el.get("class") or "")]
    cards.sort(key=lambda el: -sum(1 for _ in el.iterancestors()))
    for card in cards:
        if card.getparent() is not None and len(card.findall(".//a")) >= 2:
            card.drop_tree()


# A placeholder of a client-side template ("{{article.title}}"): a page saved before its script filled it in.
_PLACEHOLDER = re.compile(r"\{\{[^{}\n]{1,400}\}\}")
# A page whose text is mostly placeholders, or has little else, is the template, not an article.
_TEMPLATE_SHARE = 0.3
_TEMPLATE_WORDS = 60


def _is_template(text: str) -> bool:
    if "{{" not in text:
        return False
    placeholders = _PLACEHOLDER.findall(text)
    if not placeholders:
        return False
    rest = _PLACEHOLDER.sub(" ", text)
    return sum(map(len, placeholders)) >= _TEMPLATE_SHARE * len(text) or len(rest.split()) < _TEMPLATE_WORDS


def _initials(name: str) -> re.Pattern[str]:
    """ "Associated Press" → a pattern for the word "AP", as bylines abbreviate it ("AP Auto Writer")."""
    letters = "".join(word[0] for word in re.split(r"[\s-]+", name) if word)
    return re.compile(rf"\b{re.escape(letters)}\b", re.IGNORECASE) if len(letters) >= 2 else re.compile(r"(?!)")


def _byline(author: str | None, agency: str | None) -> str | None:
    """The author, with the agency a syndicated story came from when the byline does not already name it."""
    if agency is None or (author and (agency.casefold() in author.casefold() or _initials(agency).search(author))):
        return author
    return f"{author} ({agency})" if author else agency


# Characters lxml parses but then refuses to store in a tree (setting .text raised ValueError and lost the whole
# feed); the cleaner would drop them from the text anyway.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _fragment_root(fragment: str) -> Any:
    try:
        return lxml_html.fragment_fromstring(fragment, create_parent="div")
    except AssertionError:
        # lxml asserts that a fragment parses to one <body>; text holding two (pages pasted together, found by
        # fuzzing a JSON Lines record) fails it: read it as a whole document instead.
        return lxml_html.document_fromstring(fragment)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, one line per block element; scripts and styles dropped."""
    fragment = _NOT_XML.sub("", fragment)
    if not fragment.strip():
        return ""
    try:
        root = _fragment_root(fragment)
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


# A whole tag, as in "<b>" or "<script src=x>"; a bare "<" ("x < y") is not one.
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_MARKUP_PASSES = 3


def markup_text(value: str, *, is_html: bool = False) -> str:
    """The text of a value that may hold HTML, with markup taken as markup wherever tags are found.

    Feeds say a body is plain text and exports put a page's HTML in a record's ``text``; either way a "<script>"
    there must go with its code, not stay as words, and ``<p>`` must end a paragraph. Text that still holds tags
    after one pass is HTML again (feeds escape bodies once too often): three passes undo any escaping seen in
    practice. ``is_html`` converts even text without tags, so its entities are decoded.
    """
    for number in range(_MARKUP_PASSES):
        if not (is_html and number == 0) and not _TAG.search(value):
            break
        value = html_to_text(value)
    return value

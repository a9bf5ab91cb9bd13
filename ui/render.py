"""HTML for answers and their citation cards. Article text is untrusted: everything from it is escaped.

Only the markup written here is live: the answer's ``[n]`` markers become links to the card ``#cite-n``, the
supporting span becomes ``<mark>``, and an article URL becomes a link only when it is http(s).
"""

from __future__ import annotations

import html
import re

from assistant import Answer, Citation
from assistant.documents import web_url
from assistant.text.citations import split_markers

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def escaped(text: str) -> str:
    """Untrusted text for the chat as literal characters: no HTML, no Markdown (a streamed, unfinished answer)."""
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(answer: Answer, prefix: str) -> str:
    """The answer text for the chat, escaped, with ``[n]`` markers linking to their cards.

    ``prefix`` makes card ids unique per answer in one chat (``a3-cite-1``).
    """
    known = {c.number for c in answer.citations}

    def link(number: int, marker: str) -> str:
        return f'<a href="#{prefix}-cite-{number}">{marker}</a>' if number in known else escaped(marker)

    linked = split_markers(answer.text, escaped, link)
    if answer.abstained:
        linked = "⚠️ " + linked
    if answer.notice:
        linked += "\n\n*" + escaped(answer.notice) + "*"
    return linked


def cards_html(answer: Answer | None, prefix: str) -> str:
    """One card per citation: title, outlet, date, link, and the excerpt with the supporting span marked."""
    if answer is None:
        return '<div class="cards empty">Sources appear here.</div>'
    heading = "Closest passages (not an answer)" if answer.abstained else "Sources"
    cards = "".join(_card(c, prefix) for c in answer.citations)
    kind = "abstained" if answer.abstained else "answered"
    return f'<div class="cards {kind}"><h3>{heading}</h3>{cards}</div>'


def _card(citation: Citation, prefix: str) -> str:
    e = html.escape
    start, end = citation.span
    excerpt = (
        e(citation.excerpt[:start]) + "<mark>" + e(citation.excerpt[start:end]) + "</mark>" + e(citation.excerpt[end:])
    )
    meta = " · ".join(e(part) for part in (citation.source, citation.date) if part)
    url = web_url(citation.url)
    link = f' <a href="{e(url)}" target="_blank" rel="noopener noreferrer nofollow">open article</a>' if url else ""
    flag = '<span class="unsupported">does not support the sentence citing it</span>' if not citation.supported else ""
    return (
        f'<div class="card" id="{prefix}-cite-{citation.number}">'
        f'<div class="card-head"><b>[{citation.number}]</b> {e(citation.title or "Untitled")}</div>'
        f'<div class="card-meta">{meta}{link}</div>{flag}'
        f'<blockquote class="excerpt">{excerpt}</blockquote></div>'
    )

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
    """The answer for the chat, escaped: the direct answer first, the quoted evidence (or the timeline) with ``[n]``
    markers linking to their cards, then the coverage line.

    ``prefix`` makes card ids unique per answer in one chat (``a3-cite-1``).
    """
    known = {c.number for c in answer.citations}

    def link(number: int, marker: str) -> str:
        return f'<a href="#{prefix}-cite-{number}">{marker}</a>' if number in known else escaped(marker)

    if answer.timeline:
        lines = [split_markers(line, escaped, link) for line in answer.text.splitlines() if line.strip()]
        linked = "**Timeline** (oldest first)\n\n" + "\n".join(f"- {line}" for line in lines)
    else:
        linked = split_markers(answer.text, escaped, link)
    if answer.short_answer is not None:
        short = answer.short_answer
        linked = f"**{escaped(short.text)}** {link(short.citation, f'[{short.citation}]')}\n\n{linked}"
    elif answer.held_back_line:
        linked = f'<span class="held-back">{escaped(answer.held_back_line)}</span>\n\n{linked}'
    if answer.abstained:
        linked = "⚠️ " + linked
    if answer.coverage is not None:
        linked += "\n\n" + coverage_markdown(answer, prefix)
    if answer.notice:
        linked += "\n\n*" + escaped(answer.notice) + "*"
    return linked


def coverage_markdown(answer: Answer, prefix: str) -> str:
    """The coverage line, its disagreement sides linked to their cards."""
    assert answer.coverage is not None
    known = {c.number for c in answer.citations}

    def link(number: int, marker: str) -> str:
        return f'<a href="#{prefix}-cite-{number}">{marker}</a>' if number in known else escaped(marker)

    return f'<span class="coverage">{split_markers(answer.coverage.line, escaped, link)}</span>'


def recheck_html(note: str, then: Answer | None, now: Answer | None) -> str:
    """A permalink's re-check: what changed, and the answer then beside the answer now."""
    if not note:
        return ""
    columns = ""
    if then is not None and now is not None:
        columns = (
            '<div class="recheck-columns">'
            f"{_column(f'Then (generation {then.generation})', then)}"
            f"{_column(f'Now (generation {now.generation})', now)}</div>"
        )
    return f'<div class="recheck"><p class="recheck-note">{html.escape(note)}</p>{columns}</div>'


def _column(heading: str, answer: Answer) -> str:
    e = html.escape
    short = f"<p><b>{e(answer.short_answer.text)}</b></p>" if answer.short_answer else ""
    sources = "".join(
        f"<li>[{c.number}] {e(c.title or 'Untitled')} ({e(' · '.join(p for p in (c.source, c.date) if p))})</li>"
        for c in answer.citations
    )
    return f'<div class="recheck-column"><h4>{e(heading)}</h4>{short}<p>{e(answer.text)}</p><ul>{sources}</ul></div>'


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

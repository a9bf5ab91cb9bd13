"""Permalinks: the page's URL carries the question, the filters, the as-of day and the index generation an answer
came from, so it can be opened again and re-checked.

    ?q=How+much+did+Alibaba+invest%3F&as_of=2025-03-01&source=Reuters&source=AP&k=8&gen=3&timeline=1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from assistant import Answer, Assistant
from assistant.errors import GenerationGoneError

from .render import answer_markdown, cards_html, recheck_html

__all__ = ["KEEP_QUERY_JS", "SET_URL_JS", "Permalink", "link_html", "read_permalink", "recheck"]

# Gradio's page has <base href="./">: a citation link "#a1-cite-1" would resolve to "/#a1-cite-1" and reload the page
# once its URL carries a permalink's query. The base follows the URL, so such links stay on the page.
_KEEP_QUERY = "const b = document.querySelector('base'); if (b) b.setAttribute('href', location.href.split('#')[0]);"
KEEP_QUERY_JS = f"() => {{ {_KEEP_QUERY} }}"
# After an answer: its permalink becomes the page's URL, without a reload.
SET_URL_JS = (
    "() => { const a = document.querySelector('#permalink a.permalink');"
    f" if (a) history.replaceState(null, '', a.getAttribute('href')); {_KEEP_QUERY} }}"
)

_MAX_QUESTION = 2000  # the question box's own limit


@dataclass(frozen=True)
class Permalink:
    question: str
    as_of: str = ""
    since: str = ""
    until: str = ""
    sources: tuple[str, ...] = field(default_factory=tuple)
    k: int | None = None
    generation: int | None = None
    timeline: bool = False

    def query_string(self) -> str:
        pairs: list[tuple[str, Any]] = [("q", self.question)]
        pairs += [(key, value) for key, value in (("as_of", self.as_of), ("since", self.since), ("until", self.until))]
        pairs += [("source", source) for source in self.sources]
        pairs += [("k", self.k), ("gen", self.generation), ("timeline", 1 if self.timeline else None)]
        return "?" + urlencode([(key, value) for key, value in pairs if value not in (None, "")])

    def filters(self) -> tuple[str, str, str, list[str], int | None]:
        """as of, since, until, sources and passages, in the order of the page's filter inputs."""
        return self.as_of, self.since, self.until, list(self.sources), self.k


def read_permalink(params: Mapping[str, Any]) -> Permalink | None:
    """The permalink in a page's query parameters (a mapping with ``getlist``, or a plain dict), or None."""
    question = str(_one(params, "q") or "").strip()
    if not question:
        return None
    getlist = getattr(params, "getlist", None)
    listed = getlist("source") if getlist else params.get("source")
    sources = tuple(listed) if isinstance(listed, list | tuple) else (listed,) if listed else ()
    return Permalink(
        question=question[:_MAX_QUESTION],
        as_of=str(_one(params, "as_of") or ""),
        since=str(_one(params, "since") or ""),
        until=str(_one(params, "until") or ""),
        sources=tuple(str(s) for s in sources if s),
        k=_number(_one(params, "k"), 1, 200),
        generation=_number(_one(params, "gen"), 1, 10**9),
        timeline=str(_one(params, "timeline") or "") in ("1", "true", "yes"),
    )


def _one(params: Mapping[str, Any], key: str) -> Any:
    value = params.get(key)
    return value[0] if isinstance(value, list | tuple) and value else value


def _number(value: Any, low: int, high: int) -> int | None:
    """A whole number within bounds, or None: a hand-edited link must not break the page."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def link_html(
    answer: Answer, as_of: str = "", since: str = "", until: str = "", sources: Any = (), k: Any = None
) -> str:
    """The link to ``answer`` the page shows (and makes its URL): standalone question, filters, generation."""
    link = Permalink(
        answer.query,
        as_of or "",
        since or "",
        until or "",
        tuple(sources or ()),
        int(k) if k else None,
        answer.generation,
        bool(answer.timeline),
    )
    return f'<a class="permalink" href="{link.query_string()}">Permalink to this answer</a>'


def recheck(assistant: Assistant, link: Permalink, options: dict[str, Any]) -> dict[str, Any]:
    """Re-ask a permalink's question: on its generation while that is kept, and beside today's answer when the
    index has changed since; the page's outputs as a dict (chat, cards, turns, filters, recheck, permalink)."""
    current = assistant.retriever.generation
    timeline = link.timeline or None
    now = assistant.ask(link.question, timeline=timeline, **options)
    then = None
    if link.generation is None or link.generation == current:
        note = f"Re-asked on index generation {current}, the one this link was answered from."
    else:
        try:
            then = assistant.ask(link.question, timeline=timeline, generation=link.generation, **options)
        except GenerationGoneError:
            note = (
                f"The index has changed since this link was made: generation {link.generation} is no longer kept, "
                f"so this is the answer from generation {current}."
            )
        else:
            same = then.text == now.text
            note = f"The index has changed since this link was made (generation {link.generation} → {current}); "
            note += "the answer is the same." if same else "the answer then and now:"
    shown = then or now
    chat = [
        {"role": "user", "content": link.question},
        {"role": "assistant", "content": answer_markdown(shown, "a1")},
    ]
    changed = then is not None and then.text != now.text
    return {
        "chat": chat,
        "cards": cards_html(shown, "a1"),
        "turns": [shown],
        "filters": link.filters(),
        "recheck": recheck_html(note, then if changed else None, now if changed else None),
        "permalink": link_html(shown, *link.filters()),
    }

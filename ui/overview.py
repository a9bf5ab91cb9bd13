"""What the page says at its top about the index it answers from: what the assistant does, how many articles from
which outlets over which dates, when it was last updated, and example questions drawn from its newest headlines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .render import escaped

if TYPE_CHECKING:
    from assistant import IndexDescription

__all__ = ["EXAMPLES_SHOWN", "Overview", "overview_of", "pending"]

TITLE = "News QA assistant"
PURPOSE = (
    "Ask questions of the news articles in this index: each answer quotes the sentences it comes from, says who "
    "published them and when, and says so when the articles don't answer."
)
OUTLETS_NAMED = 4  # the outlets with the most articles are named; the rest are counted
EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class Overview:
    """The page's header (Markdown) and its example questions, for one generation of the index."""

    generation: int
    header: str
    examples: tuple[str, ...]


def overview_of(info: IndexDescription) -> Overview:
    return Overview(info.generation, _header(info), _examples(info))


def pending(line: str) -> Overview:
    """The page's header while there is no index yet to describe: ``line`` says why (a first build's progress)."""
    return Overview(0, f"## {TITLE}\n{PURPOSE}\n\n{escaped(line)}", ())


def _header(info: IndexDescription) -> str:
    return f"## {TITLE}\n{PURPOSE}\n\n{_holdings(info)}"


def _holdings(info: IndexDescription) -> str:
    if not info.articles:
        return "The index holds no articles yet: add some in the Library tab."
    ranked = sorted(info.sources, key=lambda s: (-s.articles, s.source))
    named = ", ".join(escaped(s.source) for s in ranked[:OUTLETS_NAMED])
    others = len(ranked) - OUTLETS_NAMED
    outlets = f"{named} and {others} more" if others > 0 else named
    count = f"{len(ranked)} outlet{'s' if len(ranked) != 1 else ''}"
    first, last = info.date_range.first, info.date_range.last
    parts = [
        f"**{info.articles:,} article{'s' if info.articles != 1 else ''}**",
        f"from {count} ({outlets})" if ranked else "with no outlet named",
        "undated" if not first else f"dated {first}" if first == last else f"dated {first} to {last}",
        f"last updated {info.created_at.replace('T', ' ').replace('Z', ' UTC')}",
    ]
    return " · ".join(parts)


def _examples(info: IndexDescription) -> tuple[str, ...]:
    """Questions about the newest headlines (by the article's date, undated ones last), one per headline."""
    listed = [a for a in info.article_list or () if a.title.strip()]
    newest = sorted(listed, key=lambda a: (a.date or "", a.id), reverse=True)
    questions: list[str] = []
    for article in newest:
        question = f"What do the articles say about “{article.title.strip()}”?"
        if question not in questions:
            questions.append(question)
        if len(questions) == EXAMPLES_SHOWN:
            break
    return tuple(questions)

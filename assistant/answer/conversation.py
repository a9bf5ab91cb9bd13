"""Follow-up questions: turning "And Tencent?" or "How much did it spend?" into a question that stands alone.

Offline, this resolves ellipsis and pronouns from the previous turn: its standalone question and the names its
answer quoted. With an LLM, the answerer's condense step does it instead (see :mod:`assistant.answer.assistant`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..text.terms import query_terms
from .evidence import values_in

_ELLIPSIS = re.compile(
    r"^(?:and|but|also|then)?\s*(?:what|how)\s+about\s+(?P<a>.+?)\W*$"
    r"|^(?:and|but|also)\s+(?:for\s+|of\s+)?(?P<b>.+?)\W*$"
    r"|^(?:same|the same)\s+(?:for|with)\s+(?P<c>.+?)\W*$",
    re.IGNORECASE,
)
_PERSONAL = re.compile(r"\b(he|she|him|his|her|hers)\b", re.IGNORECASE)
_IMPERSONAL = re.compile(r"\b(it|its|they|them|their|theirs|the company|the firm|this company)\b", re.IGNORECASE)
_POSSESSIVE = {"his", "her", "hers", "its", "their", "theirs"}
# Capitalised words that are not what a pronoun stands for.
_NOT_REFERENTS = frozenset(
    "AI U.S. US UK EU I Monday Tuesday Wednesday Thursday Friday Saturday Sunday President CEO".split()  # noqa: SIM905
)
_ORG_WORDS = re.compile(r"\b(?:Inc|Corp|Group|Company|Co|Ltd|Bank|Holdings|Technologies|Party|Ministry)\b")


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what was asked, what was searched, what was answered (and the quoted sentences)."""

    question: str
    query: str = ""
    answer: str = ""
    quotes: tuple[str, ...] = ()


def as_turns(history: Iterable[Any]) -> list[Turn]:
    """Accept earlier :class:`Answer` objects, :class:`Turn` objects, (question, answer) pairs or plain questions."""
    turns: list[Turn] = []
    for item in history or ():
        if isinstance(item, Turn):
            turns.append(item)
        elif hasattr(item, "citations") and hasattr(item, "query"):  # an Answer
            quotes = () if item.abstained else tuple(c.quote for c in item.citations)
            turns.append(Turn(item.question, item.query, item.text, quotes))
        elif isinstance(item, str):
            turns.append(Turn(item))
        elif isinstance(item, Sequence) and len(item) == 2:
            turns.append(Turn(str(item[0] or ""), answer=str(item[1] or "")))
        else:
            raise ConfigError(
                f"cannot use a {type(item).__name__} as a conversation turn: pass Answers or (question, answer) pairs"
            )
    return [turn for turn in turns if turn.question.strip()]


def condense(question: str, history: Sequence[Turn]) -> str:
    """``question`` rewritten to stand alone, using the last turn; unchanged when it already does."""
    question = " ".join(question.split())
    if not history:
        return question
    last = history[-1]
    base = last.query or last.question
    ellipsis = _ELLIPSIS.match(question)
    if ellipsis:
        subject = next(g for g in ellipsis.groups() if g)
        names = _names(base)
        if names:
            return base.replace(names[0], subject, 1)
        return f"{base.rstrip('?. ')} {subject}?"
    own = _names(question)
    replaced = _resolve_pronouns(question, last, base) if not own else question
    if replaced != question:
        return replaced
    if not own and len(query_terms(question)) <= 1 and len(question.split()) <= 6:
        # A question with no subject of its own ("How much?", "Why?") continues the last one.
        context = " ".join(_names(base)) or base
        return f"{question} ({context})"
    return question


def _resolve_pronouns(question: str, last: Turn, base: str) -> str:
    people = [n for n in _names(base) + _names(" ".join(last.quotes)) if _is_person(n)]
    things = [n for n in _names(base) if not _is_person(n)] or _names(" ".join(last.quotes))

    def swap(match: re.Match[str], referents: list[str]) -> str:
        if not referents:
            return match.group()
        word = match.group().lower()
        return referents[0] + ("’s" if word in _POSSESSIVE else "")

    out = _PERSONAL.sub(lambda m: swap(m, people or things), question)
    return _IMPERSONAL.sub(lambda m: swap(m, things or people), out)


def _names(text: str) -> list[str]:
    return [n for n in values_in(text, "name") if n not in _NOT_REFERENTS and not n.isupper()]


def _is_person(name: str) -> bool:
    """Two or three capitalised words and no company word: 'Xi Jinping', 'Daniel Zhang'."""
    words = name.split()
    return 2 <= len(words) <= 3 and not _ORG_WORDS.search(name)

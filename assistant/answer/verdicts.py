"""The verdict of an answer across articles, given only when the quoted reports carry it.

- "Did A report … before B …?": the quoted articles' dates decide (Yes when A's is earlier; not on the same day).
- "Which company / Who …, reported by A … and by B …?": the name the quoted reports of at least two parts share,
  that the question does not already say and that is not an outlet's; a span of a cited excerpt.
- Any yes/no question: No when a quote bounds a figure the other way than the question says ("over $400 off"
  against "less than $400 off").
- Other yes/no questions get no verdict: whether two reports agree is for the reader to judge from the quotes. Yes
  whenever every part has a quote, and No when one has none, were measured on MultiHop-RAG dev: on held-out
  question types they score what answering "yes" to everything does (0.61), no better.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..answers import Citation
from ..errors import ConfigError
from ..retrieve.timeframes import parse_day
from .extractive import readable_date
from .metrics import normalize
from .names import is_person
from .parts import Split
from .short import SpanWeights, ranked_spans

__all__ = ["Quoted", "Verdict", "decide"]

_NAMED = ("person", "organisation", "place", "thing")
# How a name in the quotes scores (short.SpanWeights): every quote counts alike, one per part of the question.
_SPAN_WEIGHTS = SpanWeights(rank_decay=0.0)


@dataclass(frozen=True)
class Quoted:
    """One quote of an answer across articles: for part ``part``, cited as ``citation``."""

    part: int
    number: int
    text: str
    source: str | None
    date: str | None
    citation: Citation


@dataclass(frozen=True)
class Verdict:
    """The direct answer ``text`` of ``kind``, from citation ``citation`` (its ``span`` in the excerpt, None for the
    quoted sentence), and the line that says why."""

    text: str
    kind: str
    citation: int
    span: tuple[int, int] | None
    reason: str


# "less than $400" in the question, "over $400" in the report: the report says otherwise.
_BOUNDED = re.compile(
    r"\b(less than|fewer than|under|below|at most|up to|more than|over|above|at least)\s+"
    r"([$€£¥]?\s?\d[\d,.]*(?:\s?(?:%|percent|per cent|million|billion|thousand))?"
    r"(?:\s?(?:euros?|dollars?|pounds?|yen|yuan))?)",
    re.I,
)
_LOWER = frozenset({"less than", "fewer than", "under", "below", "at most", "up to"})


def decide(
    split: Split, supported: Sequence[bool], quoted: Sequence[Quoted], passages: Sequence[str] = ()
) -> Verdict | None:
    """The verdict the quotes carry for ``split``'s question, or None; ``passages`` are the texts of every passage
    found for its parts (a name more of them state is likelier the one asked for)."""
    if split.kind == "yes/no":
        return _contradicted(split, quoted) or _sequence(split, supported, quoted)
    if split.kind in _NAMED:
        return _shared_name(split, quoted, passages)
    return None


def _contradicted(split: Split, quoted: Sequence[Quoted]) -> Verdict | None:
    """No, when a part's quote bounds a figure the other way than the question does ("over $400" against "less
    than $400")."""
    for quote in quoted:
        for asked in _BOUNDED.finditer(split.parts[quote.part].clause):
            for said in _BOUNDED.finditer(quote.text):
                same = _figure(asked[2]) == _figure(said[2])
                if same and (asked[1].lower() in _LOWER) != (said[1].lower() in _LOWER):
                    reason = f"{quote.source or 'The report'} says “{said[0]}”, not “{asked[0]}”."
                    return Verdict("No", "yes/no", quote.number, None, reason)
    return None


def _figure(text: str) -> str:
    return re.sub(r"[^\d.%]", "", text).rstrip(".")


def _sequence(split: Split, supported: Sequence[bool], quoted: Sequence[Quoted]) -> Verdict | None:
    """Yes or No for "did A … before/after B …?" from the dates of A's and B's quoted reports."""
    if split.sequence is None:
        return None
    first, second, relation = split.sequence
    if not (supported[first] and supported[second]):
        return None
    one = next((q for q in quoted if q.part == first), None)
    other = next((q for q in quoted if q.part == second), None)
    if one is None or other is None:
        return None
    day, later = _day(one.date), _day(other.date)
    if day is None or later is None or day == later or one.number == other.number:
        return None
    earlier = day < later
    yes = earlier if relation == "before" else not earlier
    a, b = (one, other) if earlier else (other, one)
    reason = (
        f"{a.source or 'The first report'} reported it on {_readable(a.date)}, before "
        f"{b.source or 'the other report'} on {_readable(b.date)}."
    )
    return Verdict("Yes" if yes else "No", "yes/no", one.number, None, reason)


def _shared_name(split: Split, quoted: Sequence[Quoted], passages: Sequence[str]) -> Verdict | None:
    """The name (of the kind asked) that the quoted reports of the most parts state, at least two: of them, the one
    that looks most like the kind asked for, then the best placed (beside the question's words, stated by more of
    the passages found); a surname is given whole when a quote has the whole name ("Sam Bankman-Fried")."""
    parts = {q.part for q in quoted}
    if len(parts) < 2:
        return None
    kind = split.kind or "thing"
    outlets = {normalize(q.source) for q in quoted if q.source} | {normalize(p.named) for p in split.parts}
    citations = list({q.number: q.citation for q in quoted}.values())
    best: tuple[tuple[int, float, float], Citation, int, int] | None = None
    for score, span in ranked_spans(split.question, citations, passages, kind, _SPAN_WEIGHTS):
        fit = _looks(span.text, kind, span.fit)
        if not fit or normalize(span.text) in outlets:
            continue
        words = normalize(span.text).split()
        stating = len({q.part for q in quoted if _states(q.citation.excerpt, words)})
        rank = (stating, fit, score)
        if stating >= 2 and (best is None or rank > best[0]):
            citation = next(c for c in citations if c.number == span.citation)
            best = (rank, citation, span.start, span.end)
    if best is None:
        return None
    (count, _, _), citation, start, end = best
    if kind == "person":
        citation, start, end = _whole_name(citations, citation, start, end)
    name = citation.excerpt[start:end]
    reason = f"{name} is named in {count} of the {len(parts)} reports."
    return Verdict(name, kind, citation.number, (start, end), reason)


def _looks(name: str, kind: str, fit: float) -> float:
    """How much ``name`` looks like the kind asked for: a person is two or three capitalised words (a surname alone
    counts half), an organisation is not someone's name; 0 rules it out."""
    words = name.split()
    if kind == "person":
        if any(w.isupper() for w in words) or not all(w[:1].isupper() for w in words) or words[0].endswith("ing"):
            return 0.0  # "CEO", "SBF", "CEO of Alameda", "Using Caroline Ellison": a role, an acronym, a clause
        return 1.0 if is_person(name) else 0.5 if len(words) == 1 and len(name) > 3 else 0.0
    if kind == "organisation" and is_person(name) and fit < 1.0:
        return 0.3
    return fit


def _whole_name(citations: Sequence[Citation], citation: Citation, start: int, end: int) -> tuple[Citation, int, int]:
    """The span of the whole name a quoted excerpt gives for the surname at ``start``-``end`` ("Swift" → "Taylor
    Swift"), or the span itself."""
    name = citation.excerpt[start:end]
    if " " in name:
        return citation, start, end
    pattern = re.compile(rf"(?<![\w-])((?:[A-Z][\w'’.-]+\s+){{1,2}}){re.escape(name)}(?![\w-])")
    for each in sorted(citations, key=lambda c: c.number != citation.number):
        for match in pattern.finditer(each.excerpt):
            if is_person(match.group()):
                return each, match.start(), match.end()
    return citation, start, end


def _states(text: str, words: list[str]) -> bool:
    """Whether ``text`` names the name of ``words``: all of them, or its last (a surname, "Bankman-Fried")."""
    said = f" {normalize(text)} "
    return f" {' '.join(words)} " in said or (len(words) > 1 and len(words[-1]) > 3 and f" {words[-1]} " in said)


def _day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return parse_day(value[:10], name="date")
    except ConfigError:
        return None


def _readable(value: str | None) -> str:
    return readable_date(value) or "an unknown date"

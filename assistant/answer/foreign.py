"""An English question whose best match is an article in another language, with an English-only model.

The model cannot tell whether that article answers: its sentences score low and the answer would abstain. But the
article was found by the names the question shares with it, often rightly (an English question about a Netflix
remake, answered by an Italian review). So rather than abstain, the answer says which language the article is in,
that it is not checked as an answer, and quotes the article's sentences that share the most words with the question.
"""

from __future__ import annotations

import re

from ..text.languages import ENGLISH, language_name, passage_language, question_language
from .evidence import Candidate, Evidence
from .extractive import Composition, ExtractiveAnswerer, attribution

__all__ = ["foreign_match", "quote_foreign"]

_LEADING_HITS = 3  # only a passage ranked among the first few counts as "the matching article"
_NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_QUOTED = 2  # sentences of the article quoted


def foreign_match(question: str, evidence: Evidence) -> tuple[int, str] | None:
    """(hit, language) of the best-ranked passage in another language that names what the question names."""
    if question_language(question) != ENGLISH:
        return None
    names = {m.group().lower() for m in _NAME.finditer(question.strip())}
    if not names:
        return None
    for index, hit in enumerate(evidence.hits[:_LEADING_HITS]):
        language = passage_language(hit.text[:600])
        if language != ENGLISH and any(name in hit.text.lower() for name in names):
            return index, language
    return None


def quote_foreign(extractive: ExtractiveAnswerer, evidence: Evidence, hit: int, language: str) -> Composition:
    """The article's sentences that share the most words with the question, under a line saying what they are."""
    found = evidence.hits[hit]
    mine = [c for c in evidence.candidates if c.hit == hit][:_QUOTED]
    if not mine:
        mine = [Candidate(hit, s, e, found.text[s:e], 0.0, 0.0, 0.0) for s, e in evidence.spans[hit][:_QUOTED]]
    mine.sort(key=lambda c: c.start)
    pieces = [
        f"The closest matching article is in {language_name(language)}, which the embedding model does not read, so "
        f"it is not checked as an answer; read it yourself. {attribution(found)}: "
    ]
    citations = []
    for number, cand in enumerate(mine, 1):
        span = (cand.start, cand.end)
        citations.append(extractive.citation(number, found, evidence.spans[hit], span, cand.score))
        pieces.append(f"{cand.text} [{number}] ")
    pieces[-1] = pieces[-1].rstrip()
    return Composition(tuple(pieces), tuple(citations))

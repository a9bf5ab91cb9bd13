"""What an answer carries besides its text: the direct answer, the coverage line and the retrieval trace.

Every answerer's composition gets the same three, so the page, the CLI and Python show them alike. A short answer
an LLM proposes is shown only if it is found, word for word, in an excerpt the answer cites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..answers import Citation, Coverage, ShortAnswer
from ..llm.injection import instruction_start
from ..settings import Settings
from ..text.sentences import sentence_spans
from .coverage import coverage_of, related_hits
from .evidence import Evidence
from .expectation import expected_kind
from .extractive import Composition
from .short import short_answer
from .trace import build_trace

__all__ = ["Annotations", "annotate", "checked_short_answer"]


def _in_instruction(text: str, position: int) -> bool:
    """Whether ``position`` lies in a sentence that addresses a model: an injected order is no answer."""
    for start, end in sentence_spans(text):
        if start <= position < end:
            return instruction_start(text[start:end]) is not None
    return False


@dataclass(frozen=True)
class Annotations:
    """The fields of an :class:`~assistant.answers.Answer` that every answerer's composition gets alike."""

    trace: dict[str, Any]
    short_answer: ShortAnswer | None = None
    coverage: Coverage | None = None


def annotate(
    query: str,
    evidence: Evidence,
    composition: Composition,
    settings: Settings,
    *,
    abstained: bool,
    answerer: str,
    filters: dict[str, Any],
    short: ShortAnswer | None = None,
    timeline: bool = False,
    rules: bool = True,
) -> Annotations:
    """``short_answer``, ``coverage`` and ``trace`` for an :class:`~assistant.answers.Answer` of ``composition``.

    Without ``short``, answer-type rules (:mod:`.short`) look for one when ``rules`` (the reader did not read this
    evidence)."""
    citations = composition.citations
    trace = build_trace(
        query,
        evidence,
        citations,
        composition.conflicts,
        abstained=abstained,
        answerer=answerer,
        filters=filters,
    )
    if abstained:
        return Annotations(trace)
    if short is None and rules and not timeline:
        passages = [hit.text for hit in evidence.hits]
        short = short_answer(query, citations, passages, composition.conflicts)
    related = [] if timeline else related_hits(evidence, settings.answer_margin, settings.abstain_below)
    return Annotations(trace, short, coverage_of(citations, related, composition.conflicts))


def checked_short_answer(
    proposal: tuple[str, int] | None, citations: Sequence[Citation], preferred: int | None, method: str, query: str
) -> ShortAnswer | None:
    """The model's short answer as a span of a cited excerpt (the one it named first), or None if none has it.

    Found case-insensitively with any run of spaces; the span shows the excerpt's own words.
    """
    if proposal is None:
        return None
    text, _ = proposal
    words = text.split()
    if not words or len(text) > 120:
        return None
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE)
    ordered = sorted(citations, key=lambda c: c.number != preferred)
    for citation in ordered:
        match = pattern.search(citation.excerpt)
        if match and not _in_instruction(citation.excerpt, match.start()):
            kind = expected_kind(query) or "thing"
            return ShortAnswer(match.group(), kind, citation.number, (match.start(), match.end()), method)
    return None

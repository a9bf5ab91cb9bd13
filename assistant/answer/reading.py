"""The reader's part of an answer: which sentence answers the question, and which span of it is the direct answer.

The reader model (:mod:`assistant.reader`) reads the question with the best sentences of the evidence, each with
the sentences around it (an answer is often stated beside the sentence that shares the question's words). Its best
span, when confident enough, decides the answer: the sentence holding it leads the quoted evidence, and the span
is the bold direct answer, inside that quote. Below the confidence it needs, no direct answer is shown and the
answer says it held one back; its sentence still leads when it is in the passage the evidence ranking put first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ..answers import Citation, ShortAnswer
from ..embed.base import Embedder
from ..errors import ModelError
from ..llm.injection import instruction_start
from ..text.sentences import sentence_spans
from .evidence import Candidate, Evidence
from .expectation import expected_kind
from .metrics import normalize
from .short import span_candidates

__all__ = ["Features", "Read", "SpanReader", "features", "judged", "read_evidence", "reader_short_answer"]

logger = logging.getLogger(__name__)

_CONTEXT = 1  # sentences either side of a candidate that the reader reads with it
_WINDOW_CHARS = 700  # about 150 tokens: a window longer than this is cut at a sentence


class _Reading(Protocol):
    @property
    def passage(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def margin(self) -> float: ...


class _Calibration(Protocol):
    def confidence(self, margin: float, agree: float, fit: float) -> float: ...


class SpanReader(Protocol):
    """What a reader does (:class:`assistant.reader.model.Reader`; tests pass fakes): the best span of each
    passage, and the curve that turns a span's features into a confidence."""

    @property
    def calibration(self) -> _Calibration: ...

    def read(self, question: str, passages: Sequence[str]) -> Sequence[_Reading]: ...


@dataclass(frozen=True)
class Features:
    """What a reading's confidence rests on: its margin over "no answer", how many other passages' best spans
    say the same (at most 2), and how well it fits the kind of answer the question asks for (0 to 1)."""

    margin: float
    agree: float
    fit: float


def features(question: str, passages: Sequence[str], readings: Sequence[_Reading], chosen: _Reading) -> Features:
    said = normalize(chosen.text)
    agree = sum(
        1
        for other in readings
        if other is not chosen and (said and (normalize(other.text) in said or said in normalize(other.text)))
    )
    return Features(chosen.margin, float(min(agree, 2)), _fit(question, passages[chosen.passage], chosen))


def judged(
    question: str, passages: Sequence[str], readings: Sequence[_Reading], calibration: _Calibration
) -> tuple[_Reading, float] | None:
    """The most confident reading and its confidence; None when there is none."""
    scored = []
    for reading in readings:
        f = features(question, passages, readings, reading)
        scored.append((calibration.confidence(f.margin, f.agree, f.fit), reading))
    if not scored:
        return None
    confidence, best = max(scored, key=lambda pair: pair[0])
    return best, confidence


def _fit(question: str, passage: str, reading: _Reading) -> float:
    """How well the span looks like the kind of answer asked for: the best fit of the rules' candidates of that
    kind (:func:`.short.span_candidates`) that overlap it in its sentence; 0 when none does or none is expected."""
    kind = expected_kind(question)
    if kind is None or kind == "yes/no":
        return 0.0
    for start, end in sentence_spans(passage):
        if start <= reading.start < end:
            low, high = reading.start - start, reading.end - start
            fits = [fit for s, e, fit in span_candidates(passage[start:end], kind, question) if s < high and low < e]
            return max(fits, default=0.0)
    return 0.0


def _ordered(text: str, position: int) -> bool:
    """Whether ``position`` lies in a sentence of ``text`` that addresses a model."""
    for start, end in sentence_spans(text):
        if start <= position < end:
            return instruction_start(text[start:end]) is not None
    return False


@dataclass(frozen=True)
class Read:
    """The reader's best span: ``hits[hit].text[start:end]``; ``shown`` when its confidence clears the bar."""

    hit: int
    start: int
    end: int
    text: str
    confidence: float
    shown: bool


@dataclass(frozen=True)
class _Window:
    hit: int
    start: int  # in the hit's text
    end: int


def read_evidence(
    reader: SpanReader, question: str, evidence: Evidence, embedder: Embedder, *, windows: int, threshold: float
) -> tuple[Evidence, Read | None]:
    """The evidence with the sentence of the reader's best span first, and what it read.

    A span confident enough to be shown leads wherever it is. A span held back leads only from the passage the
    evidence ranking put first: within that passage it is still the best guess at which sentence answers (RealTime
    QA dev: gold answer in the answer's text 0.709, against 0.699 when only shown spans led), but it does not
    overrule the ranking's choice of passage, which weighs dates and the as-of day (leading from any passage put an
    older article first).
    """
    if not evidence.candidates:
        return evidence, None
    chosen = _windows(evidence, windows)
    texts = [evidence.hits[w.hit].text[w.start : w.end] for w in chosen]
    try:
        readings = reader.read(question, texts)
    except ModelError as exc:
        logger.warning("the reader failed, answering without it: %s", exc)
        return evidence, None
    # A span inside an order planted for a model ("ignore previous instructions and say …") answers nothing.
    readings = [r for r in readings if not _ordered(texts[r.passage], r.start)]
    verdict = judged(question, texts, readings, reader.calibration)
    if verdict is None:
        return evidence, None
    best, confidence = verdict
    window = chosen[best.passage]
    found = Read(
        window.hit,
        window.start + best.start,
        window.start + best.end,
        best.text,
        round(confidence, 4),
        confidence >= threshold,
    )
    if not found.shown and found.hit != evidence.candidates[0].hit:
        return evidence, found  # an unsure reading does not overrule which passage leads (its date, the as-of day)
    return _lead_with(evidence, found, embedder), found


def reader_short_answer(
    found: Read, evidence: Evidence, citations: Sequence[Citation], kind: str
) -> ShortAnswer | None:
    """The reader's span as a :class:`ShortAnswer` of the citation that quotes it; None when none does."""
    hit = evidence.hits[found.hit]
    begin, end = hit.start + found.start, hit.start + found.end
    for citation in citations:
        if citation.chunk_id != hit.chunk_id and citation.article_id != hit.article_id:
            continue
        offset = begin - citation.excerpt_start
        if offset >= 0 and end - citation.excerpt_start <= len(citation.excerpt):
            span = (offset, end - citation.excerpt_start)
            text = citation.excerpt[span[0] : span[1]]
            return ShortAnswer(text, kind, citation.number, span, "reader", found.confidence)
    return None


def _windows(evidence: Evidence, limit: int) -> list[_Window]:
    """The best candidates' sentences with their neighbours, one window per stretch of a passage, best first."""
    out: list[_Window] = []
    for cand in evidence.candidates:
        sentences = evidence.spans[cand.hit]
        at = next((i for i, (s, e) in enumerate(sentences) if s <= cand.start < e), None)
        if at is None:
            start, end = cand.start, cand.end
        else:
            first, last = max(0, at - _CONTEXT), min(len(sentences) - 1, at + _CONTEXT)
            start, end = sentences[first][0], sentences[last][1]
            while end - start > _WINDOW_CHARS and last > at:
                last -= 1
                end = sentences[last][1]
            while end - start > _WINDOW_CHARS and first < at:
                first += 1
                start = sentences[first][0]
        if any(w.hit == cand.hit and w.start < end and start < w.end for w in out):
            continue  # overlaps a window already read
        out.append(_Window(cand.hit, start, end))
        if len(out) == limit:
            break
    return out


def _lead_with(evidence: Evidence, found: Read, embedder: Embedder) -> Evidence:
    """``evidence`` re-ranked so the sentence holding the reader's span is the best candidate."""
    candidates = list(evidence.candidates)
    top = candidates[0].score
    at = next(
        (i for i, c in enumerate(candidates) if c.hit == found.hit and c.start <= found.start and found.end <= c.end),
        None,
    )
    if at is not None:
        lead, vector = candidates.pop(at), evidence.vectors[at]
        vectors = np.delete(evidence.vectors, at, axis=0)
    else:
        sentence = _sentence_candidate(evidence, found)
        if sentence is None:
            return evidence
        lead, vector, vectors = sentence, embedder.embed([sentence.text])[0], evidence.vectors
    lead = replace(
        lead, score=max(top, lead.score), support=max(lead.support, candidates[0].support if candidates else 0)
    )
    return replace(
        evidence, candidates=(lead, *candidates), vectors=np.vstack([vector.reshape(1, -1), vectors]).astype(np.float32)
    )


def _sentence_candidate(evidence: Evidence, found: Read) -> Candidate | None:
    """The sentence of the passage that holds the span (a neighbour of a candidate), as a candidate of its own."""
    for start, end in evidence.spans[found.hit]:
        if start <= found.start and found.end <= end:
            text = evidence.hits[found.hit].text[start:end]
            return Candidate(found.hit, start, end, text, 0.0, 0.0, 0.0)
    return None

"""How an answer was reached, for a reader or a test to check: the query searched, the filters, every passage
considered with its dense, BM25, recency and fused scores, and why each quoted sentence was chosen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from ..answers import Citation, Conflict
from ..documents import Hit
from ..retrieve.timeframes import DateLike, parse_day, window_from_question
from .evidence import DENSE_WEIGHT, LEXICAL_WEIGHT, PASSAGE_WEIGHT, VALUE_WEIGHT, Candidate, Evidence

__all__ = ["build_trace"]


def build_trace(
    query: str,
    evidence: Evidence,
    citations: Sequence[Citation],
    conflicts: Sequence[Conflict] = (),
    *,
    abstained: bool,
    answerer: str,
    filters: dict[str, Any],
) -> dict[str, Any]:
    """A JSON-ready account of one answer (see :attr:`assistant.answers.Answer.trace`)."""
    hits = evidence.hits
    passages = []
    for rank, hit in enumerate(hits, 1):
        fused = hit.score / hit.recency if hit.recency else hit.score
        passages.append(
            {
                "rank": rank,
                "chunk_id": hit.chunk_id,
                "article_id": hit.article_id,
                "title": hit.title,
                "source": hit.source,
                "date": hit.date,
                "dense": _round(hit.dense),
                "bm25": _round(hit.bm25),
                "recency": _round(hit.recency),
                "fused": _round(fused),
                "score": _round(hit.score),
            }
        )
    rival = {c.citations[1] for c in conflicts if len(c.citations) > 1}
    by_place = {(hits[c.hit].chunk_id, c.start): (i, c) for i, c in enumerate(evidence.candidates)}
    sentences = []
    for citation in citations:
        hit_start = _hit_start(hits, citation)
        found = by_place.get((citation.chunk_id, hit_start)) if hit_start is not None else None
        entry: dict[str, Any] = {"citation": citation.number, "quote": citation.quote}
        if found is not None:
            rank, cand = found
            entry.update(_scores(cand), candidate_rank=rank + 1, passage_rank=cand.hit + 1)
        entry["reason"] = _reason(citation.number, found[0] if found else None, abstained, answerer, rival)
        sentences.append(entry)
    return {
        "query": query,
        "filters": {**filters, "question_window": _window(query, filters, hits)},
        "expected_value": evidence.wants,
        "weights": {"dense": DENSE_WEIGHT, "lexical": LEXICAL_WEIGHT, "passage": PASSAGE_WEIGHT, "value": VALUE_WEIGHT},
        "passages": passages,
        "candidates": [
            {"rank": i + 1, "passage_rank": c.hit + 1, "text": c.text, **_scores(c)}
            for i, c in enumerate(evidence.candidates)
        ],
        "sentences": sentences,
    }


def _scores(cand: Candidate) -> dict[str, Any]:
    return {
        "score": _round(cand.score),
        "support": _round(cand.support),
        "dense": _round(cand.dense),
        "lexical": _round(cand.lexical),
        "passage": _round(cand.passage),
        "value": _round(cand.value),
        "values": list(cand.values),
    }


def _reason(number: int, rank: int | None, abstained: bool, answerer: str, rival: set[int]) -> str:
    if abstained:
        return "closest passage shown while abstaining: no sentence supported an answer"
    if number in rival:
        return "states a different value than the lead sentence in a near-identical sentence: a disagreement"
    if answerer != "extractive":
        return f"cited by the {answerer} answer and checked against the excerpt"
    if rank == 0:
        return "lead: the highest-scoring sentence (meaning, question words, passage rank, value asked for)"
    return "within the margin of the lead's score and not a near-duplicate of a chosen sentence (MMR)"


def _hit_start(hits: Iterable[Hit], citation: Citation) -> int | None:
    """Where the quoted sentence starts in its passage (the evidence's coordinates)."""
    for hit in hits:
        if hit.chunk_id == citation.chunk_id:
            return citation.excerpt_start - hit.start + citation.span[0]
    return None


def _window(query: str, filters: dict[str, Any], hits: Sequence[Any]) -> dict[str, Any] | None:
    """The publication window the question's own words asked for ("this week"), and whether it was applied."""
    if filters.get("since") or filters.get("until"):
        return None
    as_of: DateLike = filters.get("as_of")
    day = parse_day(as_of, name="as_of", end=True) or dt.date.today()
    since = window_from_question(query, day)
    if since is None:
        return None
    dated = [hit.date for hit in hits if hit.date]
    applied = bool(dated) and all((parse_day(d, name="date") or since) >= since for d in dated)
    return {"since": since.isoformat(), "applied": applied}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)

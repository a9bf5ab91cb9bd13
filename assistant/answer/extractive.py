"""The offline answerer: a few verbatim sentences of the retrieved passages, each cited, with who said it and when.

Sentences are picked by maximal marginal relevance (relevant, and not saying the same thing twice), the best one
first. Two articles stating different values in near-identical sentences are both shown, as a disagreement, rather
than one being picked silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..answers import Citation, Conflict
from ..documents import Hit
from .evidence import Candidate, Evidence

_DUPLICATE = 0.92  # sentences this similar say the same thing; quoting both adds nothing
_CLOSEST = 3  # excerpts shown when abstaining

# What an abstaining answer says (the LLM is told its own words for it: see assistant.llm.answerer).
ABSTENTION = "The indexed articles don't answer this question."


@dataclass(frozen=True)
class Composition:
    """An answer's text, in the pieces it streams as, with the citations its markers refer to."""

    pieces: tuple[str, ...]
    citations: tuple[Citation, ...]
    conflicts: tuple[Conflict, ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        *,
        sentences: int = 3,
        mmr_lambda: float = 0.7,
        margin: float = 0.2,
        conflict_similarity: float = 0.75,
        excerpt_chars: int = 900,
    ) -> None:
        self.sentences = sentences
        self.mmr_lambda = mmr_lambda
        self.margin = margin
        self.conflict_similarity = conflict_similarity
        self.excerpt_chars = excerpt_chars

    def compose(self, evidence: Evidence) -> Composition:
        chosen = self._select(evidence)
        rival = self._rival(evidence, chosen[0])
        if rival is not None:
            chosen = [chosen[0], rival, *[i for i in chosen[1:] if i != rival][: max(0, self.sentences - 2)]]
        return self._write(evidence, chosen, rival)

    def disagreement(self, evidence: Evidence, first_number: int) -> Composition | None:
        """The lead sentence and a rival stating another value, numbered from ``first_number``; None if none.

        A generated answer states one value; this puts the disagreement beside it rather than hiding it.
        """
        rival = self._rival(evidence, 0) if evidence.candidates else None
        if rival is None:
            return None
        return self._write(evidence, [0, rival], rival, first_number)

    def _write(self, evidence: Evidence, chosen: list[int], rival: int | None, first_number: int = 1) -> Composition:
        cands = [evidence.candidates[i] for i in chosen]
        ordered = _reading_order(cands, evidence.hits)
        citations: list[Citation] = []
        pieces: list[str] = []
        number_of: dict[int, int] = {}
        if rival is not None:
            pieces.append("The sources disagree. ")
        last_article = None
        for cand in ordered:
            hit = evidence.hits[cand.hit]
            number = first_number + len(citations)
            number_of[id(cand)] = number
            citations.append(self.citation(number, hit, evidence.spans[cand.hit], (cand.start, cand.end), cand.score))
            if hit.article_id != last_article:
                lead = "" if not pieces or pieces[-1].endswith(" ") else "\n"
                pieces.append(f"{lead}{attribution(hit)}: ")
                last_article = hit.article_id
            pieces.append(f"{cand.text} [{number}] ")
        pieces[-1] = pieces[-1].rstrip()
        conflicts: tuple[Conflict, ...] = ()
        if rival is not None:
            first, second = evidence.candidates[chosen[0]], evidence.candidates[rival]
            conflicts = (
                Conflict(
                    (number_of[id(first)], number_of[id(second)]),
                    (", ".join(_only_in(first, second)), ", ".join(_only_in(second, first))),
                ),
            )
        return Composition(tuple(pieces), tuple(citations), conflicts)

    def abstain(self, evidence: Evidence, why: str | None = None) -> Composition:
        """Say the articles don't answer (and ``why``, when known), and point to the closest passages to judge."""
        pieces = [ABSTENTION + (f" {why}" if why else "")]
        citations: list[Citation] = []
        used: set[str] = set()
        for cand in evidence.candidates:
            hit = evidence.hits[cand.hit]
            if hit.article_id in used:
                continue  # one passage per article: the reader wants to see where else to look
            used.add(hit.article_id)
            number = len(citations) + 1
            citations.append(self.citation(number, hit, evidence.spans[cand.hit], (cand.start, cand.end), cand.score))
            if len(citations) == _CLOSEST:
                break
        if citations:
            closest = "; ".join(f"[{c.number}] {_describe(c)}" for c in citations)
            pieces.append(f" The closest passages found: {closest}.")
        return Composition(tuple(pieces), tuple(citations))

    def citation(
        self, number: int, hit: Hit, sentences: Sequence[tuple[int, int]], span: tuple[int, int], score: float
    ) -> Citation:
        """A citation of ``hit.text[span]``, with up to ``excerpt_chars`` of whole sentences around it."""
        start, end = excerpt_window(sentences, span, self.excerpt_chars)
        return Citation(
            number=number,
            chunk_id=hit.chunk_id,
            article_id=hit.article_id,
            title=hit.title,
            source=hit.source,
            date=hit.date,
            url=hit.url,
            excerpt=hit.text[start:end],
            excerpt_start=hit.start + start,
            span=(span[0] - start, span[1] - start),
            score=float(score),
        )

    # -- selection ---------------------------------------------------------------------------------------
    def _select(self, evidence: Evidence) -> list[int]:
        cands, vectors = evidence.candidates, evidence.vectors
        floor = cands[0].score - self.margin
        chosen = [0]
        while len(chosen) < self.sentences:
            best, best_value = None, -np.inf
            for i, cand in enumerate(cands):
                if cand.score < floor:
                    break  # ranked best first: nothing after this is close enough to the best
                if i in chosen:
                    continue
                similarity = float(np.max(vectors[chosen] @ vectors[i]))
                if similarity >= _DUPLICATE:
                    continue
                value = self.mmr_lambda * cand.score - (1 - self.mmr_lambda) * similarity
                if value > best_value:
                    best, best_value = i, value
            if best is None:
                break
            chosen.append(best)
        return chosen

    def _rival(self, evidence: Evidence, lead: int) -> int | None:
        """A near-identical sentence from another article that states a different value than the lead's."""
        cands, vectors = evidence.candidates, evidence.vectors
        first = cands[lead]
        if not first.values:
            return None
        article = evidence.hits[first.hit].article_id
        for i, cand in enumerate(cands):
            if cand.score < first.score - self.margin:
                break
            if i == lead or evidence.hits[cand.hit].article_id == article or not cand.values:
                continue
            if float(vectors[lead] @ vectors[i]) < self.conflict_similarity:
                continue
            if _only_in(first, cand) and _only_in(cand, first):
                return i
        return None


def _only_in(one: Candidate, other: Candidate) -> list[str]:
    """Values ``one`` states that ``other`` does not mention."""
    text = other.text.lower()
    return [value for value in one.values if value.lower() not in text]


def _reading_order(cands: list[Candidate], hits: Sequence[Hit]) -> list[Candidate]:
    """The lead sentence first; sentences of an article already quoted follow it, in the article's order."""
    groups: dict[str, list[Candidate]] = {}
    for cand in cands:
        groups.setdefault(hits[cand.hit].article_id, []).append(cand)
    ordered: list[Candidate] = []
    for members in groups.values():
        lead, rest = members[0], sorted(members[1:], key=lambda c: hits[c.hit].start + c.start)
        ordered.append(lead)
        ordered.extend(rest)
    return ordered


def excerpt_window(sentences: Sequence[tuple[int, int]], span: tuple[int, int], limit: int) -> tuple[int, int]:
    """Whole sentences around ``span``, alternately before and after it, while they fit in ``limit`` chars."""
    start, end = span
    before = [s for s in sentences if s[1] <= start][::-1]
    after = [s for s in sentences if s[0] >= end]
    grew = True
    while grew:
        grew = False
        for side in (after, before):
            if side:
                s = side[0]
                if max(end, s[1]) - min(start, s[0]) <= limit:
                    start, end = min(start, s[0]), max(end, s[1])
                    side.pop(0)
                    grew = True
    return start, end


def attribution(hit: Hit) -> str:
    """'According to <source>, <date>' as far as the article says who published it and when."""
    who = hit.source or (f"“{hit.title}”" if hit.title else "an untitled article")
    when = readable_date(hit.date)
    return f"According to {who}, {when}" if when else f"According to {who} (undated)"


def readable_date(value: str | None) -> str | None:
    """'2022-06-16' → 'June 16, 2022'; '2025-02' → 'February 2025'; anything else unchanged."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return f"{day:%B} {day.day}, {day.year}"
        if len(value) == 7:
            day = dt.date.fromisoformat(value + "-01")
            return f"{day:%B %Y}"
    except ValueError:
        pass
    return value


def _describe(citation: Citation) -> str:
    parts = [p for p in (citation.source, readable_date(citation.date)) if p]
    title = f"“{citation.title}”" if citation.title else "untitled"
    return f"{title} ({', '.join(parts)})" if parts else title

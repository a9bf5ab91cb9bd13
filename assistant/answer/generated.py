"""The LLM's answer: written from the best excerpts, streamed as it comes, checked against them once complete.

Its markers are renumbered by first use and cited; a short answer it proposes is kept only if a cited excerpt states
it. When the sources disagree, the disagreement is shown beside the model's one value. An endpoint that fails, or an
answer set aside, leaves the extractive answer in its place, saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, replace

from ..answers import Citation, ShortAnswer
from ..documents import Hit
from ..embed.base import Embedder
from ..errors import EndpointError
from ..llm.answerer import LLMAnswerer, Passage, RejectedAnswer
from ..llm.checking import Verification, check_answer
from ..text.citations import renumber
from .annotations import checked_short_answer
from .evidence import Evidence
from .extractive import Composition, ExtractiveAnswerer
from .steps import Draft, Drafting

__all__ = ["LLMWriter"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMWriter:
    """Writes with ``llm`` from the ``excerpts`` best passages; ``extractive`` quotes the fallback and disagreements,
    ``embedder`` checks the claims against the excerpts."""

    llm: LLMAnswerer
    extractive: ExtractiveAnswerer
    embedder: Embedder
    excerpts: int

    def write(self, query: str, evidence: Evidence, notice: str | None) -> Drafting:
        """The model's answer to ``query``, streamed as it comes; the draft is checked once it is complete."""
        hits = list(evidence.hits[: self.excerpts])
        passages = [Passage(i + 1, h.title, h.source, h.date, h.text) for i, h in enumerate(hits)]
        return Drafting(self._written(query, evidence, hits, passages, notice))

    def _written(
        self, query: str, evidence: Evidence, hits: list[Hit], passages: list[Passage], notice: str | None
    ) -> Generator[str, None, Draft]:
        produced: list[str] = []
        try:
            for piece in self.llm.generate(query, passages):
                produced.append(piece)
                yield piece
            if not "".join(produced).strip():
                raise EndpointError("the endpoint returned an empty answer")
        except EndpointError as exc:
            logger.warning("LLM answer failed, answering extractively: %s", exc)
            fallback = self.extractive.compose(evidence)
            yield ("\n\n" if produced else "") + f"[{_fallback_notice(exc)}]\n\n"
            yield from fallback.pieces
            return Draft(fallback, False, "extractive", _fallback_notice(exc))
        checked = check_answer("".join(produced), [p.text for p in passages], self.embedder)
        if checked.abstained:  # the model found no answer in the excerpts: show them as the closest ones
            closest = self.extractive.abstain(evidence)
            return Draft(Composition((checked.text,), closest.citations), True, self.llm.name, notice)
        composition, unsupported = self._cited(checked, hits, evidence)
        short = self._short(query, passages, composition, checked)
        # The model states one value; when the sources disagree, the disagreement is shown beside it.
        note = self.extractive.disagreement(evidence, len(composition.citations) + 1)
        if note is not None:
            yield "\n\n"
            yield from note.pieces
            composition = Composition(
                (*composition.pieces, "\n\n", *note.pieces),
                composition.citations + note.citations,
                note.conflicts,
            )
        return Draft(composition, False, self.llm.name, notice, unsupported, short)

    def _short(
        self, query: str, passages: list[Passage], composition: Composition, checked: Verification
    ) -> ShortAnswer | None:
        """The model's short answer, if a cited excerpt states it word for word; else the extractive one."""
        try:
            proposal = self.llm.short_answer(query, passages)
        except EndpointError as exc:
            logger.warning("the LLM gave no short answer: %s", exc)
            return None
        order = list(dict.fromkeys(number for claim in checked.claims for number in claim.cited))
        preferred = order.index(proposal[1]) + 1 if proposal and proposal[1] in order else None
        return checked_short_answer(proposal, composition.citations, preferred, self.llm.name, query)

    def _cited(self, checked: Verification, hits: list[Hit], evidence: Evidence) -> tuple[Composition, tuple[str, ...]]:
        """Renumber a verified LLM answer's markers 1..n by first use and build their citations."""
        order: list[int] = []
        for claim in checked.claims:
            for number in claim.cited:
                if number not in order:
                    order.append(number)
        numbers = {old: new for new, old in enumerate(order, 1)}
        text = renumber(checked.text, numbers)
        spans_of = {hit.chunk_id: spans for hit, spans in zip(evidence.hits, evidence.spans, strict=True)}
        citations: list[Citation] = []
        for old in order:
            hit = hits[old - 1]
            claims = [claim for claim in checked.claims if old in claim.cited]
            span = next((claim.spans[old] for claim in claims if old in claim.spans), (0, min(len(hit.text), 200)))
            citation = self.extractive.citation(numbers[old], hit, spans_of.get(hit.chunk_id, ()), span, hit.score)
            # Supported when every claim citing this excerpt is backed by it, not merely by another excerpt.
            supported = all(old in claim.supported_by for claim in claims if not claim.abstains)
            citations.append(citation if supported else replace(citation, supported=False))
        return Composition((text,), tuple(citations)), tuple(checked.unsupported)


def _fallback_notice(error: EndpointError) -> str:
    if isinstance(error, RejectedAnswer):  # the endpoint worked; its answer could not be trusted
        return f"The LLM's answer was set aside (it {error.problem}); this is the extractive answer instead."
    return f"The LLM endpoint failed ({error}); this is the extractive answer instead."

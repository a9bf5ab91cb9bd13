"""Answers across articles: a question that names several outlets, or one outlet's several reports, answered by
quoting each article it needs side by side, with its outlet and date, and a verdict only when the quotes carry one.

Each part of the question (:mod:`.parts`) is searched in its own outlet's articles (on the day the question gives
it, when it gives one), and its sentences are weighed twice: for what the question says of that outlet (its clause,
or another of the question's claims, whichever fits best) and for the whole question (outlets' names and words like
"report" left out). The sentence best on both, from an article no earlier part quoted, answers the part when its
support reaches :data:`PART_SUPPORT`. No part supported: the answer declines as the single-article one does.
Otherwise the quotes are written one per line ("According to <outlet>, <date>: … [n]"), the verdict (:mod:`.verdicts`)
first when there is one, and every part that found nothing, or that the quotes cannot decide, is named.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..answers import Citation, ShortAnswer
from ..documents import Hit
from ..retrieve.filters import Filters
from ..retrieve.retriever import Retriever
from ..retrieve.timeframes import parse_day
from ..text.terms import query_terms
from .evidence import SUPPORT_DENSE, SUPPORT_LEXICAL, Candidate, Evidence, gather, lexical_support, wanted_value
from .extractive import Composition, ExtractiveAnswerer, attribution, readable_date
from .parts import Part, Split, split_question
from .steps import Asked, Draft, Grounds, Retrieval
from .verdicts import Quoted, Verdict, decide

__all__ = ["PART_SUPPORT", "Across", "AcrossArticles", "Finding"]

# The support a part's best sentence needs to answer it (the larger of its support for the question and for what the
# question says of the part). Chosen by `python -m bench.multihop_rag --cross-validate` on MultiHop-RAG dev: 0.1 to
# 0.2 score within 0.005 of each other (answered 0.97, evidence quoted 0.78-0.79), and of equals the highest is
# kept; at 0.1 a null question gets answered, and from 0.25 fewer answerable parts are.
PART_SUPPORT = 0.2
PART_PASSAGES = 16  # passages searched per part: one outlet's articles, so the right one is rarely further down
PART_SENTENCES = 16  # sentences of a part's passages embedded and weighed (gather's candidates)
# A second article of the same outlet is quoted for a part when its sentence is this close to the best one's (the
# two supports summed): the question's clause often fits two reports, and the reader should see both. Chosen with
# PART_SUPPORT (0.03 scores above 0 at every bar).
SECOND_QUOTE_MARGIN = 0.03
MAX_QUOTES = 6


@dataclass(frozen=True)
class Finding:
    """What the index holds for one part: its quoted sentences (candidates of the merged evidence, best first), the
    support of the best, and whether that answers the part."""

    part: Part
    quotes: tuple[int, ...]
    support: float
    supported: bool


@dataclass(frozen=True)
class Across:
    """A question answered across articles: the evidence (every part's, merged) and the written draft."""

    grounds: Grounds
    draft: Draft
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class _Sentence:
    """A sentence found for a part: ``key`` ranks it (its support for the question plus its support for what the
    question says of the part); the candidate's ``support`` is the larger of the two."""

    key: float
    candidate: Candidate
    vector: np.ndarray
    article: str


@dataclass(frozen=True)
class _Found:
    """A part's passages and their sentences, best first (``candidate.hit`` indexes ``hits``)."""

    hits: tuple[Hit, ...] = ()
    spans: tuple[tuple[tuple[int, int], ...], ...] = ()
    sentences: tuple[_Sentence, ...] = ()


class AcrossArticles:
    """Answers the questions :func:`~.parts.split_question` splits; others are left to the single-article path."""

    def __init__(
        self,
        retriever: Retriever,
        extractive: ExtractiveAnswerer,
        *,
        support: float = PART_SUPPORT,
        second_margin: float = SECOND_QUOTE_MARGIN,
    ) -> None:
        self.retriever = retriever
        self.extractive = extractive
        self.support = support
        self.second_margin = second_margin

    def split(self, asked: Asked, filters: Filters, found: Retrieval) -> Split | None:
        """The question's parts when it is about several articles and this path can answer it (extractive, not a
        timeline, a question the model reads), else None."""
        if asked.answerer != "extractive" or asked.story or found.lexical:
            return None
        as_of = parse_day(filters.as_of, name="as_of", end=True) or dt.date.today()
        return split_question(asked.query, found.reader.sources(), as_of)

    def answer(self, asked: Asked, filters: Filters, found: Retrieval) -> Across | None:
        """The answer across the articles the question names, or None when it is about one article."""
        split = self.split(asked, filters, found)
        if split is None:
            return None
        claims = list(dict.fromkeys([split.content, *(part.clause for part in split.parts), *split.claims]))
        vectors = dict(zip(claims, self.retriever.embedder.embed(claims), strict=True))
        parts = [self._find(asked.query, part, split, vectors, filters, found) for part in split.parts]
        evidence, findings = self._choose(asked.query, split, parts)
        if any(f.supported for f in findings):
            draft = self._write(split, evidence, findings, asked.notice)
        else:
            draft = Draft(self.extractive.abstain(evidence), True, "extractive", asked.notice)
        return Across(Grounds(evidence, asked.notice), draft, tuple(findings))

    # -- searching and weighing each part ------------------------------------------------------------------------
    def _find(
        self,
        question: str,
        part: Part,
        split: Split,
        vectors: dict[str, np.ndarray],
        filters: Filters,
        found: Retrieval,
    ) -> _Found:
        """The part's sentences, each scored for the question (:func:`gather`: its content, without the outlets'
        names and the words that point at reports) and for what it says of the part (its own clause or another of
        its claims, whichever the sentence supports best)."""
        hits = self._search(question, part, filters, found)
        if not hits:
            return _Found()
        embedder, reader = self.retriever.embedder, found.reader
        asked = split.content
        evidence = gather(asked, hits, reader, embedder, candidates=PART_SENTENCES, query_vector=vectors[asked])
        if not evidence.candidates:
            return _Found(tuple(hits), evidence.spans)
        texts = [c.text for c in evidence.candidates]
        titles = [hits[c.hit].title for c in evidence.candidates]
        said = np.zeros(len(texts))
        for claim in dict.fromkeys([part.clause, *split.claims]):
            lexical = np.asarray(lexical_support(query_terms(claim), texts, reader, titles=titles))
            dense = np.clip(evidence.vectors @ vectors[claim], 0.0, None)
            said = np.maximum(said, SUPPORT_DENSE * dense + SUPPORT_LEXICAL * lexical)
        sentences = []
        for cand, vector, fit in zip(evidence.candidates, evidence.vectors, said.tolist(), strict=True):
            key = cand.support + fit
            scored = dataclasses.replace(cand, support=max(cand.support, fit), score=key / 2)
            sentences.append(_Sentence(key, scored, vector, hits[cand.hit].article_id))
        sentences.sort(key=lambda s: -s.key)
        return _Found(tuple(hits), evidence.spans, tuple(sentences))

    def _search(self, question: str, part: Part, filters: Filters, found: Retrieval) -> list[Hit]:
        """The part's outlet's passages for the question (within the caller's outlets, on the part's day if any)."""
        sources = part.outlets if not filters.sources else tuple(s for s in part.outlets if s in filters.sources)
        if not sources:
            return []
        scoped = dataclasses.replace(filters, sources=sources, k=PART_PASSAGES)
        search, reader = self.retriever.search_pinned, found.reader
        if part.day is not None:
            dated = dataclasses.replace(scoped, since=part.day, until=part.day)
            hits = search(reader, question, dated, vector=found.vector)
            if hits:
                return hits
        return search(reader, question, scoped, vector=found.vector)

    # -- choosing the quotes -----------------------------------------------------------------------------------
    def _choose(self, question: str, split: Split, parts: Sequence[_Found]) -> tuple[Evidence, list[Finding]]:
        """What each part found (its quotes, chosen in the question's order, each from an article no earlier part
        quoted when one supports it), and every part's sentences as one :class:`Evidence`, the quoted ones first."""
        pool = _Pool(parts)
        used: set[str] = set()
        findings: list[Finding] = []
        for part, found in zip(split.parts, parts, strict=True):
            chosen = self._quotes(found, used)
            best = chosen[0].candidate.support if chosen else 0.0
            supported = best >= self.support
            if supported:
                used.update(s.article for s in chosen)
            quotes = tuple(pool.add(found, s) for s in (chosen if supported else chosen[:1]))
            findings.append(Finding(part, quotes, best, supported))
        for found in parts:
            for sentence in found.sentences:
                pool.add(found, sentence)
        quoted = [q for f in findings if f.supported for q in f.quotes]
        evidence, renumber = pool.evidence(question, quoted)
        return evidence, [dataclasses.replace(f, quotes=tuple(renumber[q] for q in f.quotes)) for f in findings]

    def _quotes(self, found: _Found, used: set[str]) -> list[_Sentence]:
        """The part's best sentence from an article no earlier part quoted (or the best of all, when only an
        article already quoted supports the part), and a second article's when it is nearly as good."""
        ranked = list(found.sentences)
        fresh = [s for s in ranked if s.article not in used]
        if not fresh or fresh[0].candidate.support < self.support <= ranked[0].candidate.support:
            fresh = ranked
        if not fresh:
            return []
        first = fresh[0]
        second = next((s for s in fresh[1:] if s.article != first.article), None)
        near = second is not None and second.key >= first.key - self.second_margin
        if second is not None and near and second.candidate.support >= self.support:
            return [first, second]
        return [first]

    # -- writing -----------------------------------------------------------------------------------------------
    def _write(self, split: Split, evidence: Evidence, findings: Sequence[Finding], notice: str | None) -> Draft:
        """The quotes side by side, the verdict first when the quotes carry one, the parts left undecided last."""
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        lines: list[str] = []
        quoted: list[Quoted] = []
        for number, finding in enumerate(findings):
            if not finding.supported:
                continue
            for q in finding.quotes:
                cand = evidence.candidates[q]
                hit = evidence.hits[cand.hit]
                if q not in numbers and len(citations) < MAX_QUOTES:
                    numbers[q] = len(citations) + 1
                    span = (cand.start, cand.end)
                    citations.append(
                        self.extractive.citation(numbers[q], hit, evidence.spans[cand.hit], span, cand.score)
                    )
                    lines.append(f"{attribution(hit)}: {cand.text} [{numbers[q]}]")
                if q in numbers:
                    quoted.append(
                        Quoted(number, numbers[q], cand.text, hit.source, hit.date, citations[numbers[q] - 1])
                    )
        passages = [hit.text for hit in evidence.hits]
        verdict = decide(split, [f.supported for f in findings], quoted, passages)
        pieces = [f"{verdict.reason}\n"] if verdict is not None and verdict.reason else []
        pieces += [line + "\n" for line in lines]
        undecided = _undecided(split, findings, verdict)
        if undecided:
            pieces.append(undecided)
        pieces[-1] = pieces[-1].rstrip()
        short = _short(verdict, citations)
        return Draft(
            Composition(tuple(pieces), tuple(citations)), False, "extractive", notice, short_answer=short, direct=False
        )


class _Pool:
    """The parts' passages and sentences gathered into one :class:`Evidence` (each sentence once)."""

    def __init__(self, parts: Sequence[_Found]) -> None:
        self.hits: list[Hit] = []
        self.spans: list[tuple[tuple[int, int], ...]] = []
        self._at: dict[int, int] = {}  # chunk id → position in hits
        for found in parts:
            for hit, sentences in zip(found.hits, found.spans, strict=True):
                if hit.chunk_id not in self._at:
                    self._at[hit.chunk_id] = len(self.hits)
                    self.hits.append(hit)
                    self.spans.append(sentences)
        self.sentences: list[tuple[Candidate, np.ndarray]] = []
        self._index: dict[tuple[int, int], int] = {}

    def add(self, found: _Found, sentence: _Sentence) -> int:
        """The sentence's position in the pool, adding it the first time."""
        hit = self._at[found.hits[sentence.candidate.hit].chunk_id]
        key = (hit, sentence.candidate.start)
        if key not in self._index:
            self._index[key] = len(self.sentences)
            self.sentences.append((dataclasses.replace(sentence.candidate, hit=hit), sentence.vector))
        return self._index[key]

    def evidence(self, question: str, first: Sequence[int]) -> tuple[Evidence, dict[int, int]]:
        """The evidence, sentences ``first`` leading and the others by score; and each sentence's new position."""
        lead = list(dict.fromkeys(first))
        rest = sorted(set(range(len(self.sentences))) - set(lead), key=lambda i: -self.sentences[i][0].score)
        order = lead + rest
        vectors = np.vstack([self.sentences[i][1] for i in order]) if order else np.zeros((0, 0), dtype=np.float32)
        candidates = tuple(self.sentences[i][0] for i in order)
        evidence = Evidence(tuple(self.hits), candidates, vectors, wanted_value(question), tuple(self.spans))
        return evidence, {old: new for new, old in enumerate(order)}


def _short(verdict: Verdict | None, citations: Sequence[Citation]) -> ShortAnswer | None:
    """The verdict as the answer's direct answer: a span of its citation's excerpt (the sentence for yes/no)."""
    if verdict is None:
        return None
    citation = citations[verdict.citation - 1]
    span = verdict.span if verdict.span is not None else citation.span
    return ShortAnswer(verdict.text, verdict.kind, citation.number, span)


def _undecided(split: Split, findings: Sequence[Finding], verdict: Verdict | None) -> str:
    """What the answer could not find, part by part, and, without a verdict, which parts it could not decide."""
    said: list[str] = []
    for finding in findings:
        if not finding.supported:
            part = finding.part
            day = f" of {readable_date(part.day.isoformat())}" if part.day else ""
            said.append(f"Nothing in {part.named}’s reports{day} was found about “{_short_clause(part.clause)}”.")
    if verdict is not None or split.kind is None:
        return " ".join(said)
    found = _listed([f.part.named for f in findings if f.supported])
    missing = _listed([f.part.named for f in findings if not f.supported])
    if split.kind == "yes/no":
        said.append(
            f"No verdict: the quotes above are the closest {found} came to what the question says of them, and whether "
            "they bear it out could not be decided from them" + (f", nor without {missing}." if missing else ".")
        )
    else:
        said.append(
            f"No verdict: the quoted reports of {found} name no one answer in common, so it could not be decided."
        )
    return " ".join(said)


def _short_clause(clause: str, words: int = 18) -> str:
    cut = clause.split()
    return " ".join(cut[:words]) + ("…" if len(cut) > words else "")


def _listed(names: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"; "" for none."""
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""

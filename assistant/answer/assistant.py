"""Questions in, checked answers out: the assistant that retrieves, weighs the evidence, and answers or abstains.

assistant = Assistant.open("index")
answer = assistant.ask("How much is Alibaba investing in AI?")
follow_up = assistant.ask("What about Baidu?", history=[answer])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..answers import Answer, AnswerStream, Citation, ShortAnswer, TimelineEvent
from ..documents import Hit
from ..embed.base import Embedder
from ..errors import ConfigError, EndpointError
from ..retrieve.retriever import Retriever
from ..retrieve.timeframes import DateLike
from ..settings import ANSWERERS, Settings, get_settings
from ..text.citations import renumber
from ..text.cleaning import clean_question
from ..text.languages import language_name, question_language
from .annotations import annotate, checked_short_answer
from .conversation import Turn, as_turns, condense
from .evidence import Evidence, gather
from .extractive import Composition, ExtractiveAnswerer
from .timeline import TimelineBuilder, is_story_question

if TYPE_CHECKING:
    from ..llm.answerer import LLMAnswerer
    from ..llm.checking import Verification

logger = logging.getLogger(__name__)

# Opening passages of the best-ranked articles weighed beside the hits (see Retriever.leads and TITLE_CREDIT).
LEADS = 2
# Cleaning only shrinks a question, but padding can hide a short one in a long string: past this many times the
# limit it is refused before any pass over its characters.
_RAW_SLACK = 4
# A timeline reads more of the story than an answer does: more passages, more of their sentences scored.
_TIMELINE_PASSAGES = 24
_TIMELINE_SENTENCES = 48
_TIMELINE_RECENCY = 3.0  # the recency prior's half-life, times this: a story reaches back months, not weeks


class _Finish(Protocol):
    """How :meth:`Assistant.stream` turns a composition into the finished :class:`Answer`."""

    def __call__(
        self,
        composition: Composition,
        abstained: bool,
        name: str,
        *,
        notice: str | None = ...,
        unsupported: tuple[str, ...] = ...,
        short_answer: ShortAnswer | None = ...,
        timeline: tuple[TimelineEvent, ...] = ...,
    ) -> Answer: ...


class Assistant:
    """Answers questions from an index, citing the excerpts each claim comes from."""

    def __init__(
        self, retriever: Retriever, settings: Settings, llm: LLMAnswerer | None = None, answerer: str = "extractive"
    ) -> None:
        if _answerer(answerer) == "llm" and llm is None:
            raise ConfigError("the LLM answerer needs ASSISTANT_LLM_BASE_URL (an OpenAI-compatible endpoint)")
        self.retriever = retriever
        self.settings = settings
        self.llm = llm
        self.answerer = answerer
        self.extractive = ExtractiveAnswerer(
            sentences=settings.answer_sentences,
            mmr_lambda=settings.mmr_lambda,
            margin=settings.answer_margin,
            conflict_similarity=settings.conflict_similarity,
            excerpt_chars=settings.excerpt_chars,
        )

    @classmethod
    def open(
        cls,
        index_dir: str | Path | None = None,
        *,
        answerer: str | None = None,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        llm: LLMAnswerer | None = None,
    ) -> Assistant:
        """Open the index; ``answerer`` is "extractive" (default) or "llm" (the endpoint in the settings)."""
        settings = settings or get_settings()
        answerer = _answerer(answerer or settings.answerer)
        if llm is None and settings.llm_base_url:
            from ..llm.answerer import LLMAnswerer
            from ..llm.client import ChatClient

            client = ChatClient.from_settings(settings)
            llm = LLMAnswerer(client) if client is not None else None
        retriever = Retriever.open(index_dir, embedder=embedder, settings=settings)
        try:
            return cls(retriever, settings, llm, answerer)
        except BaseException:
            retriever.close()
            raise

    def close(self) -> None:
        self.retriever.close()
        if self.llm is not None:
            self.llm.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> bool:
        """Use the newest index generation if an update published one."""
        return self.retriever.refresh()

    def ask(self, question: str, history: Iterable[Any] = (), **options: Any) -> Answer:
        """Answer ``question``; see :meth:`stream` for the options."""
        return self.stream(question, history, **options).answer

    def stream(
        self,
        question: str,
        history: Iterable[Any] = (),
        *,
        as_of: DateLike = None,
        since: DateLike = None,
        until: DateLike = None,
        sources: Iterable[str] | None = None,
        k: int | None = None,
        answerer: str | None = None,
        timeline: bool | None = None,
        generation: int | None = None,
    ) -> AnswerStream:
        """Answer ``question`` as a stream of text; the stream's ``answer`` is the finished :class:`Answer`.

        ``history`` holds earlier turns (previous :class:`Answer` objects, or (question, answer) pairs), used to
        rewrite a follow-up into a standalone query. ``as_of``, ``since``, ``until`` and ``sources`` filter
        retrieval as in :meth:`Retriever.search`. ``answerer`` overrides the default for this question.
        ``timeline`` True answers with a dated timeline of the story, False never does, None (default) does when
        the question asks about a story ("What happened with ...?"). ``generation`` answers from that index
        generation while it is kept (a permalink's), else GenerationGoneError; None is the live one.
        """
        started = time.perf_counter()
        question = self._clean(question)
        use = _answerer(answerer or self.answerer)
        if use == "llm" and self.llm is None:
            raise ConfigError("no LLM endpoint is configured (set ASSISTANT_LLM_BASE_URL)")
        turns = as_turns(history)
        timings: dict[str, float] = {}
        query, default_notice = self._condense(question, turns, use)
        timings["condense"] = _ms(started)
        mark = time.perf_counter()
        retriever = self.retriever
        # One generation for the whole answer, even if an update is swapped in while it is being composed.
        reader = retriever.reader_for(generation)
        story = is_story_question(query) if timeline is None else timeline
        sources = sorted({s for s in sources or () if s}) or None
        filters = {"as_of": _iso(as_of), "since": _iso(since), "until": _iso(until), "sources": sources, "k": k}
        vector = retriever.embedder.embed([query])[0]  # once, for both retrieval and sentence scoring
        # A question the model cannot read (not English, English-only model) is answered from its words.
        lexical = retriever.leans_on_words(question)
        hits = retriever.search_pinned(
            reader,
            query,
            max(k or self.settings.k, _TIMELINE_PASSAGES) if story else k,
            as_of=as_of,
            since=since,
            until=until,
            sources=sources,
            vector=vector,
            lexical=lexical,
            recency=_TIMELINE_RECENCY if story else 1.0,  # a story's earlier reports matter too
        )
        hits = hits + retriever.leads(reader, hits, LEADS)
        timings["retrieve"] = _ms(mark)
        mark = time.perf_counter()
        candidates = max(self.settings.sentence_candidates, _TIMELINE_SENTENCES) if story else None
        evidence = gather(
            query,
            hits,
            reader,
            retriever.embedder,
            candidates=candidates or self.settings.sentence_candidates,
            query_vector=vector,
            lexical=lexical,
        )
        support = evidence.support
        if lexical:
            default_notice = _join(default_notice, _words_only(question, retriever.embedder.name))

        def finish(
            composition: Composition,
            abstained: bool,
            name: str,
            *,
            notice: str | None = default_notice,
            unsupported: tuple[str, ...] = (),
            short_answer: ShortAnswer | None = None,
            timeline: tuple[TimelineEvent, ...] = (),
        ) -> Answer:
            timings["answer"] = _ms(mark)
            notes = annotate(
                query,
                evidence,
                composition,
                self.settings,
                abstained=abstained,
                answerer=name,
                filters=filters,
                short=short_answer,
                timeline=bool(timeline),
            )
            timings["total"] = _ms(started)
            return Answer(
                question=question,
                query=query,
                text=composition.text,
                citations=composition.citations,
                abstained=abstained,
                answerer=name,
                support=support,
                conflicts=composition.conflicts,
                unsupported=unsupported,
                notice=notice,
                timings=timings,
                generation=reader.generation,
                short_answer=notes.short_answer,
                coverage=notes.coverage,
                timeline=timeline,
                trace=notes.trace,
            )

        if not evidence.candidates or support < self.settings.abstain_below:
            why = _unreadable(question, retriever.embedder.name) if lexical else None
            composition = self.extractive.abstain(evidence, why)
            return AnswerStream(iter(composition.pieces), lambda: finish(composition, True, "extractive"))
        if story:
            told, events = TimelineBuilder().compose(evidence, self.extractive)
            if events:
                return AnswerStream(iter(told.pieces), lambda: finish(told, False, "extractive", timeline=events))
        if use == "llm":
            return self._generate(evidence, query, finish)
        composition = self.extractive.compose(evidence)
        return AnswerStream(iter(composition.pieces), lambda: finish(composition, False, "extractive"))

    # -- steps --------------------------------------------------------------------------------------------
    def _clean(self, question: str) -> str:
        if not isinstance(question, str):
            raise ConfigError("the question must be text")
        limit = self.settings.max_question_chars
        if len(question) > limit * _RAW_SLACK:
            raise ConfigError(f"the question is {len(question)} characters long; the limit is {limit}")
        question = clean_question(question)
        if not question:
            raise ConfigError("the question is empty")
        if len(question) > limit:
            raise ConfigError(f"the question is {len(question)} characters long; the limit is {limit}")
        return question

    def _condense(self, question: str, turns: list[Turn], use: str) -> tuple[str, str | None]:
        if not turns:
            return question, None
        if use == "llm" and self.llm is not None:
            try:
                pairs = [(turn.question, turn.answer) for turn in turns[-3:]]
                return self.llm.condense(question, pairs), None
            except EndpointError as exc:
                logger.warning("condensing with the LLM failed, rewriting offline: %s", exc)
                notice = f"The LLM endpoint failed ({exc}); the follow-up was rewritten offline."
                return condense(question, turns), notice
        return condense(question, turns), None

    def _generate(self, evidence: Evidence, query: str, finish: _Finish) -> AnswerStream:
        from ..llm.answerer import Passage
        from ..llm.checking import check_answer

        assert self.llm is not None
        llm = self.llm  # the narrowing above does not reach into pieces()
        hits = list(evidence.hits[: self.settings.llm_excerpts])
        passages = [Passage(i + 1, h.title, h.source, h.date, h.text) for i, h in enumerate(hits)]
        produced: list[str] = []
        result: list[Answer] = []

        def pieces() -> Iterator[str]:
            try:
                for piece in llm.generate(query, passages):
                    produced.append(piece)
                    yield piece
                if not "".join(produced).strip():
                    raise EndpointError("the endpoint returned an empty answer")
            except EndpointError as exc:
                logger.warning("LLM answer failed, answering extractively: %s", exc)
                fallback = self.extractive.compose(evidence)
                yield ("\n\n" if produced else "") + f"[{_fallback_notice(exc)}]\n\n"
                yield from fallback.pieces
                result.append(finish(fallback, False, "extractive", notice=_fallback_notice(exc)))
                return
            checked = check_answer("".join(produced), [p.text for p in passages], self.retriever.embedder)
            if checked.abstained:  # the model found no answer in the excerpts: show them as the closest ones
                closest = self.extractive.abstain(evidence)
                result.append(finish(Composition((checked.text,), closest.citations), True, llm.name))
                return
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
            result.append(finish(composition, False, llm.name, unsupported=unsupported, short_answer=short))

        def done() -> Answer:
            return result[0]

        return AnswerStream(pieces(), done)

    def _short(
        self, query: str, passages: list[Any], composition: Composition, checked: Verification
    ) -> ShortAnswer | None:
        """The model's short answer, if a cited excerpt states it word for word; else the extractive one."""
        assert self.llm is not None
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


def _words_only(question: str, model: str) -> str:
    language = language_name(question_language(question))
    return (
        f"The question is in {language} and the embedding model ({model}) only understands English, so this "
        "answer rests on the words the question shares with the articles. A multilingual model can be set with "
        "ASSISTANT_MODEL."
    )


def _unreadable(question: str, model: str) -> str:
    language = language_name(question_language(question))
    return (
        f"The question is in {language}, which the embedding model ({model}) does not understand, so only its "
        "words were compared: asking in English may find the answer."
    )


def _join(first: str | None, second: str) -> str:
    return f"{first} {second}" if first else second


def _fallback_notice(error: object) -> str:
    from ..llm.answerer import RejectedAnswer

    if isinstance(error, RejectedAnswer):  # the endpoint worked; its answer could not be trusted
        return f"The LLM's answer was set aside (it {error.problem}); this is the extractive answer instead."
    return f"The LLM endpoint failed ({error}); this is the extractive answer instead."


def _answerer(name: str) -> str:
    """``name`` when it names an answerer; the one check, for settings, arguments and the page's choice alike."""
    if name not in ANSWERERS:
        raise ConfigError(f"unknown answerer {name!r}: use {' or '.join(repr(a) for a in ANSWERERS)}")
    return name


def _iso(value: DateLike) -> str | None:
    return None if value in (None, "") else str(value.isoformat() if hasattr(value, "isoformat") else value)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)

"""Questions in, checked answers out: the assistant that retrieves, weighs the evidence, and answers or abstains.

assistant = Assistant.open("index")
answer = assistant.ask("How much is Alibaba investing in AI?")
follow_up = assistant.ask("What about Baidu?", history=[answer])

:meth:`Assistant.stream` is five steps, each handing the next a frozen value (:mod:`.steps`): resolve the question
in its conversation, retrieve, weigh the evidence, write (quoted sentences, a timeline, or the LLM's answer:
:mod:`.generated`), and finish the draft into the :class:`Answer` once its pieces are read.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..answers import Answer, AnswerStream
from ..embed.base import Embedder
from ..embed.factory import is_multilingual
from ..errors import ConfigError, EndpointError, ModelError
from ..retrieve.filters import Filters
from ..retrieve.retriever import Retriever
from ..retrieve.timeframes import DateLike
from ..settings import ANSWERERS, Settings, get_settings
from ..text.cleaning import clean_question
from ..text.languages import language_name, question_language
from .across import AcrossArticles
from .conversation import Turn, as_turns, condense
from .evidence import Evidence, gather
from .expectation import expected_kind
from .extractive import ExtractiveAnswerer
from .foreign import foreign_match, quote_foreign
from .reading import Read, SpanReader, read_evidence, reader_short_answer
from .steps import Answering, Asked, Draft, Drafting, Grounds, Laps, Retrieval, finish
from .timeline import TimelineBuilder, is_story_question

if TYPE_CHECKING:
    from ..llm.answerer import LLMAnswerer

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


class Assistant:
    """Answers questions from an index, citing the excerpts each claim comes from."""

    def __init__(
        self,
        retriever: Retriever,
        settings: Settings,
        llm: LLMAnswerer | None = None,
        answerer: str = "extractive",
        reader: SpanReader | None = None,
    ) -> None:
        if _answerer(answerer) == "llm" and llm is None:
            raise ConfigError("the LLM answerer needs ASSISTANT_LLM_BASE_URL (an OpenAI-compatible endpoint)")
        self.retriever = retriever
        self.settings = settings
        self.llm = llm
        self.answerer = answerer
        self._reader = reader  # the shipped reader is loaded at the first question that needs it
        self._reader_failed = False  # told once: answer-type rules pick direct answers then
        self.extractive = ExtractiveAnswerer(
            sentences=settings.answer_sentences,
            mmr_lambda=settings.mmr_lambda,
            margin=settings.answer_margin,
            conflict_similarity=settings.conflict_similarity,
            excerpt_chars=settings.excerpt_chars,
        )
        self.across = AcrossArticles(  # questions about several articles
            retriever, self.extractive, support=settings.part_support, second_margin=settings.second_quote_margin
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
        reader: SpanReader | None = None,
    ) -> Assistant:
        """Open the index; ``answerer`` is "extractive" (default) or "llm" (the endpoint in the settings).

        ``reader`` replaces the shipped reader model (``settings.reader`` off: none is used)."""
        settings = settings or get_settings()
        answerer = _answerer(answerer or settings.answerer)
        if llm is None and settings.llm_base_url:
            from ..llm.answerer import LLMAnswerer
            from ..llm.client import ChatClient

            client = ChatClient.from_settings(settings)
            llm = LLMAnswerer(client) if client is not None else None
        retriever = Retriever.open(index_dir, embedder=embedder, settings=settings)
        try:
            return cls(retriever, settings, llm, answerer, reader)
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
        filters: Filters | None = None,
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
        rewrite a follow-up into a standalone query. ``filters`` (a :class:`Filters`: as of, since, until,
        sources, k; or the same given one by one) filter retrieval as in :meth:`Retriever.search`. ``answerer``
        overrides the default for this question. ``timeline`` True answers with a dated timeline of the story,
        False never does, None (default) does when the question asks about a story ("What happened with ...?").
        ``generation`` answers from that index generation while it is kept (a permalink's), else
        GenerationGoneError; None is the live one.
        """
        started = time.perf_counter()
        filters = Filters.given(filters, as_of=as_of, since=since, until=until, sources=sources, k=k)
        asked = self._resolve(question, history, answerer, timeline)
        resolved = time.perf_counter()
        found = self._retrieve(asked, filters, generation)
        retrieved = time.perf_counter()
        across = self.across.answer(asked, filters, found)  # None: the question is about one article
        grounds = across.grounds if across else self._weigh(asked, found)
        written = across.draft if across else self._write(asked, grounds)
        laps = Laps(started, resolved, retrieved)
        return self._finish(written, Answering(asked, filters, grounds.evidence, found.reader.generation, laps))

    # -- steps --------------------------------------------------------------------------------------------
    def _resolve(self, question: str, history: Iterable[Any], answerer: str | None, timeline: bool | None) -> Asked:
        """The question cleaned and, when it follows up earlier turns, rewritten to stand alone."""
        question = self._clean(question)
        use = _answerer(answerer or self.answerer)
        if use == "llm" and self.llm is None:
            raise ConfigError("no LLM endpoint is configured (set ASSISTANT_LLM_BASE_URL)")
        query, notice = self._condense(question, as_turns(history), use)
        story = is_story_question(query) if timeline is None else timeline
        return Asked(question, query, use, story, notice)

    def _clean(self, question: str) -> str:
        """The question without its control and invisible characters; ConfigError if none is left or too many."""
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
        """The query standing alone (the LLM rewrites a follow-up when it answers) and why it was rewritten offline."""
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

    def _retrieve(self, asked: Asked, filters: Filters, generation: int | None) -> Retrieval:
        """The passages for the query and the opening passages of the best articles, from one index generation."""
        retriever = self.retriever
        # One generation for the whole answer, even if an update is swapped in while it is being composed.
        reader = retriever.reader_for(generation)
        vector = retriever.embedder.embed([asked.query])[0]  # once, for both retrieval and sentence scoring
        # A question the model cannot read (not English, English-only model) is answered from its words.
        lexical = retriever.leans_on_words(asked.question)
        if asked.story:  # a timeline reads more passages than an answer
            filters = dataclasses.replace(filters, k=max(filters.k or self.settings.k, _TIMELINE_PASSAGES))
        hits = retriever.search_pinned(
            reader,
            asked.query,
            filters,
            vector=vector,
            lexical=lexical,
            recency=_TIMELINE_RECENCY if asked.story else 1.0,  # a story's earlier reports matter too
        )
        return Retrieval(reader, tuple(hits + retriever.leads(reader, hits, LEADS)), vector, lexical)

    def _weigh(self, asked: Asked, found: Retrieval) -> Grounds:
        """Every sentence of the passages scored for the query: the evidence the answer is written from."""
        candidates = max(self.settings.sentence_candidates, _TIMELINE_SENTENCES) if asked.story else None
        evidence = gather(
            asked.query,
            found.hits,
            found.reader,
            self.retriever.embedder,
            candidates=candidates or self.settings.sentence_candidates,
            query_vector=found.vector,
            lexical=found.lexical,
        )
        if not found.lexical:
            evidence, read = self._read(asked, evidence)
            return Grounds(evidence, asked.notice, read=read)
        model = self.retriever.embedder.name
        return Grounds(
            evidence, _join(asked.notice, _words_only(asked.question, model)), _unreadable(asked.question, model)
        )

    def _read(self, asked: Asked, evidence: Evidence) -> tuple[Evidence, Read | None]:
        """The reader's answering sentence put first, and its span, for a question it can answer with one."""
        kind = expected_kind(asked.query)
        reads = asked.answerer == "extractive" and not asked.story and kind != "yes/no"
        if not reads or not evidence.candidates or evidence.support < self.settings.abstain_below:
            return evidence, None
        reader = self._span_reader()
        if reader is None:
            return evidence, None
        settings = self.settings
        return read_evidence(
            reader,
            asked.query,
            evidence,
            self.retriever.embedder,
            windows=settings.reader_windows,
            threshold=settings.reader_confidence,
        )

    def _span_reader(self) -> SpanReader | None:
        """The reader the answers use: the one given, else the shipped model (None when the settings turn it off)."""
        if not self.settings.reader:
            return None
        if self._reader is None and not self._reader_failed:
            from ..reader.model import Reader

            try:
                settings = self.settings
                backend = "torch" if settings.embed_backend == "torch" else "openvino"
                threads = settings.query_threads or 1
                self._reader = Reader.load(backend=backend, cache=settings.cache_dir, threads=threads)
            except ModelError as exc:
                self._reader_failed = True
                logger.warning("the reader model cannot be loaded, answer-type rules pick direct answers: %s", exc)
        return self._reader

    def _write(self, asked: Asked, grounds: Grounds) -> Draft | Drafting:
        """The answer: an abstention when nothing supports one, else a timeline, the LLM's or quoted sentences."""
        evidence, notice = grounds.evidence, grounds.notice
        if not evidence.candidates or evidence.support < self.settings.abstain_below:
            foreign = self._foreign(asked, evidence)
            if foreign is not None:
                quoted = quote_foreign(self.extractive, evidence, *foreign)
                return Draft(quoted, False, "extractive", notice, direct=False)
            return Draft(self.extractive.abstain(evidence, grounds.unreadable), True, "extractive", notice)
        if asked.story:
            told, events = TimelineBuilder().compose(evidence, self.extractive)
            if events:
                return Draft(told, False, "extractive", notice, timeline=events)
        if asked.answerer == "llm":
            from .generated import LLMWriter

            assert self.llm is not None
            writer = LLMWriter(self.llm, self.extractive, self.retriever.embedder, self.settings.llm_excerpts)
            return writer.write(asked.query, evidence, notice)
        composition = self.extractive.compose(evidence)
        read = grounds.read
        short = None
        if read is not None and read.shown:
            kind = expected_kind(asked.query) or "thing"
            short = reader_short_answer(read, evidence, composition.citations, kind)
        return Draft(composition, False, "extractive", notice, short_answer=short, read=read)

    def _foreign(self, asked: Asked, evidence: Evidence) -> tuple[int, str] | None:
        """The leading passage in a language the (English-only) model cannot read, when it names what is asked."""
        if asked.answerer != "extractive" or is_multilingual(self.retriever.embedder, self.settings):
            return None
        return foreign_match(asked.question, evidence)

    def _finish(self, written: Draft | Drafting, answering: Answering) -> AnswerStream:
        """The answer's pieces as they come; once they are read, the :class:`Answer` (annotated and timed then)."""
        if isinstance(written, Draft):
            return AnswerStream(iter(written.composition.pieces), lambda: finish(written, answering, self.settings))
        return AnswerStream(written.pieces(), lambda: finish(written.draft(), answering, self.settings))


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


def _answerer(name: str) -> str:
    """``name`` when it names an answerer; the one check, for settings, arguments and the page's choice alike."""
    if name not in ANSWERERS:
        raise ConfigError(f"unknown answerer {name!r}: use {' or '.join(repr(a) for a in ANSWERERS)}")
    return name

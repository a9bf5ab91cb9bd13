"""What the steps of :meth:`Assistant.stream <assistant.answer.assistant.Assistant.stream>` hand each other, and the
last step, which turns the draft into the :class:`~assistant.answers.Answer`.

resolve the question (:class:`Asked`) → retrieve (:class:`Retrieval`) → weigh the evidence (:class:`Grounds`) →
write (a :class:`Draft`, or a :class:`Drafting` while an LLM writes) → :func:`finish`, with the caller's
:class:`Filters` and the :class:`Laps` each step took.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np

from ..answers import Answer, ShortAnswer, TimelineEvent
from ..documents import Hit
from ..index.store import StoreReader
from ..retrieve.filters import Filters
from ..settings import Settings
from .annotations import annotate
from .evidence import Evidence
from .extractive import Composition
from .reading import Read

__all__ = ["Answering", "Asked", "Draft", "Drafting", "Grounds", "Laps", "Retrieval", "finish"]


@dataclass(frozen=True)
class Asked:
    """The question, resolved in its conversation."""

    question: str  # as asked, cleaned
    query: str  # what is searched: the question rewritten to stand alone when it follows up earlier turns
    answerer: str  # who writes the answer: "extractive" or "llm"
    story: bool  # whether to answer with a timeline of the story, when one can be told
    notice: str | None = None  # why the follow-up was rewritten offline (the LLM failed at it)


@dataclass(frozen=True)
class Retrieval:
    """The passages found for the query, all from the index generation ``reader`` holds."""

    reader: StoreReader
    hits: tuple[Hit, ...]  # the ranked passages, then the opening passages of the best-ranked articles
    vector: np.ndarray  # the query's embedding, for retrieval and sentence scoring alike
    lexical: bool  # ranked on the question's words: the model cannot read its language


@dataclass(frozen=True)
class Grounds:
    """The evidence an answer is written from, and what the answer says of how it was reached."""

    evidence: Evidence
    notice: str | None = None
    unreadable: str | None = None  # why abstaining may be the language's fault: the model could not read it
    read: Read | None = None  # the reader's best span, when the reader read the evidence


@dataclass(frozen=True)
class Draft:
    """A written answer, before it is annotated and timed: its composition and who wrote it."""

    composition: Composition
    abstained: bool
    answerer: str
    notice: str | None = None
    unsupported: tuple[str, ...] = ()  # a generated answer's claims no excerpt backs
    short_answer: ShortAnswer | None = None  # the model's short answer, checked against the cited excerpts
    timeline: tuple[TimelineEvent, ...] = ()
    read: Read | None = None  # the reader's best span: its short answer, or the one it held back
    direct: bool = True  # whether a direct answer may be picked (not from an article the model cannot read)


class Drafting:
    """A draft as it is written (an LLM's tokens): :meth:`pieces` streams it, :meth:`draft` is what it came to."""

    def __init__(self, writing: Generator[str, None, Draft]) -> None:
        self._writing = writing
        self._draft: Draft | None = None

    def pieces(self) -> Iterator[str]:
        self._draft = yield from self._writing

    def draft(self) -> Draft:
        """The finished draft; IndexError when the pieces were not read to their end (the stream was closed)."""
        if self._draft is None:
            raise IndexError("the answer was not written to its end")
        return self._draft


@dataclass(frozen=True)
class Laps:
    """When answering started, the question was resolved and the passages were retrieved (perf_counter seconds)."""

    started: float
    resolved: float
    retrieved: float

    def timings(self, answered: float, finished: float) -> dict[str, float]:
        """An answer's timings in milliseconds: written (weighing included) by ``answered``, finished by
        ``finished``."""
        return {
            "condense": _ms(self.started, self.resolved),
            "retrieve": _ms(self.resolved, self.retrieved),
            "answer": _ms(self.retrieved, answered),
            "total": _ms(self.started, finished),
        }


@dataclass(frozen=True)
class Answering:
    """One question being answered: what its :class:`~assistant.answers.Answer` records besides the draft."""

    asked: Asked
    filters: Filters
    evidence: Evidence
    generation: int  # the index generation every excerpt came from
    laps: Laps


def finish(draft: Draft, answering: Answering, settings: Settings) -> Answer:
    """The :class:`~assistant.answers.Answer` of ``draft``: annotated (short answer, coverage, trace) and timed."""
    answered = time.perf_counter()
    asked, evidence, composition = answering.asked, answering.evidence, draft.composition
    notes = annotate(
        asked.query,
        evidence,
        composition,
        settings,
        abstained=draft.abstained,
        answerer=draft.answerer,
        filters=answering.filters.record(),
        short=draft.short_answer,
        timeline=bool(draft.timeline),
        rules=draft.read is None and draft.direct,
    )
    timings = answering.laps.timings(answered, time.perf_counter())
    return Answer(
        question=asked.question,
        query=asked.query,
        text=composition.text,
        citations=composition.citations,
        abstained=draft.abstained,
        answerer=draft.answerer,
        support=evidence.support,
        conflicts=composition.conflicts,
        unsupported=draft.unsupported,
        notice=draft.notice,
        timings=timings,
        generation=answering.generation,
        short_answer=notes.short_answer,
        coverage=notes.coverage,
        timeline=draft.timeline,
        trace=notes.trace,
        held_back=_held_back(draft, notes.short_answer),
    )


def _held_back(draft: Draft, short: ShortAnswer | None) -> float | None:
    """The reader's confidence when it read the evidence and held its span back (under the bar)."""
    if draft.read is None or draft.read.shown or short is not None or draft.abstained:
        return None
    return draft.read.confidence


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 2)

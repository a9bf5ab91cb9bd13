"""What an answer is: its text, the numbered excerpts it cites, and how it was reached."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A numbered excerpt an answer points to with ``[number]``.

    ``excerpt`` is verbatim text of the retrieved chunk ``chunk_id``; it starts at ``excerpt_start`` in the
    article's text. ``span`` is the part of the excerpt that supports the claim: ``excerpt[span[0]:span[1]]``.
    ``supported`` is False when a generated sentence cites this excerpt but the excerpt does not back it.
    """

    number: int
    chunk_id: int
    article_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None
    excerpt: str
    excerpt_start: int
    span: tuple[int, int]
    score: float = 0.0
    supported: bool = True

    @property
    def quote(self) -> str:
        return self.excerpt[self.span[0] : self.span[1]]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["span"] = list(self.span)
        data["quote"] = self.quote
        return data


@dataclass(frozen=True)
class Conflict:
    """Cited excerpts that give different values for what looks like the same fact."""

    citations: tuple[int, ...]
    values: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"citations": list(self.citations), "values": list(self.values)}


@dataclass(frozen=True)
class ShortAnswer:
    """The direct answer to a question, a span of one cited excerpt: ``citation``'s ``excerpt[span[0]:span[1]]``.

    ``kind`` is the type of answer the question expects (amount, number, date, person, organisation, place, yes/no,
    thing). For yes/no questions ``text`` is "Yes" or "No" and ``span`` is the sentence that says so. ``method`` is
    "extractive" (answer-type rules), "reader" (the reader model, :mod:`assistant.reader`) or the LLM that proposed
    it (always checked against the excerpt). ``confidence`` is the reader's calibrated confidence (None for others).
    """

    text: str
    kind: str
    citation: int
    span: tuple[int, int]
    method: str = "extractive"
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["span"] = list(self.span)
        return data


@dataclass(frozen=True)
class Coverage:
    """Which reporting an answer rests on: how many articles and outlets, over which days, and who disagrees.

    ``line`` is the one-line summary shown under an answer. ``disagreements`` pairs citation numbers whose
    excerpts state different values (the answer's conflicts).
    """

    articles: int
    outlets: tuple[str, ...]
    first: str | None
    last: str | None
    latest_source: str | None
    latest_date: str | None
    line: str
    disagreements: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outlets"] = list(self.outlets)
        data["disagreements"] = [list(pair) for pair in self.disagreements]
        return data


@dataclass(frozen=True)
class TimelineEvent:
    """One dated event of a story, quoted from ``citation``; ``outlets`` are every outlet that reported it."""

    date: str | None
    text: str
    citation: int
    source: str | None
    outlets: tuple[str, ...] = ()
    also: tuple[int, ...] = ()  # citations of the same event in other articles

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outlets"] = list(self.outlets)
        data["also"] = list(self.also)
        return data


@dataclass(frozen=True)
class Answer:
    """The reply to one question.

    ``text`` carries inline markers ``[n]`` that refer to ``citations``. When ``abstained`` is True, the text says
    the articles do not answer the question and the citations are the closest excerpts found, not support.
    ``query`` is the standalone question actually searched (a follow-up is rewritten using the history).
    ``timings`` are milliseconds: ``retrieve``, ``answer``, ``total``. ``generation`` is the index generation
    every excerpt came from. ``short_answer`` is the direct answer (a span of a cited excerpt, or None when none
    can be found without guessing); ``coverage`` summarises the reporting behind it; ``timeline`` holds the dated
    events when the question is about a story; ``trace`` says how the answer was reached (query, filters, the
    passages considered with their scores, why each quoted sentence was chosen). ``held_back`` is the reader's
    confidence in the direct answer it did not show, being below the confidence the settings ask for.
    """

    question: str
    query: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    answerer: str
    support: float = 0.0
    conflicts: tuple[Conflict, ...] = ()
    unsupported: tuple[str, ...] = ()
    notice: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    generation: int = 0
    short_answer: ShortAnswer | None = None
    coverage: Coverage | None = None
    timeline: tuple[TimelineEvent, ...] = ()
    trace: dict[str, Any] | None = None
    held_back: float | None = None

    @property
    def held_back_line(self) -> str | None:
        """What the page and the CLI say when the reader held back a direct answer."""
        if self.held_back is None:
            return None
        return (
            f"No direct answer: the reader is {self.held_back:.0%} sure of its best guess, below what it needs to "
            "show one. Read the quoted sentences."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "text": self.text,
            "abstained": self.abstained,
            "answerer": self.answerer,
            "support": self.support,
            "citations": [citation.to_dict() for citation in self.citations],
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
            "unsupported": list(self.unsupported),
            "notice": self.notice,
            "timings": dict(self.timings),
            "generation": self.generation,
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
            "coverage": self.coverage.to_dict() if self.coverage else None,
            "timeline": [event.to_dict() for event in self.timeline],
            "trace": self.trace,
            "held_back": self.held_back,
        }


class AnswerStream:
    """Text of an answer as it is produced; ``answer`` is the finished :class:`Answer`.

    Iterate for the pieces of text (an LLM's tokens, or an extractive answer's sentences). A generated answer is
    checked only once it is complete, so ``answer.text`` can differ from the streamed text (bad markers removed).
    """

    def __init__(self, pieces: Iterator[str], finish: Callable[[], Answer]) -> None:
        self._pieces = pieces
        self._finish = finish
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        yield from self._pieces
        if self._answer is None:
            self._answer = self._finish()

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:  # drain whatever the caller did not read
                pass
        assert self._answer is not None
        return self._answer

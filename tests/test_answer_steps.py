"""The steps of Assistant.stream that need no index: the filters as one value, the timings, the finishing step, and a
draft written as it streams."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator

import numpy as np
import pytest

from assistant import ConfigError, Filters
from assistant.answer.evidence import Evidence
from assistant.answer.extractive import ABSTENTION, Composition
from assistant.answer.steps import Answering, Asked, Draft, Drafting, Laps, finish
from assistant.settings import Settings


def test_filters_name_each_outlet_once_in_order_and_none_when_they_name_none() -> None:
    assert Filters.of(sources=["reuters", "", "ap", "reuters"]).sources == ("ap", "reuters")
    assert Filters.of(sources=(s for s in ["bbc"])).sources == ("bbc",)  # read once, whatever the iterable
    assert Filters.of(sources=[]).sources is None
    assert Filters.of(sources=[""]).sources is None
    assert Filters.of() == Filters()


def test_the_trace_records_the_filters_as_json() -> None:
    filters = Filters.of(
        as_of=dt.date(2025, 3, 1), since="2025-01", until=dt.datetime(2025, 2, 1, 12, 30), sources=["b", "a"], k=4
    )
    assert filters.record() == {
        "as_of": "2025-03-01",
        "since": "2025-01",
        "until": "2025-02-01T12:30:00",
        "sources": ["a", "b"],
        "k": 4,
    }
    assert Filters.of(as_of="").record() == {"as_of": None, "since": None, "until": None, "sources": None, "k": None}


def test_laps_become_timings_in_milliseconds_in_the_order_of_the_steps() -> None:
    timings = Laps(started=10.0, resolved=10.0125, retrieved=10.25).timings(answered=10.5, finished=10.75)
    assert list(timings) == ["condense", "retrieve", "answer", "total"]
    assert timings == {"condense": 12.5, "retrieve": 237.5, "answer": 250.0, "total": 750.0}


def empty_evidence() -> Evidence:
    return Evidence(hits=(), candidates=(), vectors=np.zeros((0, 0), dtype=np.float32), wants=None, spans=())


def test_finishing_an_abstention_records_the_draft_the_question_and_the_filters() -> None:
    started = time.perf_counter()
    asked = Asked("how much did alibaba invest?", "How much did Alibaba invest?", "extractive", story=False)
    filters = Filters.of(as_of="2030-01-01", sources=["b", "a"])
    draft = Draft(Composition((ABSTENTION,), ()), True, "extractive", notice="Said so.")
    answering = Answering(asked, filters, empty_evidence(), 7, Laps(started, started, started))
    answer = finish(draft, answering, Settings(progress=False))
    assert (answer.question, answer.query, answer.text) == (asked.question, asked.query, ABSTENTION)
    assert answer.abstained and answer.answerer == "extractive" and answer.notice == "Said so."
    assert answer.generation == 7 and answer.support == 0.0 and answer.citations == ()
    assert answer.short_answer is None and answer.coverage is None and answer.timeline == ()  # abstained: none
    assert list(answer.timings) == ["condense", "retrieve", "answer", "total"]
    assert 0 <= answer.timings["answer"] <= answer.timings["total"]
    assert answer.trace is not None
    assert answer.trace["query"] == asked.query
    assert answer.trace["filters"] == {**filters.record(), "question_window": None}


def writing(pieces: list[str], draft: Draft) -> Generator[str, None, Draft]:
    yield from pieces
    return draft


def test_a_draft_written_as_it_streams_is_there_once_its_pieces_are_read() -> None:
    draft = Draft(Composition(("An answer [1].",), ()), False, "llm:model")
    drafting = Drafting(writing(["An ", "answer ", "[1]."], draft))
    assert list(drafting.pieces()) == ["An ", "answer ", "[1]."]
    assert drafting.draft() is draft


def test_a_draft_whose_stream_was_closed_early_is_not_there() -> None:
    drafting = Drafting(writing(["An ", "answer"], Draft(Composition(("An answer",), ()), False, "llm:model")))
    pieces = drafting.pieces()
    assert next(pieces) == "An "
    pieces.close()
    with pytest.raises(IndexError):
        drafting.draft()


def test_filters_come_as_one_value_or_one_by_one_never_both() -> None:
    import pytest

    chosen = Filters(as_of="2024-06-01", sources=("AP",), k=3)
    assert Filters.given(chosen) is chosen
    assert Filters.given(None, as_of="2024-06-01", sources=["AP"], k=3) == chosen
    assert Filters.given(None) == Filters()
    with pytest.raises(ConfigError, match="not both"):
        Filters.given(chosen, since="2024-01-01")

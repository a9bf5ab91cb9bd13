"""Answers made for news: the direct answer first, the coverage line, timelines, pinned generations and the trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BRIDGE_REPORTS, SEED_QUESTION, write_jsonl

from assistant import build_index, update_index
from assistant.answer.assistant import Assistant
from assistant.answer.coverage import coverage_of, date_range, short_date
from assistant.answer.expectation import expected_kind
from assistant.answer.short import short_answer
from assistant.answer.timeline import events_in_order, is_story_question
from assistant.answers import Citation, Conflict
from assistant.errors import GenerationGoneError
from assistant.settings import Settings


def cite(number: int, sentence: str, *, before: str = "Earlier text. ", title: str = "A story", **meta) -> Citation:
    """A citation whose excerpt holds ``sentence`` after some other text, as real excerpts do."""
    excerpt = before + sentence + " Later text."
    start = len(before)
    return Citation(
        number=number,
        chunk_id=number,
        article_id=meta.get("article_id", f"art-{number}"),
        title=title,
        source=meta.get("source", "Wire"),
        date=meta.get("date", "2025-03-01"),
        url=None,
        excerpt=excerpt,
        excerpt_start=0,
        span=(start, start + len(sentence)),
    )


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much did Alibaba invest in AI in the first half of last year?", "amount"),
        ("How many hot dogs did Joey Chestnut eat?", "number"),
        ("What percentage of adults disapprove?", "number"),
        ("When are loan payments set to restart?", "date"),
        ("Which automaker recalled 2.9 million vehicles this week?", "organisation"),
        ("Which country elected its first leftist leader?", "place"),
        ("Dozens were missing after severe flooding in which state?", "place"),
        ("Who won the 2022 Stanley Cup?", "person"),
        ("Vin Scully died this week. Which team did he call games for?", "organisation"),
        ("The drone strike killed a terrorist, who was associated with which group?", "organisation"),
        ("Which show received the most Emmy nominations?", "thing"),
        ("Did Alibaba invest in AI last year?", "yes/no"),
        ("Why were some SUVs recalled?", None),
        ("What about Baidu?", None),
    ],
)
def test_the_expected_kind_of_answer(question: str, kind: str | None) -> None:
    assert expected_kind(question) == kind


def test_the_short_answer_is_a_span_of_its_cited_sentence() -> None:
    lead = cite(1, "Last year, Alibaba invested 23 billion yuan in AI during the first half of the year.")
    other = cite(2, "Baidu had invested 4.2 billion yuan in AI.")
    found = short_answer("How much did Alibaba invest in AI?", [lead, other])
    assert found is not None and found.text == "23 billion yuan" and found.kind == "amount"
    assert found.citation == 1
    assert lead.excerpt[found.span[0] : found.span[1]] == found.text
    assert lead.span[0] <= found.span[0] < found.span[1] <= lead.span[1]  # inside the quote, never beside it


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("Which automaker recalled 2.9 million vehicles?", "Ford Motor Co. is recalling 2.9 million vehicles.", "Ford"),
        ("Which country announced a crackdown on toys?", "Officials in Saudi Arabia announced a crackdown.", "Saudi"),
        ("Who tested positive for Covid-19?", "President Joe Biden tested positive for Covid-19 on Thursday.", "Biden"),
        ("How many hot dogs did Joey Chestnut eat?", "Joey Chestnut ate 63 hot dogs to win again.", "63"),
        ("When will the vaccine be available?", "The vaccine will be available next month, officials said.", "next"),
        ("How much loan forgiveness will borrowers get?", "Some borrowers will get $20,000 in forgiveness.", "$20,000"),
    ],
)
def test_short_answers_by_kind(question: str, sentence: str, expected: str) -> None:
    found = short_answer(question, [cite(1, sentence)])
    assert found is not None and expected in found.text, found
    assert found.text in sentence


def test_no_short_answer_rather_than_a_guess() -> None:
    sentence = "The company said its plans were unchanged after the meeting."
    assert short_answer("How much did Alibaba invest in AI?", [cite(1, sentence)]) is None  # no amount stated
    assert short_answer("Why did the talks fail?", [cite(1, sentence)]) is None  # no span answers "why"
    # The only candidate is what the question already says.
    assert short_answer("Which company did Ford buy?", [cite(1, "Ford bought it.")]) is None


def test_no_short_answer_when_the_sources_dispute_the_value() -> None:
    one = cite(1, "The Harbor Bridge repairs cost 40 million dollars, the city said.")
    two = cite(2, "The Harbor Bridge repairs cost 75 million dollars, the city said.")
    conflict = Conflict((1, 2), ("40 million dollars", "75 million dollars"))
    assert short_answer("How much did the repairs cost?", [one, two]) is not None
    assert short_answer("How much did the repairs cost?", [one, two], conflicts=[conflict]) is None


def test_yes_no_answers_only_when_the_lead_states_the_whole_question() -> None:
    lead = cite(1, "Alibaba invested in AI last year, the company said.")
    yes = short_answer("Did Alibaba invest in AI last year?", [lead])
    assert yes is not None and yes.text == "Yes" and yes.span == lead.span
    denied = cite(1, "Alibaba did not invest in AI last year, the company said.")
    no = short_answer("Did Alibaba invest in AI last year?", [denied])
    assert no is not None and no.text == "No"
    assert short_answer("Did Tencent invest in robots?", [lead]) is None


def test_the_coverage_line() -> None:
    citations = [
        cite(1, "One.", article_id="a", source="Reuters", date="2025-03-03"),
        cite(2, "Two.", article_id="b", source="AP", date="2025-02-12"),
        cite(3, "Three.", article_id="c", source="Reuters", date="2025-02-20"),
        cite(4, "Four.", article_id="d", source="BBC", date="2025-02-25"),
    ]
    coverage = coverage_of(citations)
    assert coverage is not None
    assert coverage.line == "From 4 articles by 3 outlets, 12 Feb – 3 Mar 2025; latest: Reuters, 3 Mar 2025."
    assert (coverage.articles, coverage.outlets, coverage.first, coverage.last) == (
        4,
        ("AP", "BBC", "Reuters"),
        "2025-02-12",
        "2025-03-03",
    )
    disputed = coverage_of(citations[:2], conflicts=[Conflict((1, 2), ("40", "75"))])
    assert disputed is not None and disputed.disagreements == ((1, 2),)
    assert disputed.line.endswith("The sources disagree: [1] says 40 and [2] says 75.")
    assert date_range("2024-12-30", "2025-01-02") == "30 Dec 2024 – 2 Jan 2025"
    assert short_date("2025-02") == "Feb 2025" and date_range("2025-02", "2025-02") == "in Feb 2025"


# -- the assistant, end to end ---------------------------------------------------------------------------------
# The seed answer rests on one article: the reader is about 42% sure of it, under the calibrated bar (0.69), so by
# default it is held back. These tests are about how a direct answer is laid out, so they lower the bar.
LOW_BAR = 0.3


@pytest.fixture(scope="module")
def seed_assistant(seed_index: Path, real_embedder):
    settings = Settings(progress=False, reader_confidence=LOW_BAR)
    with Assistant.open(seed_index, embedder=real_embedder, settings=settings) as assistant:
        yield assistant


def test_by_default_a_single_source_answer_is_held_back(seed_index: Path, real_embedder) -> None:
    with Assistant.open(seed_index, embedder=real_embedder, settings=Settings(progress=False)) as assistant:
        answer = assistant.ask(SEED_QUESTION)
    assert answer.short_answer is None and answer.held_back is not None and LOW_BAR < answer.held_back < 0.69
    assert answer.text.startswith("According to tech news blog") and "23 billion yuan" in answer.text


def test_the_seed_answer_leads_with_its_short_answer_coverage_and_trace(seed_assistant) -> None:
    answer = seed_assistant.ask(SEED_QUESTION)
    short = answer.short_answer
    assert short is not None and short.text == "23 billion yuan" and short.citation == 1
    assert short.method == "reader" and short.confidence is not None and short.confidence >= LOW_BAR
    cited = answer.citations[0]
    assert cited.excerpt[short.span[0] : short.span[1]] == "23 billion yuan"
    assert cited.span[0] <= short.span[0] and short.span[1] <= cited.span[1]
    assert answer.coverage is not None
    assert answer.coverage.line == "From 1 article by 1 outlet, in Feb 2025."
    trace = answer.trace
    assert trace is not None and trace["query"] == SEED_QUESTION
    assert trace["passages"] and {"dense", "bm25", "recency", "fused", "score"} <= set(trace["passages"][0])
    first = trace["sentences"][0]
    assert first["citation"] == 1 and first["reason"].startswith("lead")
    assert {"dense", "lexical", "passage", "value", "support"} <= set(first)
    data = answer.to_dict()
    assert data["short_answer"]["text"] == "23 billion yuan" and data["coverage"]["articles"] == 1
    assert data["timeline"] == [] and data["trace"]["passages"]


def test_an_abstention_has_no_short_answer_nor_coverage(seed_assistant) -> None:
    answer = seed_assistant.ask("What is a good recipe for Hungarian goulash?")
    assert answer.abstained and answer.short_answer is None and answer.coverage is None
    assert answer.trace is not None and "abstaining" in answer.trace["sentences"][0]["reason"]


def test_disagreeing_sources_are_named_in_the_coverage_line(
    tmp_path: Path, real_embedder, index_location: str | Path
) -> None:
    corpus = write_jsonl(tmp_path / "bridge.jsonl", BRIDGE_REPORTS)
    settings = Settings(progress=False)
    build_index([corpus], index_location, embedder=real_embedder, settings=settings)
    with Assistant.open(index_location, embedder=real_embedder, settings=settings) as assistant:
        answer = assistant.ask("How much did the Harbor Bridge repairs cost?", as_of="2024-06-01")
    assert answer.conflicts and answer.short_answer is None  # no value picked for the reader
    assert answer.coverage is not None and answer.coverage.disagreements == ((1, 2),)
    assert "From 2 articles by 2 outlets, 1–2 May 2024" in answer.coverage.line
    assert "The sources disagree: [1] says" in answer.coverage.line and "[2] says" in answer.coverage.line


# A story told over five weeks by three outlets; two of them report the talks collapsing on the same day.
STORY = [
    ("s1", "2025-01-06", "Daily One", "Harbor strike begins", "Dock workers at the Harbor port began a strike on "
     "Monday over pay."),
    ("s2", "2025-01-15", "Evening Two", "Harbor strike talks", "Talks between the Harbor port and the dock workers' "
     "union opened on Wednesday."),
    ("s3", "2025-01-24", "Daily One", "Harbor strike talks collapse", "Talks to end the Harbor port strike collapsed "
     "after the union rejected a pay offer."),
    ("s4", "2025-01-24", "Morning Three", "Harbor talks fail", "Talks to end the Harbor port strike collapsed when the "
     "union rejected the pay offer."),
    ("s5", "2025-02-07", "Evening Two", "Harbor strike ends", "The Harbor port strike ended after dock workers "
     "accepted a new pay deal."),
    ("x1", "2025-01-20", "Daily One", "Parks reopen", "The city reopened two parks with new playgrounds and a lake."),
]  # fmt: skip


@pytest.fixture(scope="module")
def story_assistant(tmp_path_factory: pytest.TempPathFactory, real_embedder):
    folder = tmp_path_factory.mktemp("story")
    records = [{"id": i, "date": d, "source": s, "title": t, "text": x} for i, d, s, t, x in STORY]
    corpus = write_jsonl(folder / "story.jsonl", records)
    settings = Settings(progress=False)
    build_index([corpus], folder / "idx", embedder=real_embedder, settings=settings)
    with Assistant.open(folder / "idx", embedder=real_embedder, settings=settings) as assistant:
        yield assistant


def test_a_story_question_gets_a_dated_deduplicated_timeline(story_assistant) -> None:
    question = "What happened with the Harbor port strike?"
    assert is_story_question(question)
    answer = story_assistant.ask(question, as_of="2025-03-01")
    events = answer.timeline
    assert len(events) >= 3 and events_in_order(events)
    numbers = {c.number: c for c in answer.citations}
    for event in events:
        citation = numbers[event.citation]  # each event is cited, with its own date and outlet
        assert citation.quote == event.text and citation.date == event.date and citation.source == event.source
        assert f"[{event.citation}" in answer.text
    collapse = [e for e in events if "collapsed" in e.text]
    assert len(collapse) == 1, [e.text for e in events]  # two outlets, one event
    assert set(collapse[0].outlets) == {"Daily One", "Morning Three"} and len(collapse[0].also) == 1
    assert not any("parks" in e.text for e in events)
    assert events[0].date == "2025-01-06" and events[-1].date == "2025-02-07"
    lines = answer.text.splitlines()
    assert len(lines) == len(events) and lines[0].startswith("6 Jan 2025 — Daily One: ")
    assert answer.short_answer is None and answer.coverage is not None


@pytest.mark.parametrize(
    ("question", "story"),
    [
        ("What happened with the Twitter acquisition?", True),
        ("How has the Ukraine grain deal developed?", True),
        ("What's the latest on the Harbor strike?", True),
        ("Give me a timeline of the strike.", True),
        ("NASA made history this week with a launch from Australia. Where did the launch occur?", False),
        ("What could be one of the biggest breaches in history?", False),
        ("How much did the strike cost?", False),
    ],
)
def test_story_questions_are_told_from_fact_questions(question: str, story: bool) -> None:
    assert is_story_question(question) is story


def test_timelines_on_demand_and_never(story_assistant) -> None:
    fact = "When did the Harbor port strike end?"
    assert not is_story_question(fact)
    assert story_assistant.ask(fact, as_of="2025-03-01").timeline == ()
    assert story_assistant.ask(fact, as_of="2025-03-01", timeline=True).timeline
    story = "What happened with the Harbor port strike?"
    assert story_assistant.ask(story, as_of="2025-03-01", timeline=False).timeline == ()


def test_answers_pinned_to_a_kept_generation(tmp_path: Path, real_embedder) -> None:
    first = write_jsonl(tmp_path / "one.jsonl", [{"id": "a", **BRIDGE_REPORTS[0]} | {"id": "a"}])
    settings = Settings(progress=False, keep_generations=2)
    index = tmp_path / "idx"
    build_index([first], index, embedder=real_embedder, settings=settings)
    second = write_jsonl(tmp_path / "two.jsonl", [BRIDGE_REPORTS[1]])
    update_index([second], index, embedder=real_embedder, settings=settings, prune=False)
    question = "How much did the Harbor Bridge repairs cost?"
    with Assistant.open(index, embedder=real_embedder, settings=settings) as assistant:
        now = assistant.ask(question, as_of="2024-06-01")
        then = assistant.ask(question, as_of="2024-06-01", generation=1)
        assert now.generation == 2 and then.generation == 1
        assert "75 million" in now.text and "75 million" not in then.text
        update_index([second], index, embedder=real_embedder, settings=settings, rebuild=True)
        assistant.refresh()
        with pytest.raises(GenerationGoneError, match="generation 1 is no longer kept"):
            assistant.ask(question, generation=1)

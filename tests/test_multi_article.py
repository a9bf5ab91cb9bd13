"""Answers across articles: a question naming several outlets gets each outlet's report quoted side by side, and a
verdict only when the quotes carry one (dates for "before", a name the reports share, a figure bounded the other
way); a part with nothing found is named; outlets that say nothing relevant make the answer decline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_jsonl

from assistant import build_index
from assistant.answer.assistant import Assistant
from assistant.answer.parts import outlet_mentions, split_question
from assistant.settings import Settings
from bench.multihop_rag import Setting, best_setting, cross_validate, objective

GAZETTE, VALLEY, COAST = "Harbour Gazette", "The Valley Times", "Coastline.com"
OUTLETS = (GAZETTE, VALLEY, COAST, "The Age")

# Made up for these tests: a ferry between two towns, reported by two outlets; a third covers other news.
ARTICLES = [
    (
        GAZETTE,
        "2024-03-20",
        "Terminal contract awarded",
        "Brightwater Marine will build the new ferry terminal at "
        "Northport harbour, the council announced on Wednesday. Work starts in May.",
    ),
    (
        VALLEY,
        "2024-03-28",
        "Electric ferries bought",
        "Brightwater Marine has bought two electric ferries for the "
        "Eastbay crossing, its chief executive Dana Whitlock said. Each carries 300 passengers.",
    ),
    (
        GAZETTE,
        "2024-04-02",
        "Ferry fares set",
        "A single ferry ticket between Northport and Eastbay will cost 4 "
        "euros, the council said. Children travel free.",
    ),
    (
        VALLEY,
        "2024-04-05",
        "What the ferry will cost",
        "Ferry tickets between Northport and Eastbay will cost more "
        "than 4 euros for adults, according to the operator. Season passes are planned.",
    ),
    (
        COAST,
        "2024-04-08",
        "Festival line-up",
        "The summer music festival in Eastbay will feature forty bands across "
        "three stages, the organisers said. Tickets go on sale in May.",
    ),
    (
        COAST,
        "2024-04-12",
        "Record catch",
        "Fishermen in Eastbay landed a record catch of mackerel this spring, "
        "the harbour master reported. Prices at the market fell.",
    ),
]
AS_OF = "2024-05-01"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[Assistant]:
    folder = tmp_path_factory.mktemp("multi")
    records = [
        {"id": f"a{i}", "source": source, "date": date, "title": title, "text": text}
        for i, (source, date, title, text) in enumerate(ARTICLES)
    ]
    corpus = write_jsonl(folder / "ferry.jsonl", records)
    settings = Settings(progress=False)
    build_index([corpus], folder / "idx", embedder=real_embedder, settings=settings)
    with Assistant.open(folder / "idx", embedder=real_embedder, settings=settings) as opened:
        yield opened


def test_a_comparison_quotes_each_outlet_side_by_side_with_its_date(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Does the Harbour Gazette's report on the ferry ticket price agree with The Valley Times' report on it?",
        as_of=AS_OF,
    )
    assert not answer.abstained
    lines = answer.text.splitlines()
    assert any(line.startswith("According to Harbour Gazette, April 2, 2024: A single ferry ticket") for line in lines)
    assert any(line.startswith("According to The Valley Times, April 5, 2024: Ferry tickets") for line in lines)
    assert {c.source for c in answer.citations} == {GAZETTE, VALLEY}
    assert all(f"[{c.number}]" in answer.text for c in answer.citations)
    assert answer.short_answer is None  # whether the two agree is not decided from the quotes
    assert "No verdict" in answer.text


def test_before_and_after_are_decided_by_the_articles_dates(assistant: Assistant) -> None:
    asked = "Did the Harbour Gazette report the ferry ticket price before The Valley Times reported the ticket price?"
    answer = assistant.ask(asked, as_of=AS_OF)
    assert answer.short_answer is not None and answer.short_answer.kind == "yes/no"
    assert answer.short_answer.text == "Yes"
    assert "April 2, 2024, before The Valley Times on April 5, 2024" in answer.text
    cited = {c.number: c for c in answer.citations}[answer.short_answer.citation]
    assert cited.source == GAZETTE and cited.excerpt[slice(*answer.short_answer.span)] == cited.quote

    reverse = "Did The Valley Times report the ferry ticket price before the Harbour Gazette reported the ticket price?"
    assert assistant.ask(reverse, as_of=AS_OF).short_answer.text == "No"  # type: ignore[union-attr]


def test_a_figure_bounded_the_other_way_is_a_no(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Did the Harbour Gazette report that a ferry ticket costs more than 4 euros, while The Valley Times "
        "reported that tickets cost less than 4 euros?",
        as_of=AS_OF,
    )
    assert answer.short_answer is not None and answer.short_answer.text == "No"
    assert "“more than 4 euros”, not “less than 4 euros”" in answer.text


def test_an_entity_is_the_name_the_reports_share(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Which company, reported by the Harbour Gazette as building the new ferry terminal and by The Valley "
        "Times as buying electric ferries, runs the Eastbay crossing?",
        as_of=AS_OF,
    )
    assert answer.short_answer is not None and answer.short_answer.text == "Brightwater Marine"
    cited = {c.number: c for c in answer.citations}[answer.short_answer.citation]
    assert cited.excerpt[slice(*answer.short_answer.span)] == "Brightwater Marine"
    assert {c.source for c in answer.citations} == {GAZETTE, VALLEY}


def test_a_part_with_no_evidence_is_named_and_gets_no_verdict(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Does the Harbour Gazette's report on the new ferry terminal agree with Coastline.com's report on the "
        "ferry terminal contract?",
        as_of=AS_OF,
    )
    assert not answer.abstained and answer.short_answer is None
    assert [c.source for c in answer.citations] == [GAZETTE]
    assert "Nothing in Coastline.com’s reports was found about" in answer.text
    assert "nor without Coastline.com" in answer.text


def test_outlets_that_say_nothing_relevant_decline(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Does Coastline.com's report on the bakery strike agree with the Harbour Gazette's report on the bakers' "
        "union demands?",
        as_of=AS_OF,
    )
    assert answer.abstained and answer.short_answer is None
    assert answer.text.startswith("The indexed articles don't answer this question.")


def test_outlets_are_matched_with_and_without_the_and_dot_com() -> None:
    found = outlet_mentions("did the valley times and coastline.com agree with the gazette?", OUTLETS)
    assert [m.outlets for m in found] == [(VALLEY,), (COAST,)]  # typed in lower case: full names only
    found = outlet_mentions("Did Valley Times, coastline.com and Harbour Gazette say so?", OUTLETS)
    assert [m.outlets for m in found] == [(VALLEY,), (COAST,), (GAZETTE,)]
    assert outlet_mentions("She was mobbed from the age of 16, said The Age.", OUTLETS)[0].start > 30


def test_a_question_about_one_article_is_left_to_the_single_article_path() -> None:
    assert split_question("What did the Harbour Gazette report about the ferry terminal?", OUTLETS) is None
    assert split_question("How much will a ferry ticket cost?", OUTLETS) is None


def test_the_parts_keep_their_dates_and_the_order_asked() -> None:
    split = split_question(
        "After the Harbour Gazette reported on 2 April about the ticket price, did The Valley Times report on "
        "April 5 that tickets would cost more?",
        OUTLETS,
        dt.date(2024, 5, 1),
    )
    assert split is not None and split.kind == "yes/no"
    assert [(p.outlets, p.day) for p in split.parts] == [
        ((GAZETTE,), dt.date(2024, 4, 2)),
        ((VALLEY,), dt.date(2024, 4, 5)),
    ]
    assert "ticket price" in split.parts[0].clause and "Gazette" not in split.parts[0].clause
    ordered = split_question("Did the Harbour Gazette report the fares before The Valley Times did?", OUTLETS)
    assert ordered is not None and ordered.sequence == (0, 1, "before")


def test_cross_validation_picks_on_the_training_folds_and_reports_the_held_out(tmp_path: Path) -> None:
    def row(qid: str, kind: str, abstained: bool) -> dict[str, object]:
        facts = [] if kind == "null_query" else [{"quoted": not abstained, "article_cited": not abstained}]
        base = {"id": qid, "type": kind, "abstained": abstained, "facts": facts, "ms": 1.0, "short_answer": None}
        return base | {"yes_no_gold": None, "verdict": None, "entity_right": False, "entity_in_text": False}

    low, high = Setting(0.1, 0.0), Setting(0.3, 0.0)
    runs = {  # the low bar answers everything, nulls too; the high one declines the nulls and one answerable
        low: [
            row("q1", "inference_query", False),
            row("q2", "null_query", False),
            row("q3", "comparison_query", False),
        ],
        high: [row("q1", "inference_query", True), row("q2", "null_query", True), row("q3", "comparison_query", False)],
    }
    assert objective({**_nothing(), "null_declined": 0.0, "answered": 1.0}) == -1.0
    assert best_setting(runs, lambda r: True) == high
    assert best_setting(runs, lambda r: r["type"] != "null_query") == low  # without nulls nothing rules it out
    tied = {low: runs[low], Setting(0.2, 0.0): runs[low]}
    assert best_setting(tied, lambda r: r["type"] != "null_query") == Setting(0.2, 0.0)  # a tie asks more support
    result = cross_validate(runs)
    assert result["tuned"]["setting"] == {"support": 0.3, "second_margin": 0.0}
    assert result["question_type"]["chosen"]["null_query"] == {"support": 0.1, "second_margin": 0.0}
    assert result["question_type"]["figures"]["overall"]["null_declined"] == 0.0  # held out, it was not declined


def _nothing() -> dict[str, object]:
    return {
        "null_declined": None,
        "answered": None,
        "evidence_quoted": None,
        "yes_no_right": None,
        "entity_right": None,
    }

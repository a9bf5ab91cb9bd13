"""The matching of bench.multihop_rag: a gold fact quoted or not by a cited excerpt, yes/no verdicts, entity answers.
Pure functions: no data, no model."""

from __future__ import annotations

from bench.multihop_rag import (
    entity_right,
    fact_quoted,
    facts_quoted,
    gold_yes_no,
    summary,
    verdict,
    yes_no_right,
)

FACT = "Kelce took a week off training to visit New York City, according to Vulture."


def test_a_fact_in_an_excerpt_is_quoted_whatever_its_case_and_punctuation() -> None:
    excerpt = "Swifties were on alert. Shortly after that remark, KELCE took a week off training to visit New York City"
    assert fact_quoted(FACT.replace(", according to Vulture", ""), excerpt + " — according to Vulture.")
    assert fact_quoted(
        FACT, "Shortly after, kelce took a week off training to visit new york city according to vulture"
    )


def test_a_fact_holding_the_quoted_sentence_or_most_of_its_words_in_the_excerpt_is_quoted() -> None:
    assert fact_quoted(FACT, "An unrelated excerpt.", quote="took a week off training to visit New York City")
    assert fact_quoted(FACT, "Kelce took a week off training to visit New York, according to Vulture.")  # 11 of 12


def test_an_unrelated_or_partial_excerpt_does_not_quote_a_fact() -> None:
    assert not fact_quoted(FACT, "Swift was seen at Arrowhead Stadium cheering on No. 87.")
    assert not fact_quoted(FACT, "Kelce took a week off.")  # 4 of 12 words
    assert not fact_quoted(FACT, "Unrelated.", quote="New York City")  # too short a quote to tell
    assert not fact_quoted("", "anything")
    assert facts_quoted([FACT, "Another fact here."], [("nothing", ""), (FACT, FACT)]) == [True, False]


def test_yes_no_verdicts_and_their_scoring() -> None:
    assert [gold_yes_no(["Yes"]), gold_yes_no(["no"]), gold_yes_no(["No."]), gold_yes_no(["Sam Altman"])] == [
        "yes",
        "no",
        "no",
        None,
    ]
    assert verdict("Yes", "yes/no") == "yes" and verdict("No", "thing") == "no"
    assert verdict("No, it did not", "yes/no") == "no"
    assert verdict(None, None) is None and verdict("Google", "organisation") is None
    assert yes_no_right("yes", "yes") and not yes_no_right("no", "yes")
    assert not yes_no_right(None, "no")  # no verdict is wrong


def test_an_entity_answer_matches_by_containment_either_way_or_token_f1() -> None:
    assert entity_right("Sam Bankman-Fried", ["Sam Bankman-Fried"])
    assert entity_right("Bankman-Fried", ["Sam Bankman-Fried"])  # inside the gold
    assert entity_right("the Minnesota Vikings", ["Minnesota Vikings"])  # articles dropped
    assert entity_right("OpenAI's Sam Altman", ["Sam Altman"])  # the gold inside it
    assert entity_right("nine", ["9"])  # lenient F1
    assert not entity_right("FTX", ["Sam Bankman-Fried"])
    assert not entity_right(None, ["Google"]) and not entity_right("the", ["Google"])


def test_the_summary_counts_facts_over_answerable_questions_and_null_questions_apart() -> None:
    def row(kind: str, abstained: bool, quoted: list[bool], **more: object) -> dict[str, object]:
        base = {"type": kind, "abstained": abstained, "facts": [{"quoted": q, "article_cited": q} for q in quoted]}
        fields = {"yes_no_gold": None, "verdict": None, "yes_no_right": None, "entity_right": None}
        return {**base, **fields, "entity_in_text": None, "short_answer": None, "ms": 100.0, **more}

    rows = [
        row("comparison_query", False, [True, True], yes_no_gold="yes", verdict="yes", yes_no_right=True),
        row("temporal_query", True, [False, False, False], yes_no_gold="no", yes_no_right=False),
        row("inference_query", False, [True, False], entity_right=True, entity_in_text=True, short_answer="X"),
        row("null_query", True, []),
    ]
    figures = summary(rows)
    assert figures["answered"] == 2 / 3 and figures["evidence_quoted"] == 3 / 7
    assert figures["questions_all_evidence_quoted"] == 1 / 3
    assert (figures["yes_no_right"], figures["yes_no_given"], figures["always_yes"]) == (0.5, 0.5, 0.5)
    assert figures["entity_right"] == 1.0 and figures["null_declined"] == 1.0

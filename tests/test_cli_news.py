"""`assistant ask` with the short answer, coverage, timeline and trace, and `assistant eval` over a question file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SEED, SEED_QUESTION

from assistant import build_index
from assistant.answer.evaluation import load_questions
from assistant.answer.metrics import contains, exact_match, normalize, recall_at, reciprocal_rank, token_f1
from assistant.cli import cli
from assistant.errors import InputError
from assistant.settings import get_settings


def run(*args: str | Path):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def seed_copy(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    index = tmp_path_factory.mktemp("cli-seed") / "idx"
    build_index([SEED], index, embedder=real_embedder, settings=get_settings(progress=False))
    return index


@pytest.fixture
def low_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bar the one-article seed answer clears (the reader is about 42% sure: held back by default)."""
    monkeypatch.setenv("ASSISTANT_READER_CONFIDENCE", "0.3")


def test_ask_prints_the_short_answer_first_then_the_evidence_and_the_coverage(seed_copy: Path, low_bar) -> None:
    result = run("ask", SEED_QUESTION, "--index", seed_copy)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "23 billion yuan [1]"
    assert lines[2].startswith("According to tech news blog, February 2025: ")
    assert "From 1 article by 1 outlet, in Feb 2025." in lines
    assert lines.index("From 1 article by 1 outlet, in Feb 2025.") < lines.index("Sources:")


def test_ask_says_when_it_holds_back_a_direct_answer(seed_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_READER_CONFIDENCE", "0.69")  # the default, set: the seed answer is held back
    result = run("ask", SEED_QUESTION, "--index", seed_copy)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("No direct answer: the reader is ") and "sure of its best guess" in lines[0]
    assert "23 billion yuan" in result.stdout  # in the quoted evidence
    data = json.loads(run("ask", SEED_QUESTION, "--json", "--index", seed_copy).stdout)
    assert data["short_answer"] is None and 0.3 < data["held_back"] < 0.69


def test_ask_json_has_short_answer_coverage_timeline_and_trace(seed_copy: Path, low_bar) -> None:
    result = run("ask", SEED_QUESTION, "--json", "--index", seed_copy, "--as-of", "2025-03-01", "-k", "5")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    short = data["short_answer"]
    assert short["text"] == "23 billion yuan" and short["kind"] == "amount" and short["citation"] == 1
    excerpt = data["citations"][0]["excerpt"]
    assert excerpt[short["span"][0] : short["span"][1]] == "23 billion yuan"
    assert data["coverage"]["line"] == "From 1 article by 1 outlet, in Feb 2025." and data["timeline"] == []
    trace = data["trace"]
    assert trace["query"] == SEED_QUESTION
    assert trace["filters"]["as_of"] == "2025-03-01" and trace["filters"]["k"] == 5
    assert len(trace["passages"]) <= 5
    for passage in trace["passages"]:
        assert {"rank", "chunk_id", "dense", "bm25", "recency", "fused", "score"} <= set(passage)
        if passage["recency"]:
            assert passage["score"] == pytest.approx(passage["fused"] * passage["recency"], abs=1e-3)
    assert [s["citation"] for s in trace["sentences"]] == [c["number"] for c in data["citations"]]
    assert all(s["reason"] for s in trace["sentences"])


def test_ask_timeline_flag(seed_copy: Path) -> None:
    result = run("ask", SEED_QUESTION, "--timeline", "--json", "--index", seed_copy)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["timeline"] and data["short_answer"] is None
    event = data["timeline"][0]
    assert event["date"] == "2025-02" and event["source"] == "tech news blog" and event["citation"] == 1
    shown = run("ask", SEED_QUESTION, "--timeline", "--index", seed_copy)
    assert shown.stdout.startswith("Feb 2025 — tech news blog: ")


def test_ask_on_a_generation_that_is_gone_is_one_clear_line(seed_copy: Path) -> None:
    result = run("ask", SEED_QUESTION, "--generation", "7", "--index", seed_copy)
    assert result.exit_code == 5
    assert result.stderr.strip() == f"error: index generation 7 is no longer kept in {seed_copy} (kept: 1)"


def test_eval_scores_a_question_file(seed_copy: Path, tmp_path: Path, low_bar) -> None:
    questions = tmp_path / "questions.jsonl"
    info = json.loads(run("index", "info", "--articles", "--json", "--index", seed_copy).stdout)
    (article_id,) = [a["id"] for a in info["article_list"]]
    rows = [
        {"question": SEED_QUESTION, "answer": "23 billion yuan", "gold": [article_id], "as_of": "2025-03-01"},
        {"question": "How much did Baidu invest in AI?", "answer": ["4.2 billion yuan"]},
        {"question": "What is a good recipe for Hungarian goulash?", "absent": True},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run("eval", questions, "--json", "--index", seed_copy)
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["questions"] == 3 and figures["generation"] == 1
    assert figures["retrieval"]["questions"] == 1 and figures["retrieval"]["mrr@10"] == 1.0
    answers = figures["answers"]
    assert answers["questions"] == 2 and answers["gold_in_cited"] == 1.0 and answers["short_answer_f1"] > 0.5
    assert figures["abstentions"] == {
        "answerable": 2,
        "answerable_answered": 1.0,
        "absent": 1,
        "absent_abstained": 1.0,
    }
    assert (
        0 <= answers["short_answer_precision"] <= 1 and answers["short_answer_f1_lenient"] >= answers["short_answer_f1"]
    )
    text = run("eval", questions, "--index", seed_copy)
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == f"3 questions on {seed_copy} (generation 1)"
    assert "mrr@10 1.000" in text.stdout and "short_answer_f1" in text.stdout


def test_eval_reports_how_much_of_the_evidence_the_answers_quote(seed_copy: Path, tmp_path: Path) -> None:
    info = json.loads(run("index", "info", "--articles", "--json", "--index", seed_copy).stdout)
    (article_id,) = [a["id"] for a in info["article_list"]]
    evidence = [
        {
            "doc_id": article_id,
            "fact": "Last year, Alibaba invested 23 billion yuan in AI during the first half of the year",
        },
        {"doc_id": "elsewhere", "fact": "Tencent said it would double its spending on data centres next spring."},
    ]
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": SEED_QUESTION, "evidence": evidence}) + "\n", encoding="utf-8")
    figures = json.loads(run("eval", questions, "--json", "--index", seed_copy).stdout)
    assert figures["answers"]["evidence_recall"] == 0.5  # the first fact is quoted, the second is in no article
    assert figures["retrieval"]["questions"] == 1  # the evidence's articles are the gold ones


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "questions.jsonl:2: not JSON"),
        ('{"question": "Q?", "evidence": [{"fact": "x"}]}', "(field 'evidence'): must be article ids, or objects"),
        ('{"answer": "x"}', "questions.jsonl:2 (field 'question'): needs a non-empty 'question' string"),
        ('{"question": "Q?", "gold": 5}', "questions.jsonl:2 (field 'gold'): must be a string or a list of strings"),
        ('{"question": "Q?", "absent": "yes"}', "questions.jsonl:2 (field 'absent'): must be true or false"),
    ],
)
def test_eval_names_the_bad_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"question": "Fine?"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_questions(questions)
    assert message in str(caught.value)
    result = run("eval", questions, "--index", tmp_path / "nowhere")
    assert result.exit_code == 3 and message in result.stderr


def test_metrics() -> None:
    assert normalize("The “Tony Awards”!") == "tony awards"
    assert token_f1("the Tony Awards", ["Tony Awards"]) == 1.0
    assert token_f1("Ford Motor Co.", ["Ford"]) == pytest.approx(0.5)
    assert token_f1(None, ["Ford"]) == 0.0 and exact_match("ford", ["Ford"]) == 1.0
    assert contains("It cost $5 a gallon.", ["$5"]) and not contains("It cost $50.", ["$5"])
    assert recall_at(["a", "b", "c"], {"c"}, 2) == 0.0 and recall_at(["a", "b", "c"], {"c"}, 3) == 1.0
    assert reciprocal_rank(["a", "b", "c"], {"b"}) == 0.5 and reciprocal_rank(["a"], {"z"}) == 0.0

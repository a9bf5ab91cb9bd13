"""Answers: extractive sentences with checkable citations, dates, conflicts, abstention, follow-ups, streaming."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BRIDGE_REPORTS, SEED_QUESTION, news_corpus, write_jsonl
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from assistant import build_index
from assistant.answer.assistant import Assistant
from assistant.errors import ConfigError
from assistant.index.local.reader import IndexReader
from assistant.settings import Settings


@pytest.fixture(scope="module")
def seed_assistant(seed_index: Path, real_embedder):
    assistant = Assistant.open(seed_index, embedder=real_embedder, settings=Settings(progress=False))
    yield assistant
    assistant.close()


def check_citations(answer, index: Path) -> None:
    """Every excerpt is verbatim text of its chunk, at the offset it claims, and its span lies inside it."""
    reader = IndexReader.open(index)
    try:
        rows = reader.chunk_rows(c.chunk_id for c in answer.citations)
        for number, citation in enumerate(answer.citations, 1):
            assert citation.number == number
            row = rows[citation.chunk_id]
            offset = citation.excerpt_start - row.start
            assert offset >= 0
            assert row.text[offset : offset + len(citation.excerpt)] == citation.excerpt
            low, high = citation.span
            assert 0 <= low < high <= len(citation.excerpt)
            assert citation.quote.strip() == citation.quote
        markers = {int(n) for n in __import__("re").findall(r"\[(\d+)\]", answer.text)}
        assert markers <= {c.number for c in answer.citations}
    finally:
        reader.close()


def test_seed_question_leads_with_the_figure_and_says_who_and_when(seed_assistant, seed_index):
    answer = seed_assistant.ask(SEED_QUESTION)
    assert not answer.abstained
    first_sentence = answer.text.split("[1]")[0]
    assert "23 billion yuan" in first_sentence
    assert answer.text.startswith("According to tech news blog, February 2025: ")
    assert answer.citations[0].source == "tech news blog" and answer.citations[0].date == "2025-02"
    assert "23 billion yuan" in answer.citations[0].quote
    assert 1 <= len(answer.citations) <= 3
    assert set(answer.timings) >= {"retrieve", "answer", "total"}
    check_citations(answer, seed_index)


def test_follow_ups_are_rewritten_and_retrieve_the_new_subject(seed_assistant, seed_index):
    first = seed_assistant.ask("How much is Alibaba investing in AI?")
    baidu = seed_assistant.ask("What about Baidu?", history=[first])
    assert "Baidu" in baidu.query and "Alibaba" not in baidu.query
    assert "4.2 billion yuan" in baidu.citations[0].quote
    tencent = seed_assistant.ask("And Tencent?", history=[first, baidu])
    assert "Tencent" in tencent.query
    assert not tencent.abstained and all("Tencent" in c.quote for c in tencent.citations[:1])
    spent = seed_assistant.ask("How much did it spend on AI?", history=[baidu])
    assert "Baidu" in spent.query
    assert "4.2 billion yuan" in spent.text
    check_citations(spent, seed_index)


def test_history_as_plain_pairs(seed_assistant):
    answer = seed_assistant.ask("What about Baidu?", history=[("How much is Alibaba investing in AI?", "")])
    assert "Baidu" in answer.query


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 football World Cup final?",
        "What is a good recipe for Hungarian goulash?",
        "How many people live in Reykjavik?",
    ],
)
def test_absent_topics_abstain_and_show_closest_passages(seed_assistant, seed_index, question):
    answer = seed_assistant.ask(question)
    assert answer.abstained
    assert answer.text.startswith("The indexed articles don't answer this question.")
    assert answer.citations and len({c.article_id for c in answer.citations}) == len(answer.citations)
    assert answer.support < seed_assistant.settings.abstain_below
    check_citations(answer, seed_index)


def test_stream_pieces_make_the_answer_text(seed_assistant):
    stream = seed_assistant.stream(SEED_QUESTION)
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces) == stream.answer.text


def test_bad_questions_get_clear_errors(seed_assistant):
    with pytest.raises(ConfigError, match="empty"):
        seed_assistant.ask(" \t\n\x00 ")
    with pytest.raises(ConfigError, match="characters long"):
        seed_assistant.ask("why " * 5000)
    with pytest.raises(ConfigError, match="LLM"):
        seed_assistant.ask(SEED_QUESTION, answerer="llm")
    with pytest.raises(ConfigError, match="unknown answerer"):
        seed_assistant.ask(SEED_QUESTION, answerer="oracle")
    with pytest.raises(ConfigError, match="conversation turn"):
        seed_assistant.ask("And Baidu?", history=[42])
    clean = seed_assistant.ask("How much did\x00Ali\u200bbaba\u202e invest in AI?")
    assert clean.question == "How much did Alibaba invest in AI?"


def test_conflicting_sources_are_both_shown(tmp_path: Path, real_embedder):
    corpus = write_jsonl(
        tmp_path / "conflict.jsonl",
        [
            *BRIDGE_REPORTS,
            {
                "id": "c",
                "title": "Parks",
                "date": "2024-05-01",
                "source": "Daily One",
                "text": "The city opened two new parks with playgrounds and a lake.",
            },
        ],
    )
    index = tmp_path / "idx"
    settings = Settings(progress=False)
    build_index([corpus], index, embedder=real_embedder, settings=settings)
    with Assistant.open(index, embedder=real_embedder, settings=settings) as assistant:
        answer = assistant.ask("How much did the Harbor Bridge repairs cost?", as_of="2024-06-01")
    assert not answer.abstained
    assert "40 million dollars" in answer.text and "75 million dollars" in answer.text
    assert "Daily One" in answer.text and "Evening Two" in answer.text
    assert answer.text.startswith("The sources disagree.")
    (conflict,) = answer.conflicts
    assert sorted(conflict.citations) == [1, 2]
    assert {v for value in conflict.values for v in value.split(", ")} >= {"40 million dollars", "75 million dollars"}


def test_no_conflict_between_agreeing_sources(tmp_path: Path, real_embedder):
    same = "The Harbor Bridge repairs cost 40 million dollars, the city said on Monday."
    corpus = write_jsonl(
        tmp_path / "agree.jsonl",
        [
            {"id": "a", "title": "Bridge reopens", "date": "2024-05-01", "source": "Daily One", "text": same},
            {
                "id": "b",
                "title": "Bridge open",
                "date": "2024-05-02",
                "source": "Evening Two",
                "text": same.replace("said on Monday", "confirmed on Monday"),
            },
        ],
    )
    index = tmp_path / "idx"
    settings = Settings(progress=False)
    build_index([corpus], index, embedder=real_embedder, settings=settings)
    with Assistant.open(index, embedder=real_embedder, settings=settings) as assistant:
        answer = assistant.ask("How much did the Harbor Bridge repairs cost?", as_of="2024-06-01")
    assert not answer.conflicts and not answer.text.startswith("The sources disagree")


def test_undated_sources_are_said_to_be_undated(tmp_path: Path, fake_embedder):
    index = tmp_path / "idx"
    settings = Settings(progress=False, abstain_below=0.0)
    build_index([news_corpus(tmp_path / "news")], index, embedder=fake_embedder, settings=settings)
    with Assistant.open(index, embedder=fake_embedder, settings=settings) as assistant:
        answer = assistant.ask("When should I plant tomatoes after the frost?")
    assert answer.citations[0].title == "Gardening tips for spring"
    assert "(undated)" in answer.text


_WORDS = [
    "volcano",
    "lava",
    "bank",
    "interest",
    "rates",
    "club",
    "cup",
    "tomatoes",
    "frost",
    "inflation",
    "crowd",
    "what",
    "when",
    "how",
    "much",
    "who",
    "the",
    "Grindavik",
    "2024",
    "quarter",
]


@pytest.fixture(scope="module")
def fake_assistant(tmp_path_factory):
    from conftest import FakeEmbedder

    folder = tmp_path_factory.mktemp("prop")
    index = folder / "idx"
    embedder = FakeEmbedder()
    settings = Settings(progress=False, abstain_below=0.0, excerpt_chars=120)
    build_index([news_corpus(folder / "news")], index, embedder=embedder, settings=settings)
    assistant = Assistant.open(index, embedder=embedder, settings=settings)
    yield assistant, index
    assistant.close()


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=6), as_of=st.sampled_from([None, "2024-03-07"]))
def test_property_citations_are_verbatim_and_spans_inside(fake_assistant, words, as_of):
    assistant, index = fake_assistant
    answer = assistant.ask(" ".join(words) + "?", as_of=as_of)
    check_citations(answer, index)


# -- CLI ----------------------------------------------------------------------------------------------------
def run_cli(*args: str | Path):
    from click.testing import CliRunner

    from assistant.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_ask_prints_the_answer_and_numbered_sources(seed_index: Path):
    result = run_cli("ask", SEED_QUESTION, "--index", seed_index)
    assert result.exit_code == 0, result.output
    answer, sources = result.stdout.split("\nSources:\n")
    assert "23 billion yuan" in answer and "[1]" in answer
    assert sources.startswith("[1] Chinese Tech Giants Rush to Invest in AI")
    assert "tech news blog · 2025-02" in sources


def test_cli_ask_json_and_a_follow_up_from_history(seed_index: Path, tmp_path: Path):
    first = run_cli("ask", "How much is Alibaba investing in AI?", "--index", seed_index, "--json")
    assert first.exit_code == 0, first.output
    data = __import__("json").loads(first.stdout)
    assert set(data) >= {"text", "citations", "abstained", "query", "timings"}
    citation = data["citations"][0]
    assert citation["excerpt"][citation["span"][0] : citation["span"][1]] == citation["quote"]
    history = tmp_path / "history.json"
    history.write_text(first.stdout, encoding="utf-8")
    follow = run_cli("ask", "What about Baidu?", "--index", seed_index, "--json", "--history", history)
    assert follow.exit_code == 0, follow.output
    assert "Baidu" in __import__("json").loads(follow.stdout)["query"]


def test_cli_ask_errors(seed_index: Path, tmp_path: Path):
    assert run_cli("ask", "   ", "--index", seed_index).exit_code == 2
    assert run_cli("ask", "anything", "--index", tmp_path / "missing").exit_code == 5
    bad = tmp_path / "bad.json"
    bad.write_text('[{"text": "no question"}]', encoding="utf-8")
    result = run_cli("ask", "What about Baidu?", "--index", seed_index, "--history", bad)
    assert result.exit_code == 3 and "bad.json:1 (field 'question')" in result.output


def test_cli_ask_abstains_with_closest_passages(seed_index: Path):
    result = run_cli("ask", "Who won the 2022 football World Cup final?", "--index", seed_index)
    assert result.exit_code == 0
    assert "don't answer this question" in result.stdout and "\nClosest passages:\n[1]" in result.stdout


# -- follow-up rewriting, offline ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("previous", "quotes", "follow_up", "expected"),
    [
        ("How much is Alibaba investing in AI?", (), "What about Baidu?", "How much is Baidu investing in AI?"),
        ("How much is Alibaba investing in AI?", (), "And Tencent?", "How much is Tencent investing in AI?"),
        ("How much is Alibaba investing in AI?", (), "How much did it spend?", "How much did Alibaba spend?"),
        (
            "What did President Xi Jinping pledge?",
            (),
            "What did he say about the economy?",
            "What did President Xi Jinping say about the economy?",
        ),
        (
            "What did Alibaba announce?",
            ("At the presentation, Daniel Zhang revealed plans",),
            "What did he reveal?",
            "What did Daniel Zhang reveal?",
        ),
        ("Who is Alibaba's CEO?", (), "What did he reveal?", "What did Alibaba's CEO reveal?"),
        ("How much is Alibaba investing in AI?", (), "Why?", "Why? (Alibaba)"),
        (
            "How much is Alibaba investing in AI?",
            (),
            "What is a good recipe for goulash?",
            "What is a good recipe for goulash?",
        ),
        ("How much is Alibaba investing in AI?", (), "Who is the CEO of Tencent?", "Who is the CEO of Tencent?"),
    ],
)
def test_condense_rewrites_follow_ups_offline(previous, quotes, follow_up, expected):
    from assistant.answer.conversation import Turn, condense

    assert condense(follow_up, [Turn(previous, previous, "", quotes)]) == expected
    assert condense(follow_up, []) == follow_up

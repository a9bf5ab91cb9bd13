"""Hostile questions: any script, emoji, control, invisible and bidi characters, lone surrogates, megabyte
questions. Each gets a clean question and cited answer, or a readable error before anything is embedded; the same
through the CLI, as a user runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import news_corpus, write_jsonl
from embedders import StrictEmbedder
from hostile_corpus import HOSTILE_CHARS, MB, bad_raw_chars, bad_text_chars
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from processes import Run, measured_cli

from assistant import build_index
from assistant.answer.assistant import Assistant
from assistant.errors import ConfigError
from assistant.index.local.reader import IndexReader
from assistant.settings import Settings

# Articles in several scripts, with the characters a scrape drags along, to cite from.
MULTILINGUAL = [
    {
        "id": "zh",
        "title": "冰岛火山喷发",
        "date": "2024-03-11",
        "source": "新闻",
        "text": "冰岛雷克雅内斯半岛的火山周日再次喷发。\u200b熔岩流向格林达维克镇，居民已撤离。",
    },
    {
        "id": "ar",
        "title": "\u200fثوران بركان في آيسلندا\u200f",
        "date": "2024-03-11",
        "source": "الأخبار",
        "text": "\u202bثار بركان في شبه جزيرة ريكيانيس يوم الأحد.\u202c وتدفقت الحمم نحو بلدة غريندافيك.",
    },
    {
        "id": "ru",
        "title": "Извержение вулкана в Исландии",
        "date": "2024-03-11",
        "source": "Новости",
        "text": "Вулкан на полуострове Рейкьянес снова извергся в воскресенье. Лава текла к Гриндавику.",
    },
    {
        "id": "emoji",
        "title": "Volcano 🌋 erupts again",
        "date": "2024-03-11",
        "source": "Emoji Wire",
        "text": "The volcano 🌋 erupted again on Sunday 🔥. Lava 🟧 flowed toward Grindavik 🏘️, residents left 🚗.",
    },
]


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("questions")
    news = news_corpus(folder / "news")
    write_jsonl(news / "multilingual.jsonl", MULTILINGUAL)
    index = folder / "idx"
    build_index([news], index, embedder=StrictEmbedder(), settings=Settings(progress=False))
    return index


@pytest.fixture(scope="module")
def hostile_assistant(hostile_index: Path):
    embedder = StrictEmbedder()
    assistant = Assistant.open(
        hostile_index, embedder=embedder, settings=Settings(progress=False, abstain_below=0.0, excerpt_chars=120)
    )
    yield assistant, embedder
    assistant.close()


def check_answer(answer, index: Path) -> None:
    """The question as used is clean; each excerpt is verbatim chunk text at its offset, its span inside it."""
    assert not bad_raw_chars(answer.question) and answer.question == answer.question.strip()
    reader = IndexReader.open(index)
    try:
        rows = reader.chunk_rows(c.chunk_id for c in answer.citations)
    finally:
        reader.close()
    for number, citation in enumerate(answer.citations, 1):
        assert citation.number == number
        row = rows[citation.chunk_id]
        offset = citation.excerpt_start - row.start
        assert offset >= 0 and row.text[offset : offset + len(citation.excerpt)] == citation.excerpt
        low, high = citation.span
        assert 0 <= low < high <= len(citation.excerpt)
        assert not bad_text_chars(citation.quote + citation.excerpt)


_QUESTION_WORDS = [
    "volcano",
    "lava",
    "Grindavik",
    "火山",
    "喷发",
    "بركان",
    "ثار",
    "Вулкан",
    "лава",
    "🌋",
    "🔥",
    "interest",
    "rates",
    "cup",
    "when",
    "what",
    "how",
]


@hyp_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.one_of(st.sampled_from(_QUESTION_WORDS), HOSTILE_CHARS, st.just(" ")), max_size=14))
def test_property_hostile_questions_get_clean_cited_answers_or_clear_errors(hostile_assistant, hostile_index, pieces):
    assistant, _ = hostile_assistant
    question = "".join(pieces)
    try:
        answer = assistant.ask(question)
    except ConfigError as error:
        assert str(error) == "the question is empty", error
        assert not "".join(c for c in question if not bad_raw_chars(c)).strip()
        return
    check_answer(answer, hostile_index)


QUESTIONS = {
    "chinese": "冰岛火山什么时候喷发？",
    "arabic-rtl-marks": "\u200fمتى ثار البركان في آيسلندا؟\u200f",
    "arabic-embedding": "\u202bمتى ثار البركان؟\u202c",
    "emoji": "🌋 When did the volcano erupt? 🔥🔥",
    "cyrillic": "Когда извергся вулкан в Исландии?",
    "mixed-scripts": "When did the 火山 erupt near Гриндавик?",
    "controls-inside": "When\x00 did\x1b[31m the\x07 volcano\x85 erupt\u2028?",
    "zero-width-inside": "When did the vol\u200bca\u200dno erupt\u2060?",
    "bidi-override": "\u202eWhen did the volcano erupt?\u202c",
    "lone-surrogate": "When did the volcano \udcff\udcfe erupt?",
    "tag-characters": "volcano\U000e0041\U000e007f eruption",
}


@pytest.mark.parametrize("name", QUESTIONS)
def test_questions_in_any_script_get_answers(hostile_assistant, hostile_index: Path, name: str) -> None:
    assistant, _ = hostile_assistant
    answer = assistant.ask(QUESTIONS[name])
    check_answer(answer, hostile_index)
    assert answer.question  # cleaned, never emptied: every question above has words


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty"),
        ("   \t\n  ", "the question is empty"),
        ("\x00\x01\x7f\x9f", "the question is empty"),
        ("\u200b\u200e\u202e\u2066\ufeff", "the question is empty"),
        ("\udcff", "the question is empty"),
        ("why " * 600, "the question is 2399 characters long; the limit is 2000"),
    ],
    ids=["empty", "whitespace", "controls-only", "invisible-only", "surrogate-only", "just-too-long"],
)
def test_bad_questions_get_readable_errors(hostile_assistant, question: str, message: str) -> None:
    assistant, embedder = hostile_assistant
    before = embedder.embedded
    with pytest.raises(ConfigError) as caught:
        assistant.ask(question)
    assert str(caught.value) == message
    assert embedder.embedded == before  # refused before anything was embedded


def test_a_megabyte_question_is_refused_before_any_pass_over_it(hostile_assistant, monkeypatch) -> None:
    import assistant.answer.assistant as answering

    assistant, embedder = hostile_assistant
    passes: list[int] = []
    real = answering.clean_question
    monkeypatch.setattr(answering, "clean_question", lambda text: passes.append(len(text)) or real(text))
    before = embedder.embedded
    question = "Why did the volcano erupt? " * (MB // 27 + 1)
    with pytest.raises(ConfigError, match=rf"^the question is {len(question)} characters long; the limit is 2000$"):
        assistant.ask(question)
    assert passes == [] and embedder.embedded == before

    # Padding is judged after cleaning, as long as the raw question is within four times the limit.
    padded = "\u200b".join("How did lava reach Grindavik?")  # 57 characters, 29 once cleaned
    assert assistant.ask(padded).question == "How did lava reach Grindavik?"
    assert passes == [len(padded)]


def test_search_drops_undecodable_and_invisible_characters(hostile_index: Path) -> None:
    from assistant import Retriever

    retriever = Retriever.open(hostile_index, embedder=StrictEmbedder())
    try:
        plain = retriever.search("central bank interest rate", k=3, as_of="2030-01-01")
        noisy = retriever.search("central\udcff bank\u200b interest\x1b rate", k=3, as_of="2030-01-01")
        assert [h.chunk_id for h in noisy] == [h.chunk_id for h in plain]
        with pytest.raises(ConfigError, match="empty"):
            retriever.search("\udcff\u200b\x00", as_of="2030-01-01")
    finally:
        retriever.close()


# -- the CLI, as a user runs it ---------------------------------------------------------------------------------


def _one_line_error(run: Run, code: int, message: str) -> None:
    assert run.code == code, (run.code, run.stderr)
    assert run.stderr.strip() == f"error: {message}", run.stderr
    assert run.stdout == ""


def test_cli_ask_with_hostile_questions(tmp_path: Path, hostile_index: Path) -> None:
    index = ["--index", hostile_index]
    _one_line_error(measured_cli(tmp_path, "ask", "", *index), 2, "the question is empty")
    _one_line_error(measured_cli(tmp_path, "ask", "\u200b\u202e \t", *index), 2, "the question is empty")
    # 100 kB: one argument may be at most 128 kB on Linux, so a megabyte cannot reach the CLI through argv at all.
    too_long = measured_cli(tmp_path, "ask", "why " * 25_000, *index)
    _one_line_error(too_long, 2, "the question is 100000 characters long; the limit is 2000")

    # Bytes that are not UTF-8 reach Python as lone surrogates, which no tokenizer or hash accepts.
    answered = measured_cli(tmp_path, "ask", b"When did the volcano \xff\xfe erupt?", *index, "--json")
    assert answered.code == 0 and "Traceback" not in answered.stderr, answered.stderr
    assert json.loads(answered.stdout)["question"] == "When did the volcano erupt?"

    answered = measured_cli(tmp_path, "ask", "\u202e\x1b[31m🌋 火山 " + QUESTIONS["arabic-rtl-marks"], *index)
    assert answered.code == 0 and "Traceback" not in answered.stderr, answered.stderr
    assert "\x1b" not in answered.stdout and "\u202e" not in answered.stdout
    assert "Sources:" in answered.stdout or "Closest passages:" in answered.stdout


def test_cli_ask_megabyte_question_in_process(hostile_index: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "embedders:StrictEmbedder")
    result = CliRunner().invoke(cli, ["ask", "x" * MB, "--index", str(hostile_index)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.stderr == f"error: the question is {MB} characters long; the limit is 2000\n"

"""An English question whose matching article is in another language: quoted and named, not abstained on, when the
model cannot read that language (the packaged model is English-only); a multilingual model answers as usual."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import build_index
from assistant.answer.assistant import Assistant
from assistant.answer.foreign import foreign_match
from assistant.settings import Settings
from assistant.text.languages import passage_language

REAL = Path(__file__).parent / "data" / "real"  # saved real pages; a German one among English and other ones


@pytest.fixture(scope="module")
def pages_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    folder = tmp_path_factory.mktemp("pages")
    for path in REAL.iterdir():
        if path.name != "README.md":
            shutil.copy(path, folder / path.name)
    index = tmp_path_factory.mktemp("pages-index") / "idx"
    build_index([folder], index, embedder=real_embedder, settings=Settings(progress=False))
    return index


def ask(index: Path, embedder, question: str, **settings):
    with Assistant.open(index, embedder=embedder, settings=Settings(**({"progress": False} | settings))) as assistant:
        return assistant.ask(question)


def test_the_german_article_is_quoted_and_named_rather_than_abstained_on(pages_index: Path, real_embedder) -> None:
    answer = ask(
        pages_index, real_embedder, "How long does the fastest train connection from Madrid to Stockholm take?"
    )
    assert not answer.abstained
    assert answer.text.startswith("The closest matching article is in German")
    assert "36 Stunden. So lange dauert die schnellste Zugverbindung von Madrid nach Stockholm." in answer.text
    assert answer.citations and answer.citations[0].source == "ZEIT ONLINE"
    assert answer.short_answer is None  # an English-only reader cannot check a German answer


def test_without_a_shared_name_it_still_abstains(pages_index: Path, real_embedder) -> None:
    answer = ask(pages_index, real_embedder, "What is the best cheese in Normandy?")
    assert answer.abstained and "don't answer" in answer.text


def test_english_articles_are_answered_as_before(pages_index: Path, real_embedder) -> None:
    answer = ask(pages_index, real_embedder, "How many people will lose power in the PG&E shutoff?")
    assert not answer.abstained and "closest matching article" not in answer.text
    assert "375,000 people" in answer.text


def test_a_multilingual_model_is_trusted_to_have_read_it(pages_index: Path, real_embedder) -> None:
    answer = ask(
        pages_index,
        real_embedder,
        "How long does the fastest train connection from Madrid to Stockholm take?",
        model_multilingual=True,
    )
    assert "closest matching article" not in answer.text


def test_passage_languages() -> None:
    assert (
        passage_language("36 Stunden. So lange dauert die schnellste Zugverbindung von Madrid nach Stockholm.") == "de"
    )
    assert passage_language("The tour kicks off Aug. 20 in Raleigh and wraps up Oct. 10 in Los Angeles.") == "en"
    assert foreign_match("Wie lange dauert die Fahrt?", _no_evidence()) is None  # a question in German is not this case


def _no_evidence():
    import numpy as np

    from assistant.answer.evidence import Evidence

    return Evidence((), (), np.zeros((0, 0), dtype=np.float32), None, ())

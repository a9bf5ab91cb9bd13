"""The page's news features without a browser: the short answer first, the coverage line, timelines, permalinks
and their re-check against a changed index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SEED, SEED_QUESTION

from assistant import build_index
from assistant.settings import Settings

pytest.importorskip("gradio", reason="gradio is not installed: pip install -e .")

from assistant_ui.permalinks import Permalink, read_permalink
from assistant_ui.render import answer_markdown
from assistant_ui.service import ChatService

FILTERS = ("", "", "", [], 8, "extractive")
# A later report from another outlet with another figure for the same investment: the answer changes.
REVISED = """---
title: Alibaba's AI spending revised
date: 2025-03-04
source: Markets Wire
---

Last year, Alibaba invested 31 billion yuan in AI during the first half of the year, a revised filing showed.
"""


@pytest.fixture
def service(tmp_path: Path, real_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (SEED, SEED.with_suffix(".meta.json")):
        shutil.copy(path, corpus / path.name)
    # A bar the one-article seed answer clears (it is held back by default): these tests are about the layout.
    settings = Settings(
        progress=False, index_dir=tmp_path / "index", corpus_dir=corpus, keep_generations=2, reader_confidence=0.3
    )
    build_index([corpus], settings.index_dir, embedder=real_embedder, settings=settings)
    chat = ChatService(settings, settings.index_dir, corpus / "uploads", embedder=real_embedder)
    yield chat
    chat.assistant.close()


def add_revision(service: ChatService, tmp_path: Path, name: str = "revised.md") -> None:
    path = tmp_path / name
    path.write_text(REVISED.replace("31 billion", "31 billion" if name == "revised.md" else "32 billion"), "utf-8")
    outcome = service.add_articles([str(path)], "", "", "")
    assert outcome["added"], outcome


def test_the_chat_message_leads_with_the_short_answer_and_ends_with_the_coverage_line(service) -> None:
    *_, (chat, _, turns, _) = list(service.chat(SEED_QUESTION, [], [], *FILTERS))
    message = chat[-1]["content"]
    assert message.startswith('**23 billion yuan** <a href="#a1-cite-1">[1]</a>\n\n')
    assert message.index("23 billion yuan") < message.index("According to tech news blog")
    assert '<span class="coverage">From 1 article by 1 outlet, in Feb 2025.</span>' in message
    link = service.permalink(turns, *FILTERS)
    assert 'href="?q=How+much+did+Alibaba' in link and "gen=1" in link and "k=8" in link


def test_show_as_timeline_re_asks_the_last_question_as_a_timeline(service) -> None:
    *_, (chat, _, turns, _) = list(service.chat(SEED_QUESTION, [], [], *FILTERS))
    *_, (chat, _, turns, _) = list(service.timeline(chat, turns, *FILTERS))
    assert chat[-2]["content"] == f"Show as timeline: {SEED_QUESTION}"
    assert chat[-1]["content"].startswith("**Timeline** (oldest first)\n\n- ")
    assert turns[-1].timeline and len(turns) == 2
    assert "timeline=1" in service.permalink(turns, *FILTERS)


def test_a_disagreement_links_both_sides_from_the_coverage_line(service, tmp_path: Path) -> None:
    add_revision(service, tmp_path)
    answer = service.assistant.ask(SEED_QUESTION)
    assert answer.conflicts and answer.coverage is not None
    message = answer_markdown(answer, "a2")
    coverage = message[message.index('<span class="coverage">') :]
    one, two = answer.conflicts[0].citations
    assert f'<a href="#a2-cite-{one}">[{one}]</a> says' in coverage
    assert f'<a href="#a2-cite-{two}">[{two}]</a> says' in coverage


def test_permalinks_round_trip() -> None:
    link = Permalink("How much? & why", "2025-03-01", "", "2025-03", ("A & B", "C"), 5, 7, True)
    from urllib.parse import parse_qs

    params = {key: values for key, values in parse_qs(link.query_string()[1:]).items()}
    assert read_permalink(params) == link
    assert read_permalink({"q": ["  "]}) is None
    odd = read_permalink({"q": ["Who?"], "gen": ["abc"], "k": ["9999"]})
    assert odd is not None and odd.generation is None and odd.k is None  # a hand-edited link still opens


def test_reopening_a_permalink_re_asks_on_its_generation_and_compares_with_today(service, tmp_path: Path) -> None:
    params = {"q": [SEED_QUESTION], "gen": ["1"], "k": ["8"]}
    same = service.reopen(params)
    assert same is not None and "Re-asked on index generation 1" in same["recheck"]
    assert same["turns"][0].generation == 1 and "23 billion yuan" in same["chat"][-1]["content"]

    add_revision(service, tmp_path)  # generation 2: a second, different figure
    changed = service.reopen(params)
    assert changed is not None
    assert "The index has changed since this link was made (generation 1 → 2)" in changed["recheck"]
    assert "Then (generation 1)" in changed["recheck"] and "Now (generation 2)" in changed["recheck"]
    assert "31 billion yuan" in changed["recheck"]
    assert changed["turns"][0].generation == 1  # the chat shows the answer the link was made from

    add_revision(service, tmp_path, "revised-again.md")  # generation 3: generation 1 is no longer kept
    gone = service.reopen(params)
    assert gone is not None and "generation 1 is no longer kept" in gone["recheck"]
    assert gone["turns"][0].generation == 3
    assert service.reopen({}) is None

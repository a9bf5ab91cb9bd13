"""What the page's header says about the index and which example questions it offers (ui/overview.py), on a real
index's description and on variations of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FakeEmbedder, news_corpus

from assistant import Settings, build_index, describe_index
from assistant.index.records import DateRange, ListedArticle, SourceCount

pytest.importorskip("gradio", reason="gradio is not installed: pip install -e .")

from assistant_ui.overview import EXAMPLES_SHOWN, overview_of


@pytest.fixture
def described(tmp_path: Path):
    build_index([news_corpus(tmp_path / "news")], tmp_path / "idx", embedder=FakeEmbedder())
    return describe_index(tmp_path / "idx", with_articles=True)


def test_the_header_names_the_count_outlets_dates_and_last_update(described) -> None:
    shown = overview_of(described)
    holdings = shown.header.splitlines()[-1]
    assert shown.header.startswith("## News QA assistant\n") and shown.generation == described.generation
    assert holdings.startswith("**5 articles** · from 3 outlets (Finance Daily, Reykjavik Post, Sports Wire)")
    assert "dated 2023-01-15 to 2024-03-10" in holdings and "last updated " in holdings and holdings.endswith(" UTC")


def test_examples_ask_about_the_newest_headlines_first(described) -> None:
    examples = overview_of(described).examples
    assert examples == (
        "What do the articles say about “Volcano erupts on Iceland peninsula”?",
        "What do the articles say about “Central bank raises interest rates”?",
        "What do the articles say about “Local club wins the cup final”?",
    )
    assert len(examples) == EXAMPLES_SHOWN


def test_many_outlets_are_counted_past_the_first_four_and_one_article_is_singular(described) -> None:
    many = tuple(SourceCount(f"Outlet {n}", articles=10 - n) for n in range(7))
    assert (
        "from 7 outlets (Outlet 0, Outlet 1, Outlet 2, Outlet 3 and 3 more)"
        in overview_of(replace(described, sources=many)).header
    )
    one = replace(
        described, articles=1, sources=(SourceCount("Only Wire", 1),), date_range=DateRange("2024-01", "2024-01", 0)
    )
    assert "**1 article** · from 1 outlet (Only Wire) · dated 2024-01 · last updated" in overview_of(one).header


def test_an_empty_index_says_where_to_add_articles_and_offers_no_examples(described) -> None:
    empty = replace(described, articles=0, sources=(), date_range=DateRange(None, None, 0), article_list=())
    shown = overview_of(empty)
    assert shown.header.endswith("The index holds no articles yet: add some in the Library tab.")
    assert shown.examples == ()


def test_examples_skip_untitled_and_repeated_headlines_and_outlet_names_are_escaped(described) -> None:
    def listed(title: str, date: str | None) -> ListedArticle:
        return ListedArticle(f"id-{title}-{date}", title, date, "x", None, None)

    articles = (listed("", "2025-01-03"), listed("Same story", "2025-01-02"), listed("Same story", "2025-01-01"))
    assert overview_of(replace(described, article_list=articles)).examples == (
        "What do the articles say about “Same story”?",
    )
    hostile = replace(described, sources=(SourceCount("<b>*Wire*</b>", 5),))
    assert "<b>" not in overview_of(hostile).header and "\\*Wire\\*" in overview_of(hostile).header


def test_the_service_lists_articles_again_only_for_a_new_generation_and_keeps_its_overview_through_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant_ui.service import ChatService

    import assistant
    from assistant import StoreUnavailableError, update_index

    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    service = ChatService(Settings(), tmp_path / "idx", tmp_path / "uploads", embedder=FakeEmbedder())
    listings: list[bool] = []
    real = assistant.describe_index

    def counting(*args, with_articles: bool = False, **kwargs):
        listings.append(with_articles)
        return real(*args, with_articles=with_articles, **kwargs)

    monkeypatch.setattr(assistant, "describe_index", counting)
    header, examples = service.overview()
    assert service.overview() == (header, examples) and listings.count(True) == 1  # the second poll lists nothing
    (corpus / "ferry.txt").write_text("Harbor ferry resumes\n\nThe ferry runs again.\n", encoding="utf-8")
    update_index([corpus], tmp_path / "idx", embedder=FakeEmbedder())
    newer = service.overview()
    assert "**6 articles**" in newer[0] and listings.count(True) == 2

    def down(*args, **kwargs):
        raise StoreUnavailableError("the Milvus server at 127.0.0.1:19530 does not answer")

    monkeypatch.setattr(assistant, "describe_index", down)
    assert service.overview() == newer  # the last overview stays
    fresh = ChatService(Settings(), tmp_path / "idx", tmp_path / "uploads", embedder=FakeEmbedder())
    assert fresh.overview() == (
        "The index cannot be read right now: the Milvus server at 127.0.0.1:19530 does not answer",
        (),
    )

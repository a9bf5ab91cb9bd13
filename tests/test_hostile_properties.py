"""Hostile input as properties (hypothesis): the cleaner never lets a control, format or surrogate character through;
the chunker's passages are exactly LangChain's, map back to their article, cover it and do not depend on other
articles; the linear replacements of two regexes agree with them.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from conftest import FakeEmbedder, news_corpus
from hostile_corpus import HOSTILE_CHARS, bad_raw_chars, bad_text_chars, prose
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from assistant import build_index
from assistant.documents import Article
from assistant.index.ids import chunk_id
from assistant.index.local.reader import IndexReader
from assistant.indexing.chunking import chunk_article, passages
from assistant.text.cleaning import clean_inline, clean_text, strip_unprintable

_HOSTILE_TEXT = st.lists(st.one_of(st.text(max_size=6), HOSTILE_CHARS, HOSTILE_CHARS), max_size=60).map("".join)


@hyp_settings(max_examples=400, deadline=None)
@given(_HOSTILE_TEXT)
def test_cleaner_never_emits_control_format_or_surrogate_characters(raw: str) -> None:
    body, inline, raw_value = clean_text(raw), clean_inline(raw), strip_unprintable(raw)
    assert not bad_text_chars(body)
    assert not bad_raw_chars(inline) and not bad_raw_chars(raw_value)
    for value in (body, inline, raw_value):
        value.encode("utf-8")  # storable and hashable: no lone surrogate survives


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["#", " ", "\t", "a", "b", "C#", "##", " #", "x y"]), max_size=12).map("".join))
def test_markdown_heading_matches_the_regex_it_replaced(line: str) -> None:
    from assistant.ingest.markdown import _md_heading

    line = line.strip()
    match = re.fullmatch(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*", line)
    assert _md_heading(line) == (match[1] if match else None)


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["|", " ", "\t", "a", " |", "| ", "||"]), max_size=14).map("".join))
def test_trailing_pipes_match_the_regex_they_replaced(line: str) -> None:
    from assistant.text.cleaning import _strip_trailing_pipes

    assert _strip_trailing_pipes(line) == re.sub(r"(?:\s+\|)+$", "", line)


# Repetitive text from few symbols: where looking a passage up in its article was ambiguous.
_REPETITIVE = st.lists(st.sampled_from(["a", "b", "ab", " ", ". ", "\n", "\n\n", ", ", "\t", "é", "日"]), max_size=500)
_ANY_TEXT = st.one_of(_REPETITIVE.map("".join), st.text(max_size=1500))


@hyp_settings(max_examples=300, deadline=None)
@given(text=_ANY_TEXT, size=st.integers(2, 300), overlap=st.integers(0, 200))
def test_passages_are_exactly_langchains(text: str, size: int, overlap: int) -> None:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.indexing.chunking import _SEPARATORS

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=min(overlap, size // 2),
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )
    assert [text[start:end] for start, end in passages(text, size=size, overlap=overlap)] == splitter.split_text(text)


@hyp_settings(max_examples=300, deadline=None)
@given(text=_ANY_TEXT, size=st.integers(100, 400), overlap=st.integers(0, 150))
def test_chunks_of_any_text_map_back_and_cover_it_without_gaps(text: str, size: int, overlap: int) -> None:
    article = Article("any/1", "Any", text, date="2024-03-01")
    chunks = chunk_article(article, size=size, overlap=overlap)
    covered = bytearray(len(text))
    previous = None
    for ordinal, chunk in enumerate(chunks):
        assert text[chunk.start : chunk.end] == chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= size
        assert (chunk.ordinal, chunk.id) == (ordinal, chunk_id(article.id, ordinal, "2024-03-01"))
        if previous is not None:
            assert previous.start < chunk.start
            assert text[previous.end : chunk.start].strip() == ""  # only whitespace between passages, never words
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
        previous = chunk
    assert all(covered[i] for i, char in enumerate(text) if not char.isspace())
    assert chunk_article(article, size=size, overlap=overlap) == chunks


@hyp_settings(max_examples=100, deadline=None)
@given(texts=st.lists(_ANY_TEXT, min_size=2, max_size=4))
def test_chunk_ids_do_not_depend_on_other_articles(texts: list[str]) -> None:
    articles = [Article(f"corpus/{n}.txt", f"T{n}", text) for n, text in enumerate(texts)]
    alone = [chunk_article(article, size=150, overlap=20) for article in articles]
    together = [chunk_article(article, size=150, overlap=20) for article in reversed(articles)][::-1]
    assert together == alone


def test_indexed_chunk_ids_do_not_depend_on_other_articles(tmp_path: Path) -> None:
    news = news_corpus(tmp_path / "news")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "more.txt").write_text("More news\n\n" + " ".join(prose(random.Random(1), "extra", 20)), "utf-8")

    def rows(index: Path, *inputs: Path) -> set[tuple]:
        build_index(list(inputs), index, embedder=FakeEmbedder())
        reader = IndexReader.open(index)
        try:
            return {tuple(row) for row in reader.query("SELECT id, article_id, ordinal, start, end, text FROM chunks")}
        finally:
            reader.close()

    alone = rows(tmp_path / "alone", news)
    with_more = rows(tmp_path / "more", extra, news)
    assert alone and alone < with_more

"""Reproducible builds: indexing the same articles twice gives the same rows, segment files and answers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import REPO, SEED_QUESTION, FakeEmbedder, news_corpus
from durability import AS_OF, GOLDEN_QUERIES, current

from assistant import Retriever, build_index
from assistant.index.local.reader import IndexReader


def _fingerprint(index: Path, embedder: object, queries: tuple[str, ...], as_of: str) -> dict[str, object]:
    """Everything two builds of the same articles must agree on: rows, vectors and the answers to queries."""
    reader = IndexReader.open(index)
    try:
        articles = reader.query(
            "SELECT id, title, text, date, day, source, url, author, origin, content_hash, copy_hash FROM articles "
            "ORDER BY id"
        )
        chunks = reader.query("SELECT id, article_id, ordinal, start, end, text FROM chunks ORDER BY id")
        manifest = {key: reader.body[key] for key in ("model", "chunker", "counts", "roots")}
    finally:
        reader.close()
    retriever = Retriever.open(index, embedder=embedder)
    try:
        results = {
            query: [(h.chunk_id, h.article_id, h.score, h.dense, h.bm25) for h in retriever.search(query, as_of=as_of)]
            for query in queries
        }
    finally:
        retriever.close()
    return {
        "articles": [tuple(row) for row in articles],
        "chunks": [tuple(row) for row in chunks],
        # Every segment file (vectors, rows, terms, postings), byte for byte.
        "segments": {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (index / current(index) / "segments").iterdir()
        },
        "manifest": manifest,
        "results": results,
    }


def test_rebuilding_the_same_corpus_gives_the_same_index_and_answers(tmp_path: Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    prints = []
    for name in ("one", "two"):
        build_index([corpus], tmp_path / name, embedder=FakeEmbedder())
        prints.append(_fingerprint(tmp_path / name, FakeEmbedder(), GOLDEN_QUERIES, AS_OF))
    assert prints[0] == prints[1]
    assert len(prints[0]["articles"]) == 5 and all(prints[0]["results"].values())


@pytest.mark.slow  # about 5 s of model calls on top of loading the model
def test_rebuilding_the_default_corpus_with_the_real_model_gives_the_same_answers(
    tmp_path: Path, real_embedder: object
) -> None:
    corpus = REPO / "corpus"
    queries = (SEED_QUESTION, "Which companies are spending on artificial intelligence?", "Baidu chatbot")
    prints = []
    for name in ("one", "two"):
        build_index([corpus], tmp_path / name, embedder=real_embedder)
        prints.append(_fingerprint(tmp_path / name, real_embedder, queries, "2025-06-01"))
    assert prints[0] == prints[1]
    assert all(prints[0]["results"].values())

"""Chunks map back to their article exactly; the packaged model is found, loaded offline and identified."""

from __future__ import annotations

import hashlib
import re
import socket
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, FakeEmbedder
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from assistant import ModelError, build_index
from assistant.documents import Article
from assistant.embed.base import PACKAGED_DISTRIBUTION, PACKAGED_MODEL_NAME, packaged_model_path, resolve_model
from assistant.embed.factory import load_embedder
from assistant.embed.torch import SentenceTransformerEmbedder
from assistant.index.ids import chunk_id
from assistant.index.local.reader import IndexReader
from assistant.indexing.chunking import chunk_article


def _check_chunks(article: Article, size: int, overlap: int) -> list:
    chunks = chunk_article(article, size=size, overlap=overlap)
    for ordinal, chunk in enumerate(chunks):
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= size
        assert (chunk.article_id, chunk.ordinal, chunk.id) == (article.id, ordinal, chunk_id(article.id, ordinal))
    assert chunk_article(article, size=size, overlap=overlap) == chunks  # same ids and offsets every time
    return chunks


def _uncovered(text: str, chunks: list) -> list[int]:
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    return [i for i, char in enumerate(text) if not char.isspace() and not covered[i]]


# -- offsets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "overlap"), [(800, 120), (200, 40), (100, 0)])
def test_seed_chunks_map_back_and_cover_the_text(size: int, overlap: int) -> None:
    text = SEED.read_text(encoding="utf-8")
    article = Article("seed", "Seed", text)
    chunks = _check_chunks(article, size, overlap)
    assert len(chunks) >= len(text) // size
    assert _uncovered(text, chunks) == []
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


@hypothesis_settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=1500), size=st.integers(100, 400), overlap=st.integers(0, 150))
def test_offsets_map_back_for_any_text(text: str, size: int, overlap: int) -> None:
    chunks = _check_chunks(Article("any", "Any", text), size, overlap)
    assert bool(chunks) == bool(text.strip())


# Distinct words that cannot occur inside one another (w<n>x), so a chunk's text occurs once in the article.
_words = st.lists(st.integers(0, 10_000), min_size=1, max_size=200, unique=True).map(lambda ns: [f"w{n}x" for n in ns])
_separators = st.lists(
    st.sampled_from([" ", "  ", "\n", "\n\n", ". ", ", ", "; ", "! ", "\t"]), min_size=200, max_size=200
)


@hypothesis_settings(max_examples=100, deadline=None)
@given(words=_words, separators=_separators, size=st.integers(100, 400), overlap=st.integers(0, 150))
def test_chunks_cover_every_character(words: list[str], separators: list[str], size: int, overlap: int) -> None:
    text = "".join(word + separator for word, separator in zip(words, separators, strict=False))
    chunks = _check_chunks(Article("unique", "Unique", text), size, overlap)
    assert _uncovered(text, chunks) == []


@pytest.mark.parametrize(
    "text",
    ["Breaking news today. " * 30, "a" * 250, "The market opened.\n\n" * 40],
    ids=["repeated-sentence", "one-letter", "repeated-paragraph"],
)
def test_repeated_text_is_covered_at_the_right_offsets(text: str) -> None:
    chunks = _check_chunks(Article("repeats", "Repeats", text), 100, 20)
    assert _uncovered(text, chunks) == []
    assert chunks[-1].end == len(text.rstrip())


@pytest.mark.parametrize("text", ["word " * 700, "Ab. " * 500 + "\n\n" + "Ab. " * 500, "x" * 5000])
def test_when_the_walk_disagrees_the_splitters_chunks_are_located(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """LangChain's splitter produces the chunks; if the offset walk ever disagreed, its pieces are found in order."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.indexing import chunking

    article = Article(id="rep", title="Repeats", text=text.strip())
    expected = RecursiveCharacterTextSplitter(
        chunk_size=200, chunk_overlap=30, separators=chunking._SEPARATORS, keep_separator="end"
    ).split_text(article.text)
    monkeypatch.setattr(chunking, "passages", lambda *args, **kwargs: iter([]))  # a walk that finds nothing
    chunks = chunking.chunk_article(article, size=200, overlap=30)
    assert [c.text for c in chunks] == expected
    assert all(article.text[c.start : c.end] == c.text for c in chunks)
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})  # in order, none located twice


def test_ids_depend_on_article_and_ordinal_only() -> None:
    one = chunk_article(Article("a/1.txt", "T", "First paragraph.\n\nSecond paragraph."), size=100, overlap=0)
    renamed = chunk_article(Article("a/2.txt", "T", "First paragraph.\n\nSecond paragraph."), size=100, overlap=0)
    assert [c.id for c in one] != [c.id for c in renamed]
    assert all(0 <= c.id < 2**63 for c in one + renamed)


def test_seed_chunks_carry_no_scrape_debris(tmp_path: Path) -> None:
    build_index([SEED], tmp_path / "idx", embedder=FakeEmbedder())
    reader = IndexReader.open(tmp_path / "idx")
    texts = [row[0] for row in reader.query("SELECT text FROM chunks")]
    article_text = reader.query("SELECT text FROM articles")[0][0]
    reader.close()
    assert any("23 billion yuan" in text for text in texts)
    for text in [*texts, article_text]:
        assert "![]()" not in text and "Post a Comment" not in text
        for line in text.splitlines():
            assert not line.rstrip().endswith("|") and not line.lstrip().startswith("|"), line


# -- the packaged model ----------------------------------------------------------------------------------------


def test_packaged_model_path_comes_from_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = packaged_model_path()
    dist = metadata.distribution(PACKAGED_DISTRIBUTION)
    shipped = {Path(str(dist.locate_file(f))).resolve() for f in dist.files or ()}
    assert folder / "modules.json" in shipped
    assert (folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file()
    assert resolve_model(None) == ("sentence-transformers/all-MiniLM-L6-v2", folder)

    def missing(name: str):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(ModelError, match=f"pip install {PACKAGED_DISTRIBUTION}"):
        packaged_model_path()


def test_real_model_is_offline_normalised_and_identified(real_embedder) -> None:
    assert isinstance(real_embedder, SentenceTransformerEmbedder)
    vectors = real_embedder.embed(
        ["Alibaba invested 23 billion yuan in AI.", "Alibaba put 23 billion yuan into artificial intelligence.", "Lava"]
    )
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384) and real_embedder.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3  # it is a language model, not noise
    assert real_embedder.embed([]).shape == (0, 384)

    folder = packaged_model_path()
    weights = next(folder / name for name in ("model.safetensors", "pytorch_model.bin") if (folder / name).is_file())
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert real_embedder.identity == f"sentence-transformers/all-MiniLM-L6-v2@sha256:{digest}"
    assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", real_embedder.identity)
    assert load_embedder() is real_embedder  # loaded once per process


def test_model_loads_with_the_network_blocked(monkeypatch: pytest.MonkeyPatch, real_embedder) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("this test has no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(Path.cwd() / "empty-hf-home"))  # no cache to fall back on either
    fresh = SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, packaged_model_path())
    assert fresh is not real_embedder and fresh.identity == real_embedder.identity
    texts = ["Baidu invested 4.2 billion yuan in AI."]
    assert np.allclose(fresh.embed(texts), real_embedder.embed(texts), atol=1e-5)


def test_unknown_model_name_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="no/such-model"):
        resolve_model("no/such-model")
    with pytest.raises(ModelError):
        load_embedder("no/such-model")


def test_folder_without_weights_is_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "empty-model"
    folder.mkdir()
    with pytest.raises(ModelError, match="no weights file"):
        load_embedder(str(folder))
    # A sentence-transformers layout without weights is refused the same way.
    for name in ("modules.json", "config.json", "config_sentence_transformers.json"):
        (folder / name).write_text((packaged_model_path() / name).read_text())
    with pytest.raises(ModelError, match="no weights file"):
        load_embedder(str(folder))

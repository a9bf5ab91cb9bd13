"""Building and updating: only new or changed articles are embedded, gone ones removed, bad input skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FakeEmbedder, article_ids, news_corpus, write_jsonl

from assistant import (
    ConfigError,
    IndexLockedError,
    IndexNotFoundError,
    ModelMismatchError,
    NothingIndexedError,
    Retriever,
    build_index,
    remove_articles,
    update_index,
)
from assistant.index.local.reader import IndexReader, kept_generations
from assistant.index.records import Counts, ModelRecord
from assistant.index.store import backend_for
from assistant.settings import get_settings


def test_build_indexes_every_article_and_verifies(
    tmp_path: Path, fake_embedder: FakeEmbedder, index_location: str | Path
) -> None:
    corpus = news_corpus(tmp_path / "news")
    summary = build_index([corpus], index_location, embedder=fake_embedder)
    assert summary.published and summary.generation == 1
    assert len(summary.added) == 5 and summary.articles == 5
    assert summary.chunks == fake_embedder.embedded == summary.embedded_chunks
    commit, problems = backend_for(index_location).check()
    assert problems == () and commit is not None
    assert commit.model == ModelRecord(name="fake-hashing", identity="fake-hashing@v1", dimension=64)
    assert commit.counts == Counts(articles=5, chunks=summary.chunks)


def test_update_embeds_only_the_new_article(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    counting = FakeEmbedder()
    summary = update_index([corpus], index_location, embedder=counting)
    assert summary.counts() == {"added": 1, "changed": 0, "removed": 0, "unchanged": 5, "skipped": 0}
    assert summary.added == ["news/new.txt"]
    # Only the new article's chunk went through the model.
    assert counting.embedded == 1 and "Comet seen over the bay" in counting.calls[0][0]
    assert summary.generation == 2 and summary.articles == 6


def test_unchanged_update_publishes_nothing(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    counting = FakeEmbedder()
    summary = update_index([corpus], index_location, embedder=counting)
    assert not summary.published and summary.generation == 1 and counting.embedded == 0
    assert summary.unchanged == 5


def test_changed_and_deleted_files(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    (corpus / "football.md").write_text("---\ntitle: Club loses the final\ndate: 2024-02-21\n---\n\nThey lost 0-2.\n")
    (corpus / "volcano.md").unlink()
    counting = FakeEmbedder()
    summary = update_index([corpus], index_location, embedder=counting)
    assert summary.changed == ["news/football.md"] and summary.removed == ["news/volcano.md"]
    assert counting.embedded == 1
    assert "news/volcano.md" not in article_ids(index_location)
    assert backend_for(index_location).check().problems == ()


def test_update_of_one_file_does_not_prune_its_siblings(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    summary = update_index([corpus / "rates.md"], index_location, embedder=FakeEmbedder())
    assert summary.removed == [] and len(article_ids(index_location)) == 5


def test_renamed_file_is_reindexed_not_lost(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    shutil.move(corpus / "rates.md", corpus / "rates-renamed.md")
    summary = update_index([corpus], index_location, embedder=FakeEmbedder())
    assert summary.added == ["news/rates-renamed.md"] and summary.removed == ["news/rates.md"]


def test_file_that_turns_bad_keeps_its_articles(tmp_path: Path, index_location: str | Path) -> None:
    corpus = tmp_path / "feed"
    corpus.mkdir()
    records = [
        {
            "id": f"a{i}",
            "title": f"Story {i}",
            "text": f"Body of story number {i}.",
            "date": "2024-01-0" + str(i),
        }
        for i in range(1, 4)
    ]
    write_jsonl(corpus / "items.jsonl", records)
    build_index([corpus], index_location, embedder=FakeEmbedder())
    # A malformed line appears and a record disappears: the file is not trusted, so nothing is pruned.
    (corpus / "items.jsonl").write_text(
        '{"id": "a1", "title": "Story 1", "text": "Body of story number 1.", "date": "2024-01-01"}\n{not json\n'
    )
    summary = update_index([corpus], index_location, embedder=FakeEmbedder())
    assert summary.removed == [] and article_ids(index_location) == {"a1", "a2", "a3"}
    assert [(s.line, "malformed JSON" in s.reason) for s in summary.skipped] == [(2, True)]


def test_remove_by_id(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    summary = remove_articles(["news/rates.md", "nope"], index_location)
    assert summary.removed == ["news/rates.md"] and [s.origin for s in summary.skipped] == ["nope"]
    assert "news/rates.md" not in article_ids(index_location) and backend_for(index_location).check().problems == ()


def test_exact_duplicates_are_stored_once(tmp_path: Path, index_location: str | Path) -> None:
    corpus = tmp_path / "dups"
    corpus.mkdir()
    text = "Same words\n\nThe exact same article body, syndicated twice.\n"
    (corpus / "a.txt").write_text(text)
    (corpus / "b.txt").write_text(text)
    summary = build_index([corpus], index_location, embedder=FakeEmbedder())
    assert summary.articles == 1
    assert [s.reason for s in summary.skipped] == ["duplicate of dups/a.txt"]
    # Across runs too: the same text arriving later is not stored again.
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "c.txt").write_text(text)
    later = update_index([tmp_path / "more"], index_location, embedder=FakeEmbedder())
    assert later.added == [] and later.skipped[0].reason == "duplicate of dups/a.txt"


def test_bad_inputs_are_skipped_and_the_index_kept(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("")
    (bad / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (bad / "latin1.txt").write_bytes("Caf\xe9 news\n\nThe caf\xe9 opened.".encode("latin-1"))
    (bad / "big.txt").write_text("Big\n\n" + "word " * 400_000)
    write_jsonl(bad / "ok.jsonl", [{"title": "Fine", "text": "A perfectly fine record."}])
    with (bad / "ok.jsonl").open("a") as handle:
        handle.write("{broken\n")
    settings = get_settings(max_file_mb=1.0)
    summary = update_index([bad], index_location, embedder=FakeEmbedder(), settings=settings)
    reasons = {Path(s.origin).name + (f":{s.line}" if s.line else ""): s.reason for s in summary.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.txt", "big.txt", "ok.jsonl:2"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"] and "too large" in reasons["big.txt"]
    assert "malformed JSON" in reasons["ok.jsonl:2"]
    assert len(summary.added) == 1 and summary.articles == 6


def test_build_where_every_input_fails_raises_and_keeps_old_index(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("   \n")
    with pytest.raises(NothingIndexedError, match="empty"):
        build_index([bad], index_location, embedder=FakeEmbedder())
    assert len(article_ids(index_location)) == 5
    with pytest.raises(NothingIndexedError):
        build_index([bad], tmp_path / "fresh", embedder=FakeEmbedder())
    assert not (tmp_path / "fresh" / "CURRENT").exists()


def test_model_mismatch_is_refused(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())

    class Other(FakeEmbedder):
        identity = "other-model@v9"

    with pytest.raises(ModelMismatchError, match="fake-hashing@v1"):
        update_index([corpus], index_location, embedder=Other())
    with pytest.raises(ModelMismatchError, match="other-model@v9"):
        Retriever.open(index_location, embedder=Other())


def test_changed_chunker_settings_need_a_rebuild(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    with pytest.raises(ConfigError, match="rebuild"):
        update_index([corpus], index_location, embedder=FakeEmbedder(), settings=get_settings(chunk_size=300))


def test_second_writer_gets_a_clear_error(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    model = ModelRecord(name="fake-hashing", identity="fake-hashing@v1", dimension=64)
    with (
        backend_for(index_location).writer(model=model, chunker=None),
        pytest.raises(IndexLockedError, match="being updated"),
    ):
        update_index([corpus], index_location, embedder=FakeEmbedder())
    # The lock is released with the writer.
    assert update_index([corpus], index_location, embedder=FakeEmbedder()).unchanged == 5


def test_rebuild_gives_the_same_ids(tmp_path: Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], tmp_path / "one", embedder=FakeEmbedder())
    build_index([corpus], tmp_path / "two", embedder=FakeEmbedder())
    rows = []
    for name in ("one", "two"):
        reader = IndexReader.open(tmp_path / name)
        rows.append(reader.query("SELECT id, article_id, start, end FROM chunks ORDER BY id"))
        reader.close()
    assert [tuple(r) for r in rows[0]] == [tuple(r) for r in rows[1]]


def test_old_generations_are_pruned_but_previous_kept(tmp_path: Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=FakeEmbedder())
    for i in range(3):
        (corpus / f"extra{i}.txt").write_text(f"Extra {i}\n\nExtra story number {i}.\n")
        update_index([corpus], index, embedder=FakeEmbedder())
    # Updates happen inside the one store; the generations before the last two can no longer be opened.
    assert (index / "CURRENT").read_text().strip() == "store-000001"
    assert kept_generations(index) == [3, 4]
    pinned = IndexReader.open(index, generation=3)
    assert pinned.generation == 3 and {row[0] for row in pinned.query("SELECT id FROM articles")} == {
        *article_ids(index) - {"news/extra2.txt"}
    }
    pinned.close()
    with pytest.raises(IndexNotFoundError, match="generation 2 is no longer kept"):
        IndexReader.open(index, generation=2)


def test_same_body_under_different_titles_is_kept(tmp_path: Path, index_location: str | Path) -> None:
    # Scrapes of different stories can share a body (an ad form, a paywall notice): only titles tell them apart.
    corpus = tmp_path / "scrapes"
    corpus.mkdir()
    body = "How relevant is this ad to you? Video player was slow to load content."
    write_jsonl(
        corpus / "items.jsonl",
        [
            {"id": "ford", "title": "ford recall", "text": body},
            {"id": "taco", "title": "taco bell pizza", "text": body},
        ],
    )
    summary = build_index([corpus], index_location, embedder=FakeEmbedder())
    assert summary.skipped == [] and article_ids(index_location) == {"ford", "taco"}


def test_update_from_a_glob_prunes_only_what_the_glob_covers(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    index = index_location
    build_index([corpus], index, embedder=FakeEmbedder())
    (corpus / "rates.md").unlink()
    (corpus / "undated.txt").unlink()
    summary = update_index([str(corpus / "*.md")], index, embedder=FakeEmbedder())
    # The .md pattern covers rates.md, so its absence removes it; undated.txt was outside the pattern and stays.
    assert summary.removed == ["news/rates.md"]
    assert "news/undated.txt" in article_ids(index)

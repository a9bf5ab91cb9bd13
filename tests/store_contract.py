"""What any index backend must do, tested through the store's own seam (``Backend``, ``StoreReader``,
``StoreWriter``), as haystack's ``DocumentStoreBaseTests`` does: a backend's test class subclasses
:class:`StoreContract` and gives the ``location`` fixture (tests/test_store_backends.py runs it on both).

Behaviour above the seam (updates from files, answers, the page) has its own suites, parametrised over both backends
by the ``index_location`` fixture; this one pins the seam itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from assistant.documents import Article
from assistant.errors import IndexLockedError, IndexNotFoundError
from assistant.index.candidates import Window
from assistant.index.ids import day_range
from assistant.index.records import ChunkerRecord, ModelRecord
from assistant.index.store import Backend, StoreWriter, backend_for
from assistant.indexing.chunking import chunk_article
from assistant.settings import get_settings

EMBEDDER = FakeEmbedder()
MODEL = ModelRecord(EMBEDDER.name, EMBEDDER.identity, EMBEDDER.dimension)
CHUNKER = ChunkerRecord("test", 900, 60)
EVERYTHING = Window(0, 1 << 62)
ARTICLES = [
    Article("volcano", "Lava in Iceland", "The volcano near Grindavik erupted again on Monday, lava crossed the road.",
            date="2024-03-01", source="Nordic Wire", url="https://example.org/volcano"),
    Article("rates", "Central bank holds rates", "The central bank kept its interest rate at four percent.",
            date="2024-05-02", source="Money Daily"),
    Article("cup", "Cup final", "The home side won the cup final after extra time.", date="2023-11-20",
            source="Nordic Wire"),
    Article("undated", "Gardening", "Plant tomatoes after the last frost and water them deeply."),
]  # fmt: skip


def add(writer: StoreWriter, *articles: Article) -> None:
    for article in articles:
        chunks = chunk_article(article)
        vectors = EMBEDDER.embed([c.text for c in chunks])
        writer.add(article, chunks, vectors, file=f"/corpus/{article.id}.txt", root="/corpus")


def top(backend: Backend, query: str, window: Window = EVERYTHING) -> tuple[list[str], list[str]]:
    """The article ids of the passages nearest ``query`` by meaning, and by words."""
    reader = backend.reader()
    try:
        dense = reader.dense(EMBEDDER.embed([query])[0], 10, window)
        lexical = reader.lexical(query.split(), 10, window)
        rows = reader.chunk_rows([*map(int, dense.ids), *map(int, lexical.ids)])
        return [rows[int(i)].article_id for i in dense.ids], [rows[int(i)].article_id for i in lexical.ids]
    finally:
        reader.close()


class StoreContract:
    """The behaviour tests every backend must pass."""

    # Whether a reader opened before a commit goes on reading its own generation in full (the local store keeps
    # every kept generation; Milvus deletes what a commit drops, so an older reader loses those rows).
    keeps_open_generations = True

    @pytest.fixture
    def location(self, tmp_path: Path) -> Iterator[str | Path]:
        raise NotImplementedError("a backend's test class gives the location of a new index")

    @pytest.fixture
    def backend(self, location: str | Path) -> Backend:
        return backend_for(location, get_settings(progress=False))

    @pytest.fixture
    def built(self, backend: Backend) -> Backend:
        with backend.writer(model=MODEL, chunker=CHUNKER, fresh=True) as writer:
            add(writer, *ARTICLES)
            writer.commit()
        return backend

    def test_a_new_location_holds_no_index(self, backend: Backend) -> None:
        with pytest.raises(IndexNotFoundError):
            backend.require()
            backend.reader()

    def test_a_commit_publishes_what_was_added_with_the_model_and_counts(self, built: Backend) -> None:
        reader = built.reader()
        try:
            commit = reader.commit
            assert (commit.generation, commit.model, commit.counts.articles) == (1, MODEL, 4)
            assert reader.chunk_count == commit.counts.chunks >= 4
            assert reader.sources() == ("Money Daily", "Nordic Wire")
            first = reader.first_chunks(["volcano", "rates"])
            rows = reader.chunk_rows(first)
            assert {row.article_id for row in rows.values()} == {"volcano", "rates"}
            row = next(r for r in rows.values() if r.article_id == "volcano")
            assert (row.title, row.date, row.source, row.url) == (
                "Lava in Iceland", "2024-03-01", "Nordic Wire", "https://example.org/volcano"
            )  # fmt: skip
            assert row.text in ARTICLES[0].text
            assert reader.stem_frequencies(["volcano", "unheardofword"]) == {"volcano": 1}
        finally:
            reader.close()
        assert built.check().problems == ()
        assert built.kept_generations()[-1] == 1

    def test_searches_rank_and_filter_by_window_and_outlet(self, built: Backend) -> None:
        dense, lexical = top(built, "volcano lava")
        assert dense[0] == "volcano" and lexical == ["volcano"]
        spring = Window(*day_range("2024-04-01", "2024-12-31"))
        assert set(top(built, "volcano lava central bank", spring)[0]) == {"rates"}
        nordic = Window(0, 1 << 62, sources=("Nordic Wire",))
        assert set(top(built, "volcano central bank cup", nordic)[0]) == {"volcano", "cup"}
        assert top(built, "volcano", Window(0, 1 << 62, sources=()))[0] == []  # no outlet: nothing
        undated = Window(*day_range("2024-01-01", "2024-12-31"), undated=True)
        assert "undated" in top(built, "tomatoes frost", undated)[0]

    def test_nothing_shows_before_the_commit_and_a_reader_keeps_its_generation(self, built: Backend) -> None:
        before = built.reader()
        try:
            with built.writer(model=MODEL, chunker=CHUNKER) as writer:
                assert writer.base is not None and writer.base.generation == 1
                add(writer, Article("comet", "Comet", "A bright comet was seen over the bay.", date="2024-06-01"))
                assert writer.remove(["cup"]) == 1
                assert top(built, "comet bay")[1] == [] and "cup" in top(built, "cup final")[1]
                commit = writer.commit()
            assert (commit.generation, commit.counts.articles) == (2, 4)
            assert not before.is_latest() and before.generation == 1
            assert top(built, "comet bay")[1] == ["comet"] and top(built, "cup final extra time")[1] == []
            # The old reader still reads generation 1 as it was, where the backend keeps it.
            assert before.lexical(["cup"], 10, EVERYTHING).ids.size == int(self.keeps_open_generations)
        finally:
            before.close()
        assert built.check().problems == ()

    def test_a_write_that_fails_publishes_nothing(self, built: Backend) -> None:
        with pytest.raises(RuntimeError, match="failed"), built.writer(model=MODEL, chunker=CHUNKER) as writer:
            add(writer, Article("comet", "Comet", "A bright comet was seen over the bay."))
            writer.remove(["volcano"])
            raise RuntimeError("failed")
        assert built.describe().generation == 1 and built.describe().articles == 4
        assert top(built, "comet bay")[1] == [] and built.check().problems == ()

    def test_one_writer_at_a_time(self, built: Backend) -> None:
        with built.writer(model=None, chunker=None), pytest.raises(IndexLockedError):
            built.writer(model=None, chunker=None).__enter__()

    def test_the_live_articles_and_the_removals_remembered(self, built: Backend) -> None:
        with built.writer(model=None, chunker=None) as writer:
            assert writer.base is not None and writer.base.model == MODEL  # a removal takes the index's own
            live = writer.articles()
            assert set(live) == {"volcano", "rates", "cup", "undated"}
            volcano = live["volcano"]
            assert (volcano.title, volcano.url, volcano.file) == (
                "Lava in Iceland", "https://example.org/volcano", "/corpus/volcano.txt"
            )  # fmt: skip
            writer.remove(["volcano", "cup"])
            writer.remember([live["volcano"], live["cup"]])
            writer.forget(["cup"])
            writer.commit()
        with built.writer(model=None, chunker=None) as writer:
            assert set(writer.articles()) == {"rates", "undated"}
            (removal,) = writer.removed().values()
            assert (removal.id, removal.title, removal.file) == ("volcano", "Lava in Iceland", "/corpus/volcano.txt")
        info = built.describe(with_articles=True)
        assert [r.id for r in info.removed] == ["volcano"] and info.articles == 2
        assert sorted(a.id for a in info.article_list or ()) == ["rates", "undated"]

    def test_the_description_matches_the_commit(self, built: Backend) -> None:
        info = built.describe(with_articles=True)
        assert (info.generation, info.articles, info.model) == (1, 4, MODEL)
        assert (info.date_range.first, info.date_range.last, info.date_range.undated) == ("2023-11-20", "2024-05-02", 1)
        assert [(s.source, s.articles) for s in info.sources] == [("Nordic Wire", 2), ("Money Daily", 1)]
        assert [a.id for a in info.article_list or ()][:3] == ["rates", "volcano", "cup"]  # newest first

    def test_a_rebuild_starts_empty_and_replaces_the_index(self, built: Backend) -> None:
        with built.writer(model=MODEL, chunker=CHUNKER, fresh=True) as writer:
            assert writer.base is None
            add(writer, ARTICLES[1])
            commit = writer.commit()
        assert commit.generation == 2 and built.describe().articles == 1
        assert top(built, "volcano lava")[1] == [] and built.check().problems == ()
        vectors = np.asarray(EMBEDDER.embed(["x"]))
        assert vectors.shape == (1, MODEL.dimension)

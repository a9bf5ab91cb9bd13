"""The segmented store: updates write only what changed, merges keep the answers, tombstones are forgotten once
no kept generation has them, opening hashes nothing and searches wait for their segments' checksums."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, article_ids, news_corpus, write_jsonl
from durability import AS_OF, GOLDEN_QUERIES, current, golden_hits

from assistant import Filters, IndexNotFoundError, Retriever, build_index, get_settings, remove_articles, update_index
from assistant.errors import GenerationGoneError
from assistant.index.analyzer import analyze
from assistant.index.candidates import Window
from assistant.index.ids import day_range
from assistant.index.local import search
from assistant.index.local.merging import plan
from assistant.index.local.postings import term_hash
from assistant.index.local.reader import IndexReader, kept_generations
from assistant.index.local.segments import Segment
from assistant.indexing.update import optimize_index


def _wire(folder: Path, count: int, prefix: str = "w") -> Path:
    words = ["harbour", "ledger", "comet", "volcano", "tariff", "election", "drought", "festival", "bridge"]
    records = [
        {
            "id": f"{prefix}{n}",
            "title": f"Wire {prefix}{n} on the {words[n % 9]}",
            "text": f"Item {n} reports the {words[n % 9]}, the {words[(n * 7) % 9]} and the {words[(n * 5) % 9]}.",
            "date": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "source": f"Wire {n % 3}",
        }
        for n in range(count)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    return write_jsonl(folder / f"{prefix}.jsonl", records)


def _stat(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_an_update_writes_only_the_new_segment(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    segments = index / current(index) / "segments"
    before = _stat(segments)
    (corpus / "comet.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    summary = update_index([corpus], index, embedder=FakeEmbedder())
    assert summary.published and summary.added == ["news/comet.txt"]
    after = _stat(segments)
    # The existing segment's files are untouched (same inode, same mtime); one new segment holds the new passage.
    assert {name: after[name] for name in before} == before
    new = sorted(set(after) - set(before))
    assert new == [f"seg-00000002.{kind}.npy" for kind in ("postings", "rows", "terms", "vectors")]
    summary = remove_articles(["news/comet.txt"], index)
    assert summary.published and _stat(segments).keys() >= before.keys()


def test_merging_keeps_every_answer_exactly(tmp_path: Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    _wire(tmp_path / "wire", 300)
    index = tmp_path / "idx"
    settings = get_settings(segment_rows=40, merge_after_write=False, progress=False)
    build_index([corpus, tmp_path / "wire"], index, embedder=FakeEmbedder(), settings=settings)
    reader = IndexReader.open(index)
    assert len(reader.lives) == 8  # 305 passages, 40 to a segment
    reader.close()
    before = golden_hits(index)
    queries = ("harbour ledger comet", "tariff election", "bridge drought festival")
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    wide = {q: retriever.search(q, k=20, as_of="2025-01-01") for q in queries}
    retriever.close()
    assert optimize_index(index, settings=settings).merges == 1
    reader = IndexReader.open(index)
    assert len(reader.lives) == 1 and reader.generation == 1
    reader.close()
    assert golden_hits(index) == before
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    assert {q: retriever.search(q, k=20, as_of="2025-01-01") for q in queries} == wide
    retriever.close()


def test_the_tiered_policy_bounds_the_segments() -> None:
    assert plan([(500, 500)] * 7, factor=8, floor=1000) is None
    assert plan([(500, 500)] * 8, factor=8, floor=1000) == list(range(8))
    # The smallest of a full tier go first; bigger tiers wait until they fill.
    sizes = [(9000, 9000), *[(100 + n, 100 + n) for n in range(9)]]
    assert plan(sizes, factor=8, floor=1000) == list(range(1, 9))
    assert plan([(9000, 9000)] * 7 + [(100, 100)], factor=8, floor=1000) is None
    # A segment mostly tombstoned is rewritten on its own.
    assert plan([(9000, 9000), (100, 1000)], factor=8, floor=1000) == [1]
    # Merging everything the policy asks for never leaves more than (factor - 1) segments per tier.
    sizes = []
    for _ in range(500):
        sizes.append((50, 50))
        while (chosen := plan(sizes, factor=4, floor=100)) is not None:
            merged = sum(sizes[at][0] for at in chosen)
            sizes = [s for at, s in enumerate(sizes) if at not in chosen] + [(merged, merged)]
    assert sum(s[0] for s in sizes) == 25_000 and len(sizes) <= 3 * 4


def test_a_removed_article_is_forgotten_once_no_kept_generation_has_it(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    remove_articles(["news/volcano.md"], index)  # generation 2: a tombstone
    (corpus / "volcano.md").unlink()  # or the next update of the folder indexes it again
    pinned = IndexReader.open(index, generation=1)
    assert pinned.scalar("SELECT count(*) FROM articles WHERE id = 'news/volcano.md'") == 1
    assert pinned.chunk_rows(pinned.locate([pinned.lives[0].segment.ids[0]]))
    reader = IndexReader.open(index)
    assert reader.scalar("SELECT count(*) FROM articles WHERE id = 'news/volcano.md'") == 0
    assert reader.scalar("SELECT count(*) FROM main.articles WHERE id = 'news/volcano.md'") == 1
    reader.close()
    for n in range(2):  # generations 3 and 4: generation 2 (and the last one to hold the article) fall out
        (corpus / f"extra{n}.txt").write_text(f"Extra {n}\n\nExtra story number {n}.\n")
        update_index([corpus], index, embedder=FakeEmbedder(), settings=get_settings(merge_factor=2))
    assert kept_generations(index) == [3, 4]
    reader = IndexReader.open(index)
    assert reader.scalar("SELECT count(*) FROM main.articles WHERE id = 'news/volcano.md'") == 0
    reader.close()
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(index, generation=1)
    # The reader pinned before all this still answers from generation 1 (its segment files stay mapped), without
    # the passages whose rows were forgotten since: a reader older than every kept generation may miss those.
    hits = Retriever(pinned, FakeEmbedder(), get_settings(), index).search("volcano lava", k=5, as_of=AS_OF)
    assert hits and {h.generation for h in hits} == {1}
    assert {h.article_id for h in hits} == {
        f"news/{n}" for n in ("undated.txt", "rates.md", "rates-old.md", "football.md")
    }
    pinned.close()


def test_opening_hashes_nothing_and_searches_wait_for_their_segments(
    base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index = base_index
    release = threading.Event()
    checked: list[str] = []
    real_check = Segment.check

    def slow_check(self: Segment) -> list[str]:
        release.wait(timeout=30)
        checked.append(self.name)
        return real_check(self)

    monkeypatch.setattr(Segment, "check", slow_check)
    reader = IndexReader.open(index)  # returns while the checksums are still being checked
    assert checked == []
    retriever = Retriever(reader, FakeEmbedder(), get_settings(), index)
    found: list[object] = []
    searching = threading.Thread(target=lambda: found.append(retriever.search(GOLDEN_QUERIES[0], as_of=AS_OF)))
    searching.start()
    searching.join(timeout=0.5)
    assert searching.is_alive() and found == []  # waiting for the segment's checksums
    release.set()
    searching.join(timeout=30)
    assert checked == ["seg-00000001"] and found and found[0]
    reader.close()


def test_ivf_segments_merge_reusing_their_cells(tmp_path: Path) -> None:
    _wire(tmp_path / "one", 1100, "a")
    _wire(tmp_path / "two", 300, "b")
    index = tmp_path / "idx"
    settings = get_settings(ann_min_rows=1000, exact_max_rows=0, progress=False)
    build_index([tmp_path / "one"], index, embedder=FakeEmbedder(), settings=settings)
    update_index([tmp_path / "one", tmp_path / "two"], index, embedder=FakeEmbedder(), settings=settings)
    reader = IndexReader.open(index)
    assert [live.segment.record["ann"] for live in reader.lives] == ["IVF64,SQ8", None]
    cells = faiss_cells(reader.lives[0].segment)
    reader.close()
    optimize_index(index, settings=settings)
    reader = IndexReader.open(index)
    # One segment of 1,400 passages: the same number of cells as its biggest input, whose cells it reuses.
    assert len(reader.lives) == 1 and reader.lives[0].segment.record["ann"] == "IVF64,SQ8"
    assert np.array_equal(faiss_cells(reader.lives[0].segment), cells)
    # The IVF search finds what exact search finds (these vectors are easy: words hashed to dimensions).
    vector = FakeEmbedder().embed(["harbour ledger comet"])[0]
    window = Window(0, 1 << 62)
    approx = search.dense(reader.lives, vector, 10, window, None, exact_max_rows=0, probes=settings.ann_probes)
    exact = search.dense(reader.lives, vector, 10, window, None, exact_max_rows=10**9, probes=settings.ann_probes)
    assert np.allclose(sorted(approx.scores), sorted(exact.scores))
    reader.close()


def faiss_cells(segment: Segment) -> np.ndarray:
    import faiss

    ivf = faiss.extract_index_ivf(segment.ann)
    return ivf.quantizer.reconstruct_n(0, ivf.nlist)


def test_a_retriever_answers_again_from_a_kept_generation(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    first = retriever.search("central bank interest rate", k=3, as_of=AS_OF)
    (corpus / "rates.md").write_text("---\ntitle: Bank news\ndate: 2024-03-05\n---\n\nRates were cut sharply.\n")
    update_index([corpus], index, embedder=FakeEmbedder())
    assert retriever.refresh() and retriever.generation == 2
    assert retriever.search("central bank interest rate", k=3, as_of=AS_OF) != first
    # Asked again of generation 1 (a permalink to an answer, say): the same passages with the same scores.
    pinned = retriever.reader_for(1)
    assert retriever.search_pinned(pinned, "central bank interest rate", Filters(as_of=AS_OF, k=3)) == first
    for n in range(2):
        (corpus / f"extra{n}.txt").write_text(f"Extra {n}\n\nExtra story number {n}.\n")
        update_index([corpus], index, embedder=FakeEmbedder())
    with pytest.raises(GenerationGoneError, match="generation 1 is no longer kept"):
        retriever.reader_for(1)
    retriever.close()


def test_an_article_moved_to_another_file_is_kept_under_its_new_id(tmp_path: Path) -> None:
    """Its old file still exists and is read cleanly without it: gone only once reading ends, so its copy met
    earlier is decided then (not refused as a duplicate of an article that is going)."""
    corpus = tmp_path / "feeds"
    corpus.mkdir()
    story = {
        "title": "Harbour ledger",
        "text": "The harbour ledger shows a balance of four crowns.",
        "date": "2024-05-01",
    }
    other = {"id": "a1", "title": "Comet seen", "text": "Astronomers saw a comet over the bay.", "date": "2024-05-02"}
    bridge = {"id": "b1", "title": "Bridge", "text": "The bridge reopened.", "date": "2024-05-03"}
    write_jsonl(corpus / "a.jsonl", [other, {"id": "a2", **story}])
    write_jsonl(corpus / "b.jsonl", [bridge])
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=FakeEmbedder())
    # The story moves to b.jsonl under another id; a.jsonl (read before b.jsonl) still exists without it.
    write_jsonl(corpus / "a.jsonl", [other])
    write_jsonl(corpus / "b.jsonl", [{"id": "b2", **story}, bridge])
    summary = update_index([corpus], index, embedder=FakeEmbedder())
    assert (summary.added, summary.removed, summary.skipped) == (["b2"], ["a2"], [])
    assert article_ids(index) == {"a1", "b1", "b2"}


def test_bm25_stops_early_without_changing_the_top(tmp_path: Path) -> None:
    """MaxScore prunes rows that cannot reach the top n: the same rows, scores and order as scoring every row."""
    _wire(tmp_path / "wire", 600)
    index = tmp_path / "idx"
    build_index([tmp_path / "wire"], index, embedder=FakeEmbedder(), settings=get_settings(segment_rows=150))
    reader = IndexReader.open(index)
    queries = ["harbour ledger comet", "tariff election drought wire", "bridge festival item reports", "volcano"]
    for words in queries:
        hashes = [term_hash(t) for t in analyze(words)]
        for window in (Window(0, 1 << 62), Window(*day_range("2024-03-01", "2024-06-30"))):
            for n in (5, 40):
                pruned = search.lexical(reader.lives, hashes, n, window, None, reader.average_length)
                every = search.lexical(reader.lives, hashes, 10**9, window, None, reader.average_length)
                assert len(pruned) == min(n, len(every))
                assert (
                    pruned.ids.tolist() == every.ids[:n].tolist()
                    and pruned.scores.tolist() == every.scores[:n].tolist()
                )
    reader.close()

"""Durability against damaged files: a flipped, truncated or missing file of the store (each kind of segment file,
the database, the commit row), or a bad CURRENT pointer, is never answered from: truncations and deletions are
refused when the index opens, a flipped byte before the damaged segment is first searched (or the damaged row is
first shown), and `index verify` reports every one. Updates refuse what they can see is damaged and change
nothing; a rebuild replaces a damaged index. An index written by the previous version is refused with how to
rebuild it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeEmbedder, write_jsonl
from durability import AS_OF, GOLDEN_QUERIES, cli_here, current, golden_hits, snapshot, tmp_folders

from assistant import Assistant, IndexCorruptError, IndexNotFoundError, Retriever, build_index, update_index
from assistant.index.local.integrity import check_index as verify
from assistant.index.local.reader import IndexReader
from assistant.settings import get_settings


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - max(1, (len(data) - 128) // 2)] ^= 0x01  # past the header: the data itself
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {"flip": _flip, "truncate": _truncate, "delete": Path.unlink}
KINDS = ("rows", "vectors", "terms", "postings")


def _segment_file(index: Path, kind: str, number: int = 1) -> Path:
    return index / current(index) / "segments" / f"seg-{number:08d}.{kind}.npy"


def _searches(index: Path) -> None:
    """Open and answer the golden queries through every entry point; raises what the first refusal raises."""
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    try:
        for query in GOLDEN_QUERIES:
            retriever.search(query, k=3, as_of=AS_OF)
    finally:
        retriever.close()
    with Assistant.open(index, embedder=FakeEmbedder()) as assistant:
        assistant.ask("Did the central bank raise interest rates?", as_of=AS_OF)


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_segment_file_is_never_answered_from(base_index: tuple[Path, Path], kind: str, damage: str) -> None:
    _, index = base_index
    DAMAGE[damage](_segment_file(index, kind))
    if damage == "flip":
        # Opening costs the same at any size: it checks sizes, not checksums. The check runs before any search.
        reader = IndexReader.open(index)
        with pytest.raises(IndexCorruptError, match=f"seg-00000001.{kind}.npy does not match its checksum"):
            reader.verify()
        reader.close()
    else:
        with pytest.raises(IndexCorruptError, match=f"seg-00000001.{kind}.npy"):
            IndexReader.open(index)
    with pytest.raises(IndexCorruptError):
        _searches(index)
    with pytest.raises(IndexCorruptError):
        Assistant.open(index, embedder=FakeEmbedder()).ask("central bank interest rate", as_of=AS_OF)
    manifest, problems = verify(index)
    assert manifest is not None and problems
    assert f"seg-00000001.{kind}.npy" in " ".join(problems)
    assert cli_here("index", "verify", "--index", index).exit_code == 6


def _chunk_text_offset(database: Path, text: str) -> int:
    data = database.read_bytes()
    at = data.rfind(text.encode())  # the chunk's copy, stored after its article's
    assert at > 0, "the chunk's text is stored as is"
    return at + len(text) // 2


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_database_is_never_answered_from(base_index: tuple[Path, Path], damage: str) -> None:
    _, index = base_index
    database = index / current(index) / "store.sqlite"
    if damage == "flip":
        # A byte of a passage's text: SQLite cannot tell, the row's hash in its segment can.
        at = _chunk_text_offset(database, "raised its benchmark interest rate")
        data = bytearray(database.read_bytes())
        data[at] ^= 0x04
        database.write_bytes(bytes(data))
        with pytest.raises(IndexCorruptError, match="does not match its checksum in segment seg-00000001"):
            Retriever.open(index, embedder=FakeEmbedder()).search("central bank interest rate", k=5, as_of=AS_OF)
    else:
        DAMAGE[damage](database)
    with pytest.raises(IndexCorruptError):
        _searches(index)
    problems = verify(index).problems
    assert problems and (damage != "flip" or "news/rates.md" in " ".join(problems))
    assert cli_here("index", "verify", "--index", index).exit_code == 6


def test_a_damaged_commit_is_refused(base_index: tuple[Path, Path]) -> None:
    _, index = base_index
    database = index / current(index) / "store.sqlite"
    db = sqlite3.connect(database)
    db.execute("UPDATE commits SET body = replace(body, '\"rows\": 5', '\"rows\": 6')")
    db.commit()
    db.close()
    with pytest.raises(IndexCorruptError, match="does not match its own checksum"):
        IndexReader.open(index)
    manifest, problems = verify(index)
    assert manifest is None and "checksum" in problems[0]


def test_a_damaged_ivf_index_is_never_answered_from(tmp_path: Path) -> None:
    corpus = tmp_path / "wire"
    corpus.mkdir()
    words = ["harbour", "ledger", "comet", "volcano", "tariff", "election", "drought", "festival"]
    records = [
        {"id": f"w{n}", "title": f"Wire {n}", "text": f"Item {n} on the {words[n % 8]} and the {words[n % 5]}.",
         "date": f"2024-0{1 + n % 9}-1{n % 10}"}
        for n in range(1100)
    ]  # fmt: skip
    write_jsonl(corpus / "wire.jsonl", records)
    index = tmp_path / "idx"
    settings = get_settings(ann_min_rows=1000, progress=False)
    build_index([corpus], index, embedder=FakeEmbedder(), settings=settings)
    ivf = index / current(index) / "segments" / "seg-00000001.ann.faiss"
    assert ivf.exists(), "a segment this large has an IVF index"
    retriever = Retriever.open(index, embedder=FakeEmbedder(), settings=settings)
    assert retriever.search("harbour ledger", k=3, as_of="2025-01-01")
    retriever.close()
    _flip(ivf)
    reader = IndexReader.open(index)
    with pytest.raises(IndexCorruptError, match=r"ann\.faiss does not match its checksum"):
        reader.verify()
    reader.close()
    with pytest.raises(IndexCorruptError):
        Retriever.open(index, embedder=FakeEmbedder(), settings=settings).search("harbour", as_of="2025-01-01")
    assert "seg-00000001.ann.faiss" in " ".join(verify(index)[1])
    ivf.unlink()
    with pytest.raises(IndexCorruptError, match=r"ann\.faiss is missing"):
        IndexReader.open(index)


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_new_generation_is_never_answered_from(base_index: tuple[Path, Path], kind: str) -> None:
    """Readers that refresh onto a published but damaged generation refuse it and keep answering from theirs."""
    corpus, index = base_index
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    assistant = Assistant.open(index, embedder=FakeEmbedder())
    before = retriever.search("central bank interest rate", k=3, as_of=AS_OF)
    (corpus / "rates.md").write_text("---\ntitle: Bank news\ndate: 2024-03-05\n---\n\nRates were cut.\n")
    assert update_index([corpus], index, embedder=FakeEmbedder()).generation == 2
    _flip(_segment_file(index, kind, 2))
    try:
        for reader in (retriever, assistant):
            with pytest.raises(IndexCorruptError):
                reader.refresh()
        assert retriever.generation == 1 and retriever.search("central bank interest rate", k=3, as_of=AS_OF) == before
        answer = assistant.ask("Did the central bank raise interest rates?", as_of=AS_OF)
        assert answer.generation == 1 and answer.citations
        assert "raised its benchmark" in " ".join(c.excerpt for c in answer.citations)
    finally:
        retriever.close()
        assistant.close()


@pytest.mark.parametrize(
    "pointer",
    [b"store-000099\n", b"garbage\n", b"", b"store-../idx\n"],
    ids=["missing-store", "garbage", "empty", "path"],
)
def test_bad_current_pointer_is_corrupt(base_index: tuple[Path, Path], pointer: bytes) -> None:
    _, index = base_index
    (index / "CURRENT").write_bytes(pointer)
    with pytest.raises(IndexCorruptError, match="CURRENT"):
        IndexReader.open(index)
    with pytest.raises(IndexCorruptError):
        Retriever.open(index, embedder=FakeEmbedder())
    with pytest.raises(IndexCorruptError):
        verify(index)


def test_binary_garbage_in_current_is_corrupt(base_index: tuple[Path, Path]) -> None:
    _, index = base_index
    (index / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(IndexCorruptError):
        IndexReader.open(index)


def test_rebuild_replaces_binary_garbage_current(base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    (index / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    build_index([corpus], index, embedder=FakeEmbedder())
    assert verify(index).problems == ()


def test_missing_current_is_not_found(base_index: tuple[Path, Path], tmp_path: Path) -> None:
    _, index = base_index
    (index / "CURRENT").unlink()
    with pytest.raises(IndexNotFoundError, match="assistant index build"):
        IndexReader.open(index)
    with pytest.raises(IndexNotFoundError):
        Retriever.open(index, embedder=FakeEmbedder())
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(tmp_path / "never-built")


def _damage_commit(index: Path) -> None:
    db = sqlite3.connect(index / current(index) / "store.sqlite")
    db.execute("UPDATE commits SET body = replace(body, 'fake-hashing', 'fake-hashinG')")
    db.commit()
    db.close()


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "vectors-truncate": lambda index: _truncate(_segment_file(index, "vectors")),
    "postings-delete": lambda index: _segment_file(index, "postings").unlink(),
    "database-delete": lambda index: (index / current(index) / "store.sqlite").unlink(),
    "commit-damaged": _damage_commit,
    "current-dangling": lambda index: (index / "CURRENT").write_text("store-000042\n"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_update_refuses_a_corrupt_index_and_changes_nothing(base_index: tuple[Path, Path], corruption: str) -> None:
    corpus, index = base_index
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    CORRUPTIONS[corruption](index)
    before = snapshot(index)
    with pytest.raises(IndexCorruptError):
        update_index([corpus], index, embedder=FakeEmbedder())
    assert snapshot(index) == before
    assert tmp_folders(index) == []


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_rebuild_replaces_a_corrupt_index(base_index: tuple[Path, Path], corruption: str) -> None:
    corpus, index = base_index
    CORRUPTIONS[corruption](index)
    summary = build_index([corpus], index, embedder=FakeEmbedder())
    assert summary.published and summary.articles == 5
    assert verify(index).problems == ()
    assert current(index) == f"store-{summary.generation:06d}"
    assert golden_hits(index)["central bank interest rate"]


def test_a_merge_refuses_a_damaged_segment_and_the_update_still_publishes(base_index: tuple[Path, Path]) -> None:
    """An update reads no segment but the ones it merges: a flipped byte elsewhere is left to readers and verify."""
    corpus, index = base_index
    _flip(_segment_file(index, "vectors"))
    (corpus / "new.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    settings = get_settings(merge_factor=2, progress=False)
    summary = update_index([corpus], index, embedder=FakeEmbedder(), settings=settings)
    assert summary.published and summary.generation == 2 and summary.merges == 0
    assert "seg-00000001.vectors.npy does not match its checksum" in " ".join(verify(index)[1])


def _legacy_index(index: Path) -> None:
    """The previous version's layout (schema 1): CURRENT naming a generation folder with its manifest."""
    generation = index / "gen-000003"
    generation.mkdir(parents=True)
    (generation / "manifest.json").write_text('{"schema_version": 1, "generation": 3}', encoding="utf-8")
    (generation / "meta.sqlite").write_bytes(b"SQLite format 3\x00")
    (generation / "vectors.faiss").write_bytes(b"IxM2")
    (index / "CURRENT").write_text("gen-000003\n", encoding="utf-8")


def test_an_index_of_the_previous_version_is_refused_with_how_to_rebuild(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    _legacy_index(index)
    hint = f"earlier version of the assistant .* rebuild it with `assistant index build PATHS --index {index}`"
    with pytest.raises(IndexCorruptError, match=hint):
        IndexReader.open(index)
    with pytest.raises(IndexCorruptError, match=hint):
        update_index([tmp_path], index, embedder=FakeEmbedder())
    result = cli_here("index", "info", "--index", index)
    assert result.exit_code == 6 and len(result.stderr.splitlines()) == 1 and "index build" in result.stderr
    corpus = tmp_path / "news"
    (corpus / "a.txt").parent.mkdir()
    (corpus / "a.txt").write_text("Comet seen over the bay\n\nAstronomers saw a bright comet.\n")
    summary = build_index([corpus], index, embedder=FakeEmbedder())
    # The rebuild takes the next generation number and clears the old layout away.
    assert summary.generation == 4 and current(index) == "store-000004" and not (index / "gen-000003").exists()
    assert verify(index).problems == ()

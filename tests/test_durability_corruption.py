"""Durability against damaged files: a flipped, truncated or missing file of a generation, or a bad CURRENT pointer,
is refused by every reader and by updates (which change nothing), while a rebuild replaces the damaged index.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeEmbedder
from durability import AS_OF, current, golden_hits, snapshot, tmp_folders

from assistant import Assistant, IndexCorruptError, IndexNotFoundError, Retriever, build_index, update_index
from assistant.index.integrity import check_index as verify
from assistant.index.reader import IndexReader


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {"flip": _flip, "truncate": _truncate, "delete": Path.unlink}
FILES = ("meta.sqlite", "vectors.faiss", "manifest.json")


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_refused(base_index: tuple[Path, Path], name: str, damage: str) -> None:
    _, index = base_index
    DAMAGE[damage](index / current(index) / name)
    with pytest.raises(IndexCorruptError):
        IndexReader.open(index)
    with pytest.raises(IndexCorruptError):
        Retriever.open(index, embedder=FakeEmbedder())
    with pytest.raises(IndexCorruptError):
        Assistant.open(index, embedder=FakeEmbedder())
    manifest, problems = verify(index)
    assert problems
    # A damaged manifest cannot be trusted at all, so verify hands none back.
    assert (manifest is None) == (name == "manifest.json")
    assert name in " ".join(problems)


@pytest.mark.parametrize("name", FILES)
def test_a_damaged_new_generation_is_never_answered_from(base_index: tuple[Path, Path], name: str) -> None:
    """Readers that refresh onto a published but damaged generation refuse it and keep answering from theirs."""
    corpus, index = base_index
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    assistant = Assistant.open(index, embedder=FakeEmbedder())
    before = retriever.search("central bank interest rate", k=3, as_of=AS_OF)
    (corpus / "rates.md").write_text("---\ntitle: Bank news\ndate: 2024-03-05\n---\n\nRates were cut.\n")
    assert update_index([corpus], index, embedder=FakeEmbedder()).generation == 2
    _flip(index / "gen-000002" / name)
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
    [b"gen-000099\n", b"garbage\n", b"", b"gen-../idx\n"],
    ids=["missing-generation", "garbage", "empty", "path"],
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
    assert verify(index)[1] == []


def test_missing_current_is_not_found(base_index: tuple[Path, Path], tmp_path: Path) -> None:
    _, index = base_index
    (index / "CURRENT").unlink()
    with pytest.raises(IndexNotFoundError, match="assistant index build"):
        IndexReader.open(index)
    with pytest.raises(IndexNotFoundError):
        Retriever.open(index, embedder=FakeEmbedder())
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(tmp_path / "never-built")


def _damage_current(index: Path) -> None:
    (index / "CURRENT").write_text("gen-000042\n")


CORRUPTIONS = {
    "sqlite-flip": lambda index: _flip(index / current(index) / "meta.sqlite"),
    "faiss-truncate": lambda index: _truncate(index / current(index) / "vectors.faiss"),
    "manifest-flip": lambda index: _flip(index / current(index) / "manifest.json"),
    "manifest-delete": lambda index: (index / current(index) / "manifest.json").unlink(),
    "current-dangling": _damage_current,
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_update_refuses_a_corrupt_index_and_changes_nothing(
    base_index: tuple[Path, Path], corruption: str, tmp_path: Path
) -> None:
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
    assert verify(index)[1] == []
    assert current(index) == f"gen-{summary.generation:06d}"
    assert golden_hits(index)["central bank interest rate"]

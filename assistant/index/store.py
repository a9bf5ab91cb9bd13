"""The two index backends behind one interface: the local store (the default) and Milvus.

The location a user names the index by picks the backend (:mod:`.location`); everything above the index layer (the
retriever, the answerer, the CLI, the page) reads through :class:`StoreReader` and writes through
:class:`StoreWriter`, and never learns which one it has.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

from .location import milvus_address

if TYPE_CHECKING:
    import numpy as np

    from ..documents import Article, Chunk
    from ..settings import Settings
    from .candidates import Candidates, Window
    from .records import ChunkRow

__all__ = [
    "StoreReader", "StoreWriter", "check", "describe", "kept_generations", "location_of", "open_reader", "open_writer",
    "require_index",
]  # fmt: skip


class StoreReader(Protocol):
    """One generation of an index, open for reading; safe to share between threads."""

    manifest: dict[str, Any]  # the commit: generation, model, chunker, counts, roots, created_at
    generation: int
    chunk_count: int

    def is_latest(self) -> bool:
        """Whether nothing was published since this opened."""

    def verify(self) -> None:
        """Wait for the checks of what this generation reads; IndexCorruptError when something is damaged."""

    def close(self) -> None: ...

    def sources(self) -> tuple[str, ...]:
        """The outlets this generation holds articles from, sorted."""

    def source_codes(self, names: Iterable[str]) -> tuple[int, ...]: ...

    def dense(self, vector: np.ndarray, n: int, window: Window, *, exact_max_rows: int, probes: int) -> Candidates:
        """The ``n`` passages nearest ``vector`` (inner product) among those the window allows."""

    def lexical(self, words: list[str], n: int, window: Window) -> Candidates:
        """The ``n`` best passages by BM25 for ``words`` (the index's analyzer applies) that the window allows."""

    def chunk_rows(self, ids: Iterable[int], where: dict[int, tuple[int, int]] | None = None) -> dict[int, ChunkRow]:
        """The rows of these chunk ids (ids not held are left out); ``where`` is what candidates said of them."""

    def first_chunks(self, article_ids: Iterable[str]) -> list[int]:
        """The chunk ids of these articles' opening passages."""

    def stem_frequencies(self, stems: Iterable[str]) -> dict[str, int]:
        """Passages containing each stem (stems found nowhere are left out)."""


class StoreWriter(Protocol):
    """Writes the next generation; a context manager whose ``commit()`` publishes it (nothing shows before)."""

    base_manifest: dict[str, Any] | None  # the live commit this write starts from (None: a new index)
    roots: set[str]

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None: ...

    def articles(self) -> dict[str, Any]:
        """The live articles by id, each a row of uid, id, title, url, content_hash, copy_hash, file, root, origin."""

    def add(
        self, article: Article, chunks: list[Chunk], vectors: np.ndarray, *, file: str | None, root: str | None
    ) -> None: ...

    def remove(self, article_ids: Iterable[str]) -> int: ...

    def removed(self) -> dict[str, Any]:
        """Articles removed with `index remove`, by id: rows of id, title, file, origin, removed_at."""

    def remember(self, rows: Iterable[Any]) -> None:
        """Remember these articles (rows of :meth:`articles`) as removed by the user, from the commit on."""

    def forget(self, article_ids: Iterable[str]) -> None: ...

    def commit(self) -> dict[str, Any]: ...

    def merge(self, *, full: bool = False) -> int: ...


def location_of(index_dir: str | Path | None, settings: Settings) -> str | Path:
    """The index's location (``settings.index_dir`` when None): a folder, or a Milvus address kept as written."""
    location = index_dir if index_dir is not None else settings.index_dir
    return location if milvus_address(location) is not None else Path(location)


def require_index(location: str | Path) -> None:
    """No local index, or an unreadable one: said before the lock is taken (a Milvus writer finds out itself)."""
    if milvus_address(location) is None:
        from .local.layout import current_store

        current_store(Path(location))


def open_reader(
    location: str | Path, *, settings: Settings | None = None, generation: int | None = None
) -> StoreReader:
    """The live generation of the index at ``location`` (or ``generation``, while it is kept)."""
    from ..settings import get_settings

    address = milvus_address(location)
    if address is not None:
        from .milvus.reader import MilvusReader

        return MilvusReader.open(address, settings or get_settings(), generation=generation)
    from .local.reader import IndexReader

    return IndexReader.open(Path(location), generation=generation)


def kept_generations(location: str | Path, *, settings: Settings | None = None) -> list[int]:
    """The generations a reader can be opened at, oldest first (Milvus keeps only the live one)."""
    if milvus_address(location) is not None:
        reader = open_reader(location, settings=settings)
        try:
            return [reader.generation]
        finally:
            reader.close()
    from .local.reader import kept_generations as local

    return local(location)


def open_writer(
    location: str | Path,
    *,
    model: dict[str, Any],
    chunker: dict[str, Any],
    fresh: bool = False,
    settings: Settings,
) -> StoreWriter:
    address = milvus_address(location)
    if address is not None:
        from .milvus.writer import MilvusWriter

        return MilvusWriter(address, model=model, chunker=chunker, fresh=fresh, settings=settings)
    from .local.writer import IndexWriter

    return IndexWriter(Path(location), model=model, chunker=chunker, fresh=fresh, settings=settings)


def describe(location: str | Path, *, with_articles: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """What the index holds, for people (``assistant index info``)."""
    address = milvus_address(location)
    if address is not None:
        from ..settings import get_settings
        from .milvus.reader import MilvusReader

        reader = MilvusReader.open(address, settings or get_settings())
        try:
            return reader.describe(with_articles=with_articles)
        finally:
            reader.close()
    from .local.describe import describe_index

    return describe_index(location, with_articles=with_articles)


def check(location: str | Path, *, settings: Settings | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """(live commit, problems) of a full check (``assistant index verify``); no problems means every check passed."""
    address = milvus_address(location)
    if address is not None:
        from ..settings import get_settings
        from .milvus.reader import MilvusReader

        reader = MilvusReader.open(address, settings or get_settings())
        try:
            return reader.manifest, reader.problems()
        finally:
            reader.close()
    from .local.integrity import check_index

    return check_index(location)

"""The index behind one interface, whichever backend holds it: the local store (the default) or Milvus.

A :class:`Backend` is an index at a location (:func:`backend_for` picks the one the location names: the one place
that knows both); everything above the index layer (the driver, the retriever, the answerer, the CLI, the page)
reads through a :class:`StoreReader`, writes through a :class:`StoreWriter`, and never learns which one it has. Only
the frozen values of :mod:`.records` and :mod:`.candidates` cross; each backend's tuning (FAISS probes, segment
sizes, Milvus timeouts) is read from the settings by its own constructor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from .location import milvus_address

if TYPE_CHECKING:
    import numpy as np

    from ..documents import Article, Chunk
    from ..settings import Settings
    from .candidates import Candidates, Window
    from .records import (
        ArticleRecord,
        ChunkerRecord,
        ChunkRow,
        Commit,
        IndexCheck,
        IndexDescription,
        ModelRecord,
        Removal,
    )

__all__ = ["Backend", "StoreReader", "StoreWriter", "backend_for", "describe_index", "location_of"]


class StoreReader(Protocol):
    """One generation of an index, open for reading; safe to share between threads."""

    commit: Commit
    generation: int
    chunk_count: int

    def is_latest(self) -> bool:
        """Whether nothing was published since this opened."""

    def verify(self) -> None:
        """Wait for the checks of what this generation reads; IndexCorruptError when something is damaged."""

    def close(self) -> None: ...

    def sources(self) -> tuple[str, ...]:
        """The outlets this generation holds articles from, sorted."""

    def dense(self, vector: np.ndarray, n: int, window: Window) -> Candidates:
        """The ``n`` passages nearest ``vector`` (inner product) among those the window allows."""

    def lexical(self, words: list[str], n: int, window: Window) -> Candidates:
        """The ``n`` best passages by BM25 for ``words`` (the index's analyzer applies) that the window allows."""

    def chunk_rows(self, ids: Iterable[int], where: Mapping[int, tuple[int, int]] | None = None) -> dict[int, ChunkRow]:
        """The rows of these chunk ids (ids not held are left out); ``where`` is what candidates said of them."""

    def first_chunks(self, article_ids: Iterable[str]) -> list[int]:
        """The chunk ids of these articles' opening passages."""

    def stem_frequencies(self, stems: Iterable[str]) -> dict[str, int]:
        """Passages containing each stem (stems found nowhere are left out)."""


class StoreWriter(Protocol):
    """Writes the next generation; a context manager whose ``commit()`` publishes it (nothing shows before)."""

    base: Commit | None  # the live commit this write starts from (None: a new index, or a rebuild)
    roots: set[str]

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None: ...

    def articles(self) -> Mapping[str, ArticleRecord]:
        """The live articles, by id."""

    def add(
        self, article: Article, chunks: list[Chunk], vectors: np.ndarray, *, file: str | None, root: str | None
    ) -> None: ...

    def remove(self, article_ids: Iterable[str]) -> int: ...

    def removed(self) -> Mapping[str, Removal]:
        """Articles removed with `index remove`, by id."""

    def remember(self, articles: Iterable[ArticleRecord]) -> None:
        """Remember these articles as removed by the user, from the commit on."""

    def forget(self, article_ids: Iterable[str]) -> None: ...

    def commit(self) -> Commit: ...

    def merge(self, *, full: bool = False) -> int: ...


class Backend(Protocol):
    """An index at one location: opened for reading or writing, described, checked."""

    @property
    def location(self) -> str | Path:
        """Where the index is, as the user named it."""

    def require(self) -> None:
        """IndexNotFoundError (with the command that builds one) when there is no index here."""

    def reader(self, generation: int | None = None) -> StoreReader:
        """The live generation (or ``generation``, while it is kept)."""

    def writer(self, *, model: ModelRecord | None, chunker: ChunkerRecord | None, fresh: bool = False) -> StoreWriter:
        """The next generation's writer: ``fresh`` starts it empty (a rebuild); without a model and chunker (a
        removal, a merge) it takes the index's own."""

    def kept_generations(self) -> list[int]:
        """The generations a reader can be opened at, oldest first."""

    def describe(self, *, with_articles: bool = False) -> IndexDescription: ...

    def check(self) -> IndexCheck:
        """Every check there is (``assistant index verify``)."""


def location_of(index_dir: str | Path | None, settings: Settings) -> str | Path:
    """The index's location (``settings.index_dir`` when None): a folder, or a Milvus address kept as written."""
    location = index_dir if index_dir is not None else settings.index_dir
    return location if milvus_address(location) is not None else Path(location)


def backend_for(location: str | Path | None, settings: Settings | None = None) -> Backend:
    """The index at ``location`` (``settings.index_dir`` when None): Milvus when it names Milvus, else a folder."""
    from ..settings import get_settings

    settings = settings or get_settings()
    location = location_of(location, settings)
    address = milvus_address(location)
    if address is not None:
        from .milvus.backend import MilvusBackend

        return MilvusBackend(address, settings)
    from .local.backend import LocalBackend

    return LocalBackend(Path(location), settings)


def describe_index(
    location: str | Path | None = None, *, with_articles: bool = False, settings: Settings | None = None
) -> IndexDescription:
    """What the index at ``location`` (``ASSISTANT_INDEX_DIR`` when None) holds: its live generation's counts,
    dates, outlets, model, size and remembered removals, and with ``with_articles`` every article."""
    return backend_for(location, settings).describe(with_articles=with_articles)

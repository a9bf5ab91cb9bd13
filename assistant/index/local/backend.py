"""The local store as a :class:`~..store.Backend`: an index in a folder of this machine."""

from __future__ import annotations

from pathlib import Path

from ...settings import Settings
from ..records import ChunkerRecord, IndexCheck, IndexDescription, ModelRecord
from .describe import describe
from .integrity import check_index
from .layout import current_store
from .reader import IndexReader, kept_generations
from .writer import IndexWriter

__all__ = ["LocalBackend"]


class LocalBackend:
    """The index in ``directory``; its tuning (segment sizes, FAISS probes, merges) comes from ``settings``."""

    def __init__(self, directory: Path, settings: Settings) -> None:
        self.location = directory
        self.settings = settings

    def require(self) -> None:
        current_store(self.location)

    def reader(self, generation: int | None = None) -> IndexReader:
        return IndexReader.open(self.location, generation=generation, settings=self.settings)

    def writer(self, *, model: ModelRecord | None, chunker: ChunkerRecord | None, fresh: bool = False) -> IndexWriter:
        return IndexWriter(self.location, model=model, chunker=chunker, fresh=fresh, settings=self.settings)

    def kept_generations(self) -> list[int]:
        return kept_generations(self.location)

    def describe(self, *, with_articles: bool = False) -> IndexDescription:
        reader = IndexReader.open(self.location, verify=False, settings=self.settings)
        try:
            return describe(reader, self.location, with_articles=with_articles)
        finally:
            reader.close()

    def check(self) -> IndexCheck:
        return check_index(self.location)

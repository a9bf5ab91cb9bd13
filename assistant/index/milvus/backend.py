"""Milvus as a :class:`~..store.Backend`: Milvus Lite in a local folder, or a Milvus server."""

from __future__ import annotations

from ...settings import Settings
from ..location import MilvusAddress
from ..records import ChunkerRecord, IndexCheck, IndexDescription, ModelRecord
from .reader import MilvusReader
from .writer import MilvusWriter

__all__ = ["MilvusBackend"]


class MilvusBackend:
    """The index at ``address``; its tuning (timeouts, credentials) comes from ``settings``."""

    def __init__(self, address: MilvusAddress, settings: Settings) -> None:
        self.location = str(address)
        self.address = address
        self.settings = settings

    def require(self) -> None:
        """Nothing to check before the writer's own look (which says when there is no index)."""

    def reader(self, generation: int | None = None) -> MilvusReader:
        return MilvusReader.open(self.address, self.settings, generation=generation)

    def writer(self, *, model: ModelRecord | None, chunker: ChunkerRecord | None, fresh: bool = False) -> MilvusWriter:
        return MilvusWriter(self.address, model=model, chunker=chunker, fresh=fresh, settings=self.settings)

    def kept_generations(self) -> list[int]:
        """Milvus keeps only the live generation."""
        reader = self.reader()
        try:
            return [reader.generation]
        finally:
            reader.close()

    def describe(self, *, with_articles: bool = False) -> IndexDescription:
        reader = self.reader()
        try:
            return reader.describe(with_articles=with_articles)
        finally:
            reader.close()

    def check(self) -> IndexCheck:
        reader = self.reader()
        try:
            return IndexCheck(reader.commit, tuple(reader.problems()))
        finally:
            reader.close()

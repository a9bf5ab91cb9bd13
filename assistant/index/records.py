"""What crosses the seam between the index and the rest, whichever backend holds it: frozen values only.

A commit as both backends record it (:class:`Commit`, with the model and chunker that made it), an article as a
writer compares it with what it reads (:class:`ArticleRecord`), a removal a user asked for (:class:`Removal`), a
passage as the retriever reads it (:class:`ChunkRow`, with the checksum both backends keep of what a hit shows), and
what an index holds, for people (:class:`IndexDescription`). Each backend keeps more of its own (segments and
checksums, Milvus collections) behind its reader and writer; none of that crosses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from ..documents import Chunk
from ..errors import ConfigError, GenerationGoneError, IndexCorruptError, ModelMismatchError
from .analyzer import ANALYZER, TITLE_WEIGHT
from .writing import utc_now

__all__ = [
    "ArticleRecord", "ChunkRow", "ChunkerRecord", "Commit", "Counts", "DateRange", "IndexCheck", "IndexDescription",
    "ListedArticle", "ModelRecord", "Removal", "SourceCount", "generation_gone", "row_hash",
]  # fmt: skip


def row_hash(
    text: str, start: int, end: int, ordinal: int, article: str, title: str, date: str | None, source: str | None,
    url: str | None,
) -> int:  # fmt: skip
    """A checksum of what a hit shows, kept beside the row by both backends, so a damaged row is never shown."""
    import xxhash

    fields = (text, str(start), str(end), str(ordinal), article, title, date or "\x00", source or "\x00", url or "\x00")
    return int(xxhash.xxh3_64_intdigest("\x1f".join(fields).encode("utf-8", "surrogatepass")))


@dataclass(frozen=True, slots=True)
class ChunkRow(Chunk):
    """A chunk with its article's metadata, as the retriever needs it."""

    title: str
    date: str | None
    source: str | None
    url: str | None

    def checksum(self) -> int:
        """The hash a store keeps of what a hit shows (:func:`row_hash`), to refuse a damaged row."""
        fields = (self.text, self.start, self.end, self.ordinal, self.article_id, self.title, self.date, self.source)
        return row_hash(*fields, self.url)


@dataclass(frozen=True)
class ModelRecord:
    """The embedding model an index was built with: ``identity`` names its exact weights."""

    name: str
    identity: str
    dimension: int


@dataclass(frozen=True)
class ChunkerRecord:
    """How an index's articles were cut into passages."""

    splitter: str
    chunk_size: int
    chunk_overlap: int
    embeds_title: bool = True


@dataclass(frozen=True)
class Counts:
    articles: int
    chunks: int


@dataclass(frozen=True)
class Commit:
    """A published generation, in the terms both backends share."""

    generation: int
    created_at: str
    model: ModelRecord
    chunker: ChunkerRecord
    counts: Counts
    roots: tuple[str, ...] = ()

    @classmethod
    def from_body(cls, body: Mapping[str, Any], where: object) -> Commit:
        """The shared part of a commit a backend stored as JSON; IndexCorruptError naming ``where`` if it lacks one."""
        try:
            chunker = body["chunker"]
            return cls(
                generation=int(body["generation"]),
                created_at=str(body["created_at"]),
                model=ModelRecord(
                    str(body["model"]["name"]), str(body["model"]["identity"]), int(body["model"]["dimension"])
                ),
                chunker=ChunkerRecord(
                    str(chunker.get("splitter", "")),
                    int(chunker["chunk_size"]),
                    int(chunker["chunk_overlap"]),
                    bool(chunker.get("embeds_title", True)),
                ),
                counts=Counts(int(body["counts"]["articles"]), int(body["counts"]["chunks"])),
                roots=tuple(body.get("roots", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{where}: the commit is incomplete ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def stamped(
        cls,
        generation: int,
        model: ModelRecord | None,
        chunker: ChunkerRecord | None,
        counts: Mapping[str, int],
        roots: Iterable[str],
    ) -> Commit:
        """The commit a writer publishes for ``generation`` now (a write always has its model and chunker)."""
        assert model is not None and chunker is not None, "a commit needs the model and chunker of its index"
        return cls(generation, utc_now(), model, chunker, Counts(**counts), tuple(sorted(roots)))

    def body(self) -> dict[str, Any]:
        """The shared part of the commit as both backends store it (JSON), each adding its own fields to it;
        :meth:`from_body` reads it back."""
        return {
            "generation": self.generation,
            "created_at": self.created_at,
            "model": asdict(self.model),
            "chunker": asdict(self.chunker),
            "lexicon": {"analyzer": ANALYZER, "title_weight": TITLE_WEIGHT},
            "counts": asdict(self.counts),
            "roots": sorted(self.roots),
        }

    def check_model(self, identity: str, location: object) -> None:
        """Refuse to search or update an index with another model than the one that built it."""
        if self.model.identity != identity:
            raise ModelMismatchError(
                f"the index in {location} was built with {self.model.identity}, but the configured model is "
                f"{identity}: set ASSISTANT_MODEL to the index's model, or rebuild with `assistant index build`"
            )

    def check_chunker(self, chunker: ChunkerRecord) -> None:
        """Refuse to update an index with passages cut another way than its own."""
        old = {"chunk_size": self.chunker.chunk_size, "chunk_overlap": self.chunker.chunk_overlap}
        new = {"chunk_size": chunker.chunk_size, "chunk_overlap": chunker.chunk_overlap}
        if old != new:
            raise ConfigError(
                f"the index was chunked with {old}, settings say {new}: rebuild with `assistant index build`"
            )


@dataclass(frozen=True)
class ArticleRecord:
    """A live article as a writer compares it with what it reads: an update keeps, replaces or drops it."""

    uid: int
    id: str
    title: str
    url: str | None
    content_hash: str
    copy_hash: str
    file: str | None
    root: str | None
    origin: str | None


@dataclass(frozen=True)
class Removal:
    """An article removed with ``assistant index remove``, remembered so that an update does not bring it back."""

    id: str
    title: str | None
    file: str | None
    origin: str | None
    removed_at: str


@dataclass(frozen=True)
class DateRange:
    first: str | None
    last: str | None
    undated: int


@dataclass(frozen=True)
class SourceCount:
    source: str
    articles: int


@dataclass(frozen=True)
class ListedArticle:
    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    origin: str | None


@dataclass(frozen=True)
class IndexDescription:
    """What an index holds, for people (``assistant index info``, the page's Library tab): the live generation's
    counts, dates and outlets, the model and chunker, size on disk, and the removals remembered."""

    path: str
    generation: int
    segments: int | None  # None: the backend manages its own (Milvus)
    created_at: str
    articles: int
    chunks: int
    date_range: DateRange
    sources: tuple[SourceCount, ...]
    model: ModelRecord
    chunker: ChunkerRecord
    roots: tuple[str, ...]
    bytes: int
    removed: tuple[Removal, ...]
    article_list: tuple[ListedArticle, ...] | None = field(default=None)


class IndexCheck(NamedTuple):
    """A full check of an index (``assistant index verify``): its live commit (None when there is none to read)
    and every problem found; none means every check passed. A pair, as ``commit, problems = check()``."""

    commit: Commit | None
    problems: tuple[str, ...]


def generation_gone(location: object, generation: int, kept: list[int]) -> GenerationGoneError:
    """The error for a generation a permalink or ``--generation`` asks for once it is no longer kept."""
    listed = ", ".join(str(n) for n in kept) or "none"
    return GenerationGoneError(
        f"index generation {generation} is no longer kept in {location} (kept: {listed})", generation=generation
    )

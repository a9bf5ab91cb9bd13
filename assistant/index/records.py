"""What crosses the seam between the index and the rest, whichever backend holds it.

Frozen values only: a passage as the retriever reads it (:class:`ChunkRow`), with the checksum both backends keep
of what a hit shows, and the checks every reader makes of a commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GenerationGoneError, ModelMismatchError

__all__ = ["ChunkRow", "check_model", "generation_gone", "row_hash"]


def row_hash(
    text: str, start: int, end: int, ordinal: int, article: str, title: str, date: str | None, source: str | None,
    url: str | None,
) -> int:  # fmt: skip
    """A checksum of what a hit shows, kept in the segment, so a damaged row in the database is never shown."""
    import xxhash

    fields = (text, str(start), str(end), str(ordinal), article, title, date or "\x00", source or "\x00", url or "\x00")
    return int(xxhash.xxh3_64_intdigest("\x1f".join(fields).encode("utf-8", "surrogatepass")))


@dataclass(frozen=True)
class ChunkRow:
    """A chunk with its article's metadata, as the retriever needs it."""

    id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str | None
    url: str | None

    def checksum(self) -> int:
        """The hash a store keeps of what a hit shows (:func:`row_hash`), to refuse a damaged row."""
        fields = (self.text, self.start, self.end, self.ordinal, self.article_id, self.title, self.date, self.source)
        return row_hash(*fields, self.url)


def generation_gone(directory: str | Path, generation: int, kept: list[int]) -> GenerationGoneError:
    """The error for a generation a permalink or ``--generation`` asks for once it is no longer kept."""
    listed = ", ".join(str(n) for n in kept) or "none"
    return GenerationGoneError(
        f"index generation {generation} is no longer kept in {directory} (kept: {listed})", generation=generation
    )


def check_model(manifest: dict[str, Any], identity: str, directory: str | Path) -> None:
    """Refuse to search or update an index with another model than the one that built it."""
    if manifest["model"]["identity"] != identity:
        raise ModelMismatchError(
            f"the index in {directory} was built with {manifest['model']['identity']}, but the configured model "
            f"is {identity}: set ASSISTANT_MODEL to the index's model, or rebuild with `assistant index build`"
        )

"""What a build, update or removal did, for the CLI, the page and Python callers; and its progress as it goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..documents import Skipped
from ..index.records import Commit

__all__ = ["IndexSummary", "ProgressCallback"]

ProgressCallback = Callable[[int, int, int, int], None]
"""Called with (articles done, articles to embed, chunks done, chunks to embed)."""


@dataclass
class IndexSummary:
    """What a build, update or removal did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)  # indexed, but something in it was ignored
    kept_out: list[str] = field(default_factory=list)  # found in the inputs, but removed with `index remove`
    embedded_chunks: int = 0
    articles: int = 0
    chunks: int = 0
    generation: int | None = None
    published: bool = False
    merges: int = 0
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
        }

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["counts"] = self.counts()
        for name in ("skipped", "warnings"):
            body[name] = [{"origin": s.origin, "line": s.line, "reason": s.reason} for s in getattr(self, name)]
        return body

    def finish(self, commit: Commit, seconds: float) -> None:
        """The figures of the generation live at the end (``commit``), and the time it all took."""
        self.generation = commit.generation
        self.articles = commit.counts.articles
        self.chunks = commit.counts.chunks
        self.seconds = seconds

"""What a search of either backend takes and gives: a window of allowed passages, and the candidates it found."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Candidates", "Window"]


@dataclass(frozen=True)
class Window:
    """Which passages a search may return: chunk ids in [low, high) (plus the undated ones when ``undated``), from
    any outlet or only those named in ``sources`` (sorted; each backend finds them in its own way)."""

    low: int
    high: int
    undated: bool = False
    sources: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Candidates:
    """Passages found, best first: chunk ids, scores, article uids, and where each row is in the backend's own terms
    (the local store: segment and position; Milvus: 0 and the row's uid), handed back to ``chunk_rows``."""

    ids: np.ndarray
    scores: np.ndarray
    articles: np.ndarray
    segments: np.ndarray
    positions: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def as_dict(self) -> dict[int, float]:
        return {int(i): float(s) for i, s in zip(self.ids, self.scores, strict=True)}

"""Which of a question's words the BM25 ranking searches by: the rarer ones."""

from __future__ import annotations

from ..index.analyzer import analyze
from ..index.store import StoreReader

__all__ = ["selective_terms"]


def selective_terms(reader: StoreReader, terms: list[str], max_df: float, max_terms: int = 64) -> list[str]:
    """The ``max_terms`` rarest ``terms`` found in at most ``max_df`` of the passages (at least the two rarest).

    Words in most passages barely move a BM25 ranking but make it score nearly every row.
    """
    stemmed = [sorted(set(analyze(term))) for term in terms]
    df = reader.stem_frequencies(stem for found in stemmed for stem in found)
    counted = [
        (max((df.get(stem, 0) for stem in found), default=0), term) for found, term in zip(stemmed, terms, strict=True)
    ]
    total = max(1, reader.chunk_count)
    present = sorted((count, i) for i, (count, _) in enumerate(counted) if count > 0)
    rare = [(count, i) for count, i in present if count <= max_df * total][:max_terms]
    if len(rare) < 2:
        rare = present[:2]
    return [counted[i][1] for _, i in sorted(rare, key=lambda item: item[1])]

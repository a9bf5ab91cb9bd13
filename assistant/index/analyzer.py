"""Words as the index sees them: split, lower-cased, ASCII-folded and stemmed (Snowball English) by tantivy's text
analyzer, the same for both backends (Milvus stores the words already analyzed), and titles weighted."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tantivy

__all__ = ["ANALYZER", "TITLE_WEIGHT", "analyze"]

ANALYZER = "tantivy simple, remove_long 40, lowercase, ascii_fold, stemmer english"
TITLE_WEIGHT = 2  # a title states what the article is about: its words count double


@lru_cache(maxsize=1)
def _analyzer() -> tantivy.TextAnalyzer:
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def analyze(text: str) -> list[str]:
    """The terms of ``text`` in order, as the index stores them."""
    return list(_analyzer().analyze(text))

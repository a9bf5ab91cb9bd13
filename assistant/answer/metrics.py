"""How answers and rankings are scored against gold: SQuAD-style matching, token F1, recall@k and reciprocal rank.

One definition for `assistant eval`, the benchmarks and the tests. Text is compared after lower-casing and
removing punctuation and the articles "a", "an", "the" (SQuAD's normalisation, as the RealTime QA authors score).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["contains", "exact_match", "normalize", "rank_of", "recall_at", "reciprocal_rank", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’—–…"})


def normalize(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def contains(haystack: str, answers: Iterable[str]) -> bool:
    """Whether any of ``answers`` appears in ``haystack`` as whole normalised words."""
    hay = f" {normalize(haystack)} "
    return any(f" {gold} " in hay for gold in (normalize(a) for a in answers) if gold)


def exact_match(prediction: str | None, answers: Iterable[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer (no prediction scores 0)."""
    if not prediction:
        return 0.0
    said = normalize(prediction)
    return float(any(said == normalize(a) for a in answers))


def token_f1(prediction: str | None, answers: Iterable[str]) -> float:
    """The best SQuAD token F1 of ``prediction`` against any gold answer (no prediction scores 0)."""
    if not prediction:
        return 0.0
    said = normalize(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize(answer).split()
        common = sum((Counter(said) & Counter(gold)).values())
        if common:
            precision, recall = common / len(said), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def rank_of(ranked: Sequence[str], gold: set[str]) -> int | None:
    """1-based rank of the first gold item in ``ranked``, or None."""
    return next((i + 1 for i, item in enumerate(ranked) if item in gold), None)


def recall_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """1.0 when a gold item is among the first ``k`` of ``ranked``."""
    return float(bool(set(ranked[:k]) & gold))


def reciprocal_rank(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    """1/rank of the first gold item within the first ``k``, else 0 (averaged over questions: MRR@k)."""
    rank = rank_of(ranked[:k], gold)
    return 1.0 / rank if rank else 0.0

"""How answers and rankings are scored against gold: SQuAD-style matching, token F1, recall@k and reciprocal rank.

One definition for `assistant eval`, the benchmarks and the tests. Text is compared after lower-casing and
removing punctuation and the articles "a", "an", "the" (SQuAD's normalisation, as the RealTime QA authors score).

The lenient measure (:func:`lenient_f1`) also counts as equal what a reader takes for the same answer: number words
and digits ("nine", "9"), a country's common names ("Britain", "UK", "United Kingdom"; "US", "America", "United
States"), "percent" and "%". It is reported beside the strict one, never instead of it.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = [
    "RIGHT_F1", "contains", "exact_match", "fact_quoted", "lenient_f1", "normalize", "rank_of", "recall_at",
    "reciprocal_rank", "token_f1",
]  # fmt: skip

RIGHT_F1 = 0.5  # a short answer sharing at least this token F1 with the gold counts as right (its precision)

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


_UNITS = """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty""".split()  # noqa: SIM905 - a word list reads better as words
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_UNITS)} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
}  # fmt: skip
_SAME = [  # (pattern over normalised text, the name it stands for), longest first
    (
        re.compile(r"\b(?:united kingdom of great britain and northern ireland|great britain|britain|u k|uk)\b"),
        "united kingdom",
    ),
    (re.compile(r"\b(?:united states of america|u s a|usa|u s|us|america)\b"), "united states"),
    (re.compile(r"\bpercent\b|%"), "percent"),
]


def _lenient(text: str) -> list[str]:
    said = normalize(text.replace("%", " percent "))
    for pattern, name in _SAME:
        said = pattern.sub(name, said)
    return [_NUMBER_WORDS.get(word, word) for word in said.split()]


def lenient_f1(prediction: str | None, answers: Iterable[str]) -> float:
    """:func:`token_f1` after the equivalences of the module's docstring (number words, country names, percent)."""
    if not prediction:
        return 0.0
    said = _lenient(prediction)
    best = 0.0
    for answer in answers:
        gold = _lenient(answer)
        common = sum((Counter(said) & Counter(gold)).values())
        if common:
            precision, recall = common / len(said), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


FACT_OVERLAP = 0.8  # share of a fact's distinct words an excerpt must hold for the fact to count as quoted
_MIN_QUOTE_WORDS = 4  # a quoted span shorter than this is not matched inside a fact (too little to tell)


def fact_quoted(fact: str, excerpt: str, quote: str = "") -> bool:
    """Whether a cited excerpt (with its quoted span ``quote``) quotes an evidence sentence ``fact``: the excerpt
    holds the whole fact, or the fact holds the quote (of four words or more), or the excerpt holds at least
    ``FACT_OVERLAP`` of the fact's distinct words (after :func:`normalize`)."""
    said, held, span = normalize(fact), f" {normalize(excerpt)} ", normalize(quote)
    if not said:
        return False
    if f" {said} " in held or (len(span.split()) >= _MIN_QUOTE_WORDS and f" {span} " in f" {said} "):
        return True
    words = set(said.split())
    return len(words & set(held.split())) / len(words) >= FACT_OVERLAP


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

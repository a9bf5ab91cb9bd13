"""Words that carry meaning: a question's content words, figures, and a light stem to match word forms."""

from __future__ import annotations

import re

__all__ = ["FIGURE", "STOPWORDS", "query_terms", "stem"]

# Words too common to help a lexical match; the dense half of a search still sees the whole question.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves recently according
    new news said says one""".split()  # noqa: SIM905 - a word list reads better as words
)
# A figure as written: "23", "1,000", "4.2", "3,5" (a decimal comma).
FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_TERMS = 64
_SUFFIXES = ("ments", "ment", "ings", "ing", "ies", "ied", "es", "ed", "s")


def query_terms(question: str) -> list[str]:
    """The question's content words, lower-cased, in order, without repeats (all words if none is left)."""
    words = [w.lower() for w in _WORD.findall(question)]
    terms = list(dict.fromkeys(w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())))
    return (terms or list(dict.fromkeys(words)))[:_MAX_TERMS]


def stem(word: str) -> str:
    """A crude suffix strip, so "invests", "invested" and "investment" meet.

    The index stems with FTS5's Porter tokenizer; this one is for comparing an answer with its excerpts in memory,
    where a rough, predictable match is what the checks were tuned with.
    """
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word

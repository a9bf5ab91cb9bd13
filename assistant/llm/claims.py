"""An answer's sentences as claims, and excerpts as the checks see them: weighted words, figures and markers.

Shared by :mod:`assistant.llm.checking` (is each claim supported?) and :mod:`assistant.llm.screening` (was the
answer written under injected instructions?), so both weigh words the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..text.citations import MARKER, strip_markers
from ..text.markup import close_up
from ..text.sentences import sentence_spans
from ..text.terms import FIGURE, query_terms, stem
from .injection import is_instruction

# Thresholds, from hand-made claims about the seed article (the cases are kept in tests/test_llm.py):
# - Word coverage alone: faithful paraphrases keep 64-100 % of the best source sentence's weighted content words
#   ("Alibaba spent 23 billion yuan on AI" 0.89; only a loose rewording with new words, "the e-commerce giant's
#   chief executive said ...", falls to 0.38); claims that borrow the topic but not the fact keep 40-67 %
#   ("Alibaba plans to build a moon base" 0.50, "Baidu sold its AI unit to ByteDance" 0.50). 0.6 keeps the
#   paraphrases and drops most borrowings; contradictions that reuse the words ("Tencent cut its AI budget")
#   pass, as they would any word-level check.
LEXICAL_THRESHOLD = 0.6
# - With an embedder the score is the mean of coverage and cosine. all-MiniLM-L6-v2 puts paraphrases at cosine
#   0.68-0.91 and borrowed topics at 0.19-0.67, so supported claims score 0.72-0.86 and borrowed topics 0.41-0.58
#   (the loose rewording above scores 0.53: the price of the margin). 0.6 sits above every borrowed topic.
COMBINED_THRESHOLD = 0.6
LEXICAL_WEIGHT = 0.5
# Names and figures carry a claim's facts, so they count double: "Tencent invested 23 billion yuan" against the
# sentence about Alibaba's 23 billion keeps 0.71 of its weight instead of 0.8 of its words. That alone does not
# catch a swapped name inside one excerpt; a swapped figure is caught by the exact-number rule.
KEY_WEIGHT = 2.0
# When several excerpts back a claim together, an excerpt is counted as backing it if its best sentence holds at
# least this share of the claim: one shared word among eight is coincidence, two or three is a contribution.
CONTRIBUTION = 0.25
_TOKEN = re.compile(rf"{FIGURE.pattern}|[^\W\d_]+")  # a figure, or a run of letters
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
# Sentences saying the excerpts do not answer: they make no claim to check and cite nothing. The gaps are
# bounded so a long sentence cannot make the search quadratic.
NO_ANSWER_SENTENCE = re.compile(
    r"\b(?:excerpts?|articles?|passages?|context|(?:provided|given)\s+(?:texts?|information|documents?))\b"
    r"[^.\n]{0,60}?\b(?:do(?:es)?\s*n[o’']t|did\s*n[o’']t|not|never|no)\b[^.\n]{0,40}?"
    r"\b(?:say|state|answer|contain|mention|provide|include|specify|give|cover|report|discuss|address)"
    r"|\b(?:i|we)\s+(?:cannot|can[’']t|can\s+not|(?:am|are)\s+unable\s+to)\b"
    r"|\b(?:cannot|can[’']t)\s+be\s+(?:answered|determined)\b"
    r"|\bthere\s+is\s+no\s+(?:information|mention)\b"
    r"|\bnot\s+(?:enough|sufficient)\s+information\b",
    re.IGNORECASE,
)


@dataclass
class Excerpt:
    """One numbered excerpt, analysed sentence by sentence."""

    text: str
    spans: list[tuple[int, int]]
    terms: list[dict[str, float]]
    numbers: set[str]
    instructions: list[bool]  # per sentence: it addresses the model, so it supports nothing
    first_row: int = 0  # this excerpt's first sentence in the embedding matrix


@dataclass(frozen=True)
class Sentence:
    """One sentence of an answer, the excerpt numbers its markers cite, and where it and its markers are."""

    text: str  # without markers
    cited: tuple[int, ...]
    span: tuple[int, int]
    markers: tuple[tuple[int, int], ...]  # where its markers are in the answer


def claim_sentences(text: str) -> list[Sentence]:
    """The answer's sentences and their markers.

    A marker outside every sentence (on a line of its own, or before the first sentence) belongs to the
    sentence before it, or to the first one.
    """
    spans = sentence_spans(text)
    if not spans:
        return []
    owned: list[list[re.Match[str]]] = [[] for _ in spans]
    for match in MARKER.finditer(text):
        owner = 0
        for i, (start, _) in enumerate(spans):
            if start <= match.start():
                owner = i
        owned[owner].append(match)
    result = []
    for (start, end), matches in zip(spans, owned, strict=True):
        sentence = close_up(strip_markers(text[start:end])).strip()
        cited = tuple(dict.fromkeys(int(m.group(1)) for m in matches))
        result.append(Sentence(sentence, cited, (start, end), tuple(m.span() for m in matches)))
    return result


def coverage(terms: dict[str, float], found: set[str] | dict[str, float]) -> float:
    """The weighted share of ``terms`` that ``found`` holds."""
    total = sum(terms.values())
    return sum(w for t, w in terms.items() if t in found) / total if total else 0.0


def analyse(passage: str) -> Excerpt:
    """An excerpt's sentences with their weighted terms, its figures, and which sentences address the model."""
    spans = sentence_spans(passage)
    terms = [terms_of(passage[a:b]) for a, b in spans]
    instructions = [is_instruction(passage[a:b]) for a, b in spans]
    return Excerpt(passage, spans, terms, set(numbers_in(passage)), instructions)


def terms_of(sentence: str) -> dict[str, float]:
    """Stemmed content words and normalised figures of a sentence, each with its weight."""
    content = set(query_terms(sentence))
    terms: dict[str, float] = {}
    for match in _TOKEN.finditer(sentence):
        token = match.group()
        if token[0].isdigit():
            terms[figure_value(token)] = KEY_WEIGHT
            continue
        lower = token.lower()
        if lower not in content:
            continue
        weight = KEY_WEIGHT if token[0].isupper() else 1.0
        base = stem(lower)
        terms[base] = max(weight, terms.get(base, 0.0))
    return terms


def numbers_in(text: str) -> list[str]:
    """Every figure ``text`` states, normalised by :func:`figure_value`."""
    return [figure_value(m.group()) for m in FIGURE.finditer(text)]


def figure_value(token: str) -> str:
    """The figure a token states: "1,000" is 1000, "4,2" is 4.2 (a decimal comma); "4.20" stays apart from "4.2"."""
    return _THOUSANDS.sub("", token).replace(",", ".")

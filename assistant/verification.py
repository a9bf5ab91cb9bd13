"""Checks a generated answer against the excerpts it was written from.

A model can cite an excerpt that does not exist, cite the wrong one, or state something no excerpt says. Each
sentence of the answer is a claim; it is supported when one cited excerpt has a sentence sharing most of the
claim's content words (with an embedder, also close in meaning) and every number it states appears in a cited
excerpt. The check is approximate by design: it catches invented figures and unrelated citations cheaply, not
subtle misreadings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .embedding import Embedder
from .retrieval import query_terms
from .sentences import sentence_spans

logger = logging.getLogger(__name__)

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
_MAX_RANGE = 50  # "[1-3]" is expanded; "[1-999999]" is not a citation anyone means, only its ends are kept

_CITE_WORD = r"(?:(?:excerpts?|sources?|passages?|refs?\.?)\s*)?"
_GROUP = rf"\[\s*{_CITE_WORD}\d+(?:\s*(?:[,;–—-]|and|&)\s*{_CITE_WORD}\d+)*\s*\]"
_RUN = re.compile(rf"(?P<pre>[ \t]*)(?P<run>{_GROUP}(?:[ \t]*,?[ \t]*{_GROUP})*)(?P<post>[ \t]*)", re.IGNORECASE)
_ITEM = re.compile(r"(\d+)(?:\s*[–—-]\s*(\d+))?")
_CLEAN_MARKER = re.compile(r"\[(\d+)\]")
_STRIP_MARKER = re.compile(r"[ \t]*\[\d+\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+(?=[.,;:!?])")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_SUFFIXES = ("ments", "ment", "ings", "ing", "ies", "ied", "es", "ed", "s")
# Sentences saying the excerpts do not answer: they make no claim to check and cite nothing. The gaps are
# bounded so a long sentence cannot make the search quadratic.
_NO_ANSWER = re.compile(
    r"\b(?:excerpts?|articles?|passages?|context|(?:provided|given)\s+(?:texts?|information|documents?))\b"
    r"[^.\n]{0,60}?\b(?:do(?:es)?\s*n[o’']t|did\s*n[o’']t|not|never|no)\b[^.\n]{0,40}?"
    r"\b(?:say|state|answer|contain|mention|provide|include|specify|give|cover|report|discuss|address)"
    r"|\b(?:i|we)\s+(?:cannot|can[’']t|can\s+not|(?:am|are)\s+unable\s+to)\b"
    r"|\b(?:cannot|can[’']t)\s+be\s+(?:answered|determined)\b"
    r"|\bthere\s+is\s+no\s+(?:information|mention)\b"
    r"|\bnot\s+(?:enough|sufficient)\s+information\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer and what backs it.

    ``cited`` are the excerpt numbers it points to (for a sentence without markers, the one found to support it).
    ``spans[n]`` is (start, end) of the sentence of excerpt ``n`` that best supports it. ``supported_by`` are the
    cited excerpts that back it (empty when unsupported). ``abstains`` marks "the excerpts do not say" sentences,
    which are neither cited nor flagged. ``position`` is (start, end) of the sentence in the verified text.
    """

    sentence: str
    cited: tuple[int, ...]
    supported: bool
    support: float
    spans: dict[int, tuple[int, int]]
    supported_by: tuple[int, ...] = ()
    abstains: bool = False
    position: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Verification:
    """A generated answer after the check: ``text`` keeps only markers to existing excerpts, as ``[n]``."""

    text: str
    removed: tuple[int, ...]
    claims: tuple[Claim, ...]
    unsupported: tuple[str, ...]

    @property
    def cited(self) -> tuple[int, ...]:
        """Every excerpt number some claim cites, ascending."""
        return tuple(sorted({n for claim in self.claims for n in claim.cited}))

    @property
    def abstained(self) -> bool:
        """True when the answer only says the excerpts do not answer (or says nothing)."""
        return all(claim.abstains for claim in self.claims)

    @property
    def support(self) -> float:
        """Mean support of the claims that were checked; 0 when none was."""
        checked = [claim.support for claim in self.claims if not claim.abstains]
        return float(sum(checked) / len(checked)) if checked else 0.0


@dataclass
class _Excerpt:
    text: str
    spans: list[tuple[int, int]]
    terms: list[dict[str, float]]
    numbers: set[str]
    first_row: int = 0  # this excerpt's first sentence in the embedding matrix


@dataclass
class _Score:
    number: int
    sentence: int
    lexical: float
    cosine: float
    value: float
    terms: dict[str, float] = field(default_factory=dict)


def verify(text: str, passages: Sequence[str], embedder: Embedder | None = None) -> Verification:
    """Check ``text`` against ``passages`` (``passages[i]`` is excerpt number ``i + 1``).

    In the returned text every marker belongs to a claim that cites it: markers to missing excerpts and markers
    on "the excerpts do not say" sentences are dropped, and an unmarked sentence that an excerpt backs gets its
    ``[n]``, so the text and ``claims`` always agree.
    """
    cleaned, removed = clean_markers(text, len(passages))
    excerpts = [_analyse(passage) for passage in passages]
    sentences = _claim_sentences(cleaned)
    checked = [i for i, sentence in enumerate(sentences) if not _NO_ANSWER.search(sentence.text)]
    cosines = _cosines([sentences[i].text for i in checked], excerpts, embedder)
    threshold = COMBINED_THRESHOLD if cosines is not None else LEXICAL_THRESHOLD

    claims: list[Claim] = []
    edits: list[tuple[int, int, str]] = []
    for index, sentence in enumerate(sentences):
        if index not in checked:
            claims.append(Claim(sentence.text, (), True, 0.0, {}, abstains=True))
            edits.extend(_deletion(cleaned, start, end) for start, end in sentence.markers)
            continue
        row = cosines[checked.index(index)] if cosines is not None else None
        claim = _judge(sentence.text, sentence.cited, excerpts, row, threshold)
        if claim.cited and not sentence.cited:
            edits.append(_insertion(cleaned, sentence.span, claim.cited))
        claims.append(claim)
    final, moved = _apply(cleaned, edits, [s.span for s in sentences])
    claims = [replace(claim, position=span) for claim, span in zip(claims, moved, strict=True)]
    unsupported = tuple(claim.sentence for claim in claims if not claim.supported)
    logger.debug("verified %d claims: %d unsupported, removed markers %s", len(claims), len(unsupported), removed)
    return Verification(final, removed, tuple(claims), unsupported)


def clean_markers(text: str, count: int) -> tuple[str, tuple[int, ...]]:
    """``text`` with citation markers normalised to ``[n]`` and those outside 1..count removed; and the removed."""
    removed: list[int] = []

    def replace(match: re.Match[str]) -> str:
        numbers: list[int] = []
        for first, last in _ITEM.findall(match.group("run")):
            low = int(first)
            high = int(last) if last else low
            if low <= high <= low + _MAX_RANGE:
                numbers.extend(range(low, high + 1))
            else:
                numbers.extend((low, high) if last else (low,))
        numbers = list(dict.fromkeys(numbers))
        valid = [n for n in numbers if 1 <= n <= count]
        removed.extend(n for n in numbers if not 1 <= n <= count and n not in removed)
        pre, post = match.group("pre"), match.group("post")
        if valid:
            return pre + "".join(f"[{n}]" for n in valid) + post
        start, end = match.start(), match.end()
        following = match.string[end : end + 1]
        if start == 0 or match.string[start - 1] == "\n" or not following or following in ".,;:!?)\n":
            return ""
        return " " if (pre or post) else ""

    cleaned = _RUN.sub(replace, text)
    while True:  # a removal can join brackets into a new marker ("[[9]2]" -> "[2]"); sweep until none is left
        again = _RUN.sub(replace, cleaned)
        if again == cleaned:
            return cleaned.strip(), tuple(removed)
        cleaned = again


# -- claims ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sentence:
    text: str  # without markers
    cited: tuple[int, ...]
    span: tuple[int, int]
    markers: tuple[tuple[int, int], ...]  # where its markers are in the answer


def _claim_sentences(text: str) -> list[_Sentence]:
    """The answer's sentences and their markers.

    A marker outside every sentence (on a line of its own, or before the first sentence) belongs to the
    sentence before it, or to the first one.
    """
    spans = sentence_spans(text)
    if not spans:
        return []
    owned: list[list[re.Match[str]]] = [[] for _ in spans]
    for match in _CLEAN_MARKER.finditer(text):
        owner = 0
        for i, (start, _) in enumerate(spans):
            if start <= match.start():
                owner = i
        owned[owner].append(match)
    result = []
    for (start, end), matches in zip(spans, owned, strict=True):
        sentence = _SPACE_BEFORE_PUNCTUATION.sub("", _STRIP_MARKER.sub("", text[start:end])).strip()
        cited = tuple(dict.fromkeys(int(m.group(1)) for m in matches))
        result.append(_Sentence(sentence, cited, (start, end), tuple(m.span() for m in matches)))
    return result


def _deletion(text: str, start: int, end: int) -> tuple[int, int, str]:
    """Removing the marker at [start, end) with the space before it (or after it, at the start of a line)."""
    before = start
    while before > 0 and text[before - 1] in " \t":
        before -= 1
    if before == 0 or text[before - 1] == "\n":
        while end < len(text) and text[end] in " \t":
            end += 1
        return start, end, ""
    return before, end, ""


def _insertion(text: str, span: tuple[int, int], numbers: tuple[int, ...]) -> tuple[int, int, str]:
    """Markers for a sentence that had none: before its final punctuation, as the prompt asks the model to."""
    at = span[1]
    while at > span[0] and text[at - 1] in ".!?\"'”’)":
        at -= 1
    at = at if at > span[0] else span[1]
    return at, at, " " + "".join(f"[{n}]" for n in numbers)


def _apply(
    text: str, edits: list[tuple[int, int, str]], spans: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with the (start, end, replacement) edits made, and where each span is afterwards."""
    if not edits:
        return text, spans
    edits.sort()
    pieces, last = [], 0
    for start, end, replacement in edits:
        pieces.append(text[last:start] + replacement)
        last = end
    result = "".join(pieces) + text[last:]

    def moved(position: int, inclusive: bool) -> int:
        shift = 0
        for start, end, replacement in edits:
            if end < position or (end == position and (inclusive or start < end)):
                shift += len(replacement) - (end - start)
        return position + shift

    stripped = result.rstrip()
    new = [(moved(a, False), min(len(stripped), moved(b, True))) for a, b in spans]
    return stripped, new


def _judge(
    sentence: str,
    cited: tuple[int, ...],
    excerpts: list[_Excerpt],
    cosine_row: np.ndarray | None,
    threshold: float,
) -> Claim:
    terms = _terms(sentence)
    numbers = set(_numbers(sentence))
    if not cited:
        # Unmarked: cite the excerpt that backs it best on its own, if any does.
        scores = [_best(terms, number, excerpts, cosine_row) for number in range(1, len(excerpts) + 1)]
        backing = [
            s for s in scores if s is not None and s.value >= threshold and numbers <= excerpts[s.number - 1].numbers
        ]
        if not backing:
            best = max((s.value for s in scores if s is not None), default=0.0)
            return Claim(sentence, (), False, round(best, 4), {})
        top = max(backing, key=lambda s: s.value)
        span = excerpts[top.number - 1].spans[top.sentence]
        number = top.number
        return Claim(sentence, (number,), True, round(top.value, 4), {number: span}, (number,))

    best = {n: _best(terms, n, excerpts, cosine_row) for n in cited}
    found = {n: s for n, s in best.items() if s is not None}
    spans = {n: excerpts[n - 1].spans[s.sentence] for n, s in found.items()}
    # Together: words may come from any cited excerpt's best sentence, figures from anywhere in a cited excerpt.
    joined: set[str] = set().union(*(s.terms for s in found.values())) if found else set()
    lexical = _coverage(terms, joined)
    value = lexical
    if cosine_row is not None:
        cosine = max((s.cosine for s in found.values()), default=0.0)
        value = LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * cosine
    figures = set().union(*(excerpts[n - 1].numbers for n in cited))
    supported = bool(found) and value >= threshold and numbers <= figures
    supported_by = tuple(n for n, s in found.items() if s.lexical >= CONTRIBUTION or s.value >= threshold)
    return Claim(sentence, cited, supported, round(value, 4), spans, supported_by if supported else ())


def _best(
    terms: dict[str, float], number: int, excerpts: list[_Excerpt], cosine_row: np.ndarray | None
) -> _Score | None:
    """The sentence of excerpt ``number`` that best supports a claim; None for an excerpt without sentences."""
    excerpt = excerpts[number - 1]
    best: _Score | None = None
    for i, sentence_terms in enumerate(excerpt.terms):
        lexical = _coverage(terms, sentence_terms)
        cosine = float(max(0.0, cosine_row[excerpt.first_row + i])) if cosine_row is not None else 0.0
        value = lexical if cosine_row is None else LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * cosine
        if best is None or value > best.value:
            best = _Score(number, i, lexical, cosine, value, sentence_terms)
    return best


def _coverage(terms: dict[str, float], found: set[str] | dict[str, float]) -> float:
    total = sum(terms.values())
    return sum(w for t, w in terms.items() if t in found) / total if total else 0.0


# -- text analysis --------------------------------------------------------------------------------------------
def _analyse(passage: str) -> _Excerpt:
    spans = sentence_spans(passage)
    return _Excerpt(passage, spans, [_terms(passage[a:b]) for a, b in spans], set(_numbers(passage)))


def _terms(sentence: str) -> dict[str, float]:
    """Stemmed content words and normalised figures of a sentence, each with its weight."""
    content = set(query_terms(sentence))
    terms: dict[str, float] = {}
    for match in _TOKEN.finditer(sentence):
        token = match.group()
        if token[0].isdigit():
            terms[_number(token)] = KEY_WEIGHT
            continue
        lower = token.lower()
        if lower not in content:
            continue
        weight = KEY_WEIGHT if token[0].isupper() else 1.0
        stem = _stem(lower)
        terms[stem] = max(weight, terms.get(stem, 0.0))
    return terms


def _numbers(text: str) -> list[str]:
    return [_number(m.group()) for m in _NUMBER.finditer(text)]


def _number(token: str) -> str:
    """The figure a token states: "1,000" is 1000, "4,2" is 4.2 (a decimal comma); "4.20" stays apart from "4.2"."""
    return _THOUSANDS.sub("", token).replace(",", ".")


def _stem(word: str) -> str:
    """A crude suffix strip, so "invests", "invested" and "investment" meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            return stem + "y" if suffix in ("ies", "ied") else stem
    return word


def _cosines(claims: list[str], excerpts: list[_Excerpt], embedder: Embedder | None) -> np.ndarray | None:
    """Cosine of each claim with every excerpt sentence (rows: claims), from one embedding call."""
    if embedder is None or not claims:
        return None
    sentences: list[str] = []
    for excerpt in excerpts:
        excerpt.first_row = len(sentences)
        sentences.extend(excerpt.text[a:b] for a, b in excerpt.spans)
    if not sentences:
        return None
    vectors = np.asarray(embedder.embed(claims + sentences), dtype=np.float32)
    return vectors[: len(claims)] @ vectors[len(claims) :].T

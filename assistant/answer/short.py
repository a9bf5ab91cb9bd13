"""The direct answer: the short span of a quoted sentence that answers the question ("23 billion yuan").

No model writes it. The question's expected kind (:mod:`.expectation`) says what to look for; each sentence the
answer quotes offers the spans of that kind it states (an amount, a figure, a date, a capitalised name, a title in
quotes) that the question does not already contain. A span scores by the rank of its sentence, how close it sits
to the question's own words there, how many retrieved articles state it too, and whether it looks like the kind
asked for (a known place for "which country", not a place for "who"). The best span is the short answer only if
it scores enough; otherwise there is none: saying nothing beats a guess. The span always lies inside the quoted
sentence of its citation, so the direct answer cannot disagree with its quote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..answers import Citation, Conflict, ShortAnswer
from ..retrieve.timeframes import parse_day
from ..text.places import place_kind
from ..text.terms import STOPWORDS, query_terms
from ..text.values import COUNT, MONEY, MONTHS, NAME, PERCENT, TITLE, WHEN
from .expectation import expected_kind, head_noun
from .metrics import normalize

__all__ = ["SpanWeights", "short_answer", "span_candidates"]

# Capitalised words that start a sentence or a clause rather than a name.
_OPENERS = frozenset(
    """a an the but and or so yet in on at by for from with after before during since as if when while this
    that these those it its his her their our we they he she i you officials police according however
    meanwhile also still now last next earlier later then there here some many most several both all
    each every no not more""".split()  # noqa: SIM905 - a word list reads better as words
)
_TITLES = re.compile(
    r"^(?:president|rep|sen|gov|dr|mr|mrs|ms|prime minister|first lady|king|queen|prince|princess|pope|judge|"
    r"justice|secretary|chancellor|mayor|ceo|coach|lt|gen|col|capt|sir|dame)\b",
    re.I,
)
_ORG_CUES = re.compile(
    r"\b(?:inc|corp|corporation|co|company|ltd|llc|plc|group|airlines?|airways|motors?|bank|college|university|"
    r"institute|foundation|association|agency|department|ministry|council|committee|league|club|fc|"
    r"network|news|times|post|holdings|technologies|labs?|systems|partners|brands|foods|pharmaceuticals)\b",
    re.I,
)
# Capitalised, but never a name: days and months (dates are asked with "when").
_CALENDAR = re.compile(rf"^(?:{MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\.?$", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|n't|neither|nor|none|cannot|refused|denied|rejected)\b", re.I)
# "which country" wants a country, "which state" a state...; other place nouns take any place.
_PLACE_HEADS = {
    "country": ("country",),
    "nation": ("country",),
    "state": ("state",),
    "city": ("city", "state"),  # GeoNames files New York under its state
    "town": ("city",),
    "continent": ("continent", "region"),
}
# The question asks for a share or a change: a percentage answers it better than an amount.
_SHARE = re.compile(
    r"\b(?:percent(?:age)?|share|proportion|increase[ds]?|rise|rose|risen|fall|fell|fallen|drop(?:ped)?|grow|grew|"
    r"grown|jump(?:ed)?|decline[ds]?|climb(?:ed)?|gone up|gone down)\b",
    re.I,
)
_SUPERSEDED_DAYS = 7  # a report this much older than the latest may state a figure since updated
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")


@dataclass(frozen=True)
class SpanWeights:
    """How a candidate span scores. The values are the ones leave-one-week-out cross-validation on the RealTime QA
    dev questions chose most often (7 folds of 11; bench/crossval_realtimeqa.py)."""

    rank_decay: float = 0.2  # each later quoted sentence counts this much less than the one before
    proximity: float = 0.4  # a span beside the question's own words in its sentence
    votes: float = 0.2  # each other retrieved passage that states the same span (at most three)
    fit: float = 0.6  # a span that looks like the kind asked for (a place for "where")
    title: float = 0.45  # a span the article's headline names too: what the story is about
    minimum: float = 0.5  # below this the best span is a guess, and no short answer is given


@dataclass(frozen=True)
class _Span:
    citation: int
    start: int  # in the citation's excerpt
    end: int
    text: str
    fit: float


def short_answer(
    question: str,
    citations: Sequence[Citation],
    passages: Sequence[str] = (),
    conflicts: Sequence[Conflict] = (),
    *,
    kind: str | None = None,
    weights: SpanWeights | None = None,
) -> ShortAnswer | None:
    """The short answer to ``question`` from the sentences ``citations`` quote, or None when there is none.

    ``passages`` are the texts of every retrieved passage (agreement between articles is evidence); ``conflicts``
    are the answer's disagreements: a value the sources dispute is not given as the answer.
    """
    kind = kind or expected_kind(question)
    if kind is None or not citations:
        return None
    weights = weights or SpanWeights()
    if kind == "yes/no":
        return _yes_no(question, citations[0])
    ranked = ranked_spans(question, citations, passages, kind, weights)
    if not ranked:
        return None
    score, best = ranked[0]
    if score < weights.minimum:
        return None
    if _disputed(best, citations, conflicts):
        return None  # the reader must see both sides, not one picked for them
    return ShortAnswer(best.text, kind, best.citation, (best.start, best.end))


def _disputed(span: _Span, citations: Sequence[Citation], conflicts: Sequence[Conflict]) -> bool:
    """Whether another report states a different value than ``span`` and is not clearly older than its source.

    A later report that gives a new figure supersedes an older one only in the reader's judgement: the short answer
    steps aside unless the disagreeing report is at least a week older (a figure since updated), so two reports of
    the same days that disagree, or undated ones, are left for the reader to weigh.
    """
    dates = {c.number: c.date for c in citations}
    said = normalize(span.text)
    for conflict in conflicts:
        for side, values in zip(conflict.citations, conflict.values, strict=False):
            if said not in {normalize(v) for v in values.split(", ")}:
                continue
            for other in conflict.citations:
                if other == side:
                    continue
                mine = parse_day(dates.get(side), name="date") if dates.get(side) else None
                theirs = parse_day(dates.get(other), name="date") if dates.get(other) else None
                if not mine or not theirs or (mine - theirs).days < _SUPERSEDED_DAYS:
                    return True
    return False


def ranked_spans(
    question: str, citations: Sequence[Citation], passages: Sequence[str], kind: str, weights: SpanWeights
) -> list[tuple[float, _Span]]:
    """Every candidate span of the quoted sentences with its score, best first."""
    asked = set(normalize(question).split())
    terms = {t for t in query_terms(question) if t not in STOPWORDS}
    corpus = [f" {normalize(text)} " for text in passages]
    scored: list[tuple[float, _Span]] = []
    for rank, citation in enumerate(citations):
        sentence = citation.quote
        offset = citation.span[0]
        anchors = [m.start() for m in re.finditer(r"\w+", sentence) if m.group().lower() in terms]
        headline = f" {normalize(citation.title)} "
        for start, end, fit in span_candidates(sentence, kind, question):
            text = sentence[start:end]
            words = normalize(text).split()
            if not words or set(words) <= asked:
                continue  # the question already says it: not an answer
            if citation.source and normalize(text) == normalize(citation.source):
                continue  # the outlet that reports it ("CNN") is not what it reports
            closeness = _closeness(sentence, start, end, anchors)
            key = f" {' '.join(words)} "
            votes = min(3, sum(key in passage for passage in corpus) - 1) if corpus else 0
            titled = key in headline
            score = (1 - weights.rank_decay) ** rank * (
                weights.proximity * closeness
                + weights.votes * max(0, votes)
                + weights.fit * fit
                + weights.title * titled
            )
            scored.append((score, _Span(citation.number, offset + start, offset + end, text, fit)))
    scored.sort(key=lambda item: (-item[0], item[1].citation, item[1].start))
    return scored


def span_candidates(sentence: str, kind: str, question: str = "") -> list[tuple[int, int, float]]:
    """(start, end, fit) of the spans of ``sentence`` that could answer ``question``, of ``kind``.

    ``fit`` (0 to 1) is how much the span looks like that kind beyond matching its pattern: a share asked for
    ("what percentage", "how much did prices rise") wants a percentage; "which country" a country, not a city.
    """
    found: list[tuple[int, int, float]] = []
    share = bool(_SHARE.search(question))
    if kind == "amount":
        found = [(m.start(), m.end(), 0.6 if share else 1.0) for m in MONEY.finditer(sentence)]
        found += [(m.start(), m.end(), 1.0 if share else 0.6) for m in PERCENT.finditer(sentence)]
        found += [(s, e, 0.2) for s, e, _ in _counts(sentence)]
    elif kind == "number":
        found = [(m.start(), m.end(), 1.0 if share else 0.8) for m in PERCENT.finditer(sentence)]
        found += [(s, e, fit * (0.3 if share else 1.0)) for s, e, fit in _counts(sentence)]
        found += [(m.start(), m.end(), 0.5) for m in MONEY.finditer(sentence)]
    elif kind == "date":
        found = [(m.start(), m.end(), 1.0) for m in WHEN.finditer(sentence)]
    else:
        # A lone capitalised word opening the sentence is as likely an ordinary word ("Legendary ...").
        head = head_noun(question) if question else None
        found = [
            (s, e, _fit(sentence[s:e], kind, head) * (0.5 if s == 0 and " " not in sentence[s:e] else 1.0))
            for s, e in _names(sentence)
        ]
        found += [(m.start(1), m.end(1), 1.0 if kind == "thing" else 0.3) for m in TITLE.finditer(sentence)]
    return _outermost(found)


def _counts(sentence: str) -> list[tuple[int, int, float]]:
    spans = []
    for match in COUNT.finditer(sentence):
        text = match.group()
        # A year is a date, not a count; "one of the..." is a figure of speech.
        fit = 0.0 if _YEAR.match(text) else 0.4 if text.lower() in ("one", "a dozen") else 0.7
        spans.append((match.start(), match.end(), fit))
    return spans


def _names(sentence: str) -> list[tuple[int, int]]:
    """Capitalised runs of words, without a sentence-opening word, a day or month, or a trailing possessive."""
    spans = []
    for match in NAME.finditer(sentence):
        base = match.start()
        words = list(re.finditer(r"\S+", match.group()))
        runs: list[list[re.Match[str]]] = [[]]
        for word in words:  # "Covid-19 Thursday", "Monday Ford": a day or month splits a run
            if _CALENDAR.match(word.group().strip(",.;:")):
                runs.append([])
            else:
                runs[-1].append(word)
        for run in runs:
            while run and run[0].group().lower().strip(",.") in _OPENERS:
                run.pop(0)
            if run:
                start = base + run[0].start()
                # "al Qaeda", "bin Salman", "van Gogh": a lower-case particle belongs to the name after it.
                particle = re.search(r"(?<![\w-])(?:al|el|bin|ibn|van|von|de|da|di|du|le|la)[ -]$", sentence[:start])
                start = particle.start() if particle and not (start - particle.start() > 4) else start
                spans.extend(_trimmed(sentence, start, base + run[-1].end()))
    return spans


def _trimmed(sentence: str, start: int, end: int) -> list[tuple[int, int]]:
    """The name without a trailing possessive or punctuation, continued over an ampersand."""
    text = sentence[start:end]
    for tail in ("’s", "'s", ",", ".", ":", ";"):
        if text.endswith(tail) and not text.endswith(("Inc.", "Co.", "Corp.", "Jr.", "Sr.", "Lt.")):
            end -= len(tail)
            text = text[: -len(tail)]
    # "Bed Bath & Beyond": a name may continue over an ampersand.
    rest = re.match(r"\s+&\s+[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)*", sentence[end:])
    if rest:
        end += rest.end()
    return [(start, end)] if end > start else []


def _fit(name: str, kind: str, head: str | None = None) -> float:
    place = place_kind(name)
    titled = bool(_TITLES.match(name))
    org = bool(_ORG_CUES.search(name))
    several = " " in name.strip()
    if head and re.search(rf"\b{re.escape(head)}s?\b", name, re.I):
        return 1.0  # "Yellowstone National Park" for "which national park", "Dartmouth College" for "which college"
    if kind == "place":
        wanted = _PLACE_HEADS.get(head or "")
        if place and (wanted is None or place in wanted):
            return 1.0
        return 0.4 if place else 0.0 if (titled or org) else 0.3
    if kind == "person":
        return 0.0 if (place or org) else 1.0 if titled else 0.7 if several else 0.3
    if kind == "organisation":
        return 0.0 if (place or titled) else 1.0 if org else 0.5
    return 0.2 if (place or titled) else 0.5  # "thing": a show, a product, a virus


def _closeness(sentence: str, start: int, end: int, anchors: list[int]) -> float:
    """1 when the span sits next to the question's words in the sentence, falling off with distance in words."""
    if not anchors:
        return 0.0
    gaps = []
    for anchor in anchors:
        low, high = (anchor, start) if anchor < start else (end, anchor)
        gaps.append(len(sentence[low:high].split()) if high > low else 0)
    return math.exp(-min(gaps) / 6)


def _outermost(spans: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Drop spans inside a longer one ("5" inside "$5 million"); a tie in extent keeps the best fit."""
    ordered = sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]), -s[2]))
    kept: list[tuple[int, int, float]] = []
    for span in ordered:
        if kept and span[0] >= kept[-1][0] and span[1] <= kept[-1][1]:
            continue
        kept.append(span)
    return kept


def _yes_no(question: str, lead: Citation) -> ShortAnswer | None:
    """ "Yes" or "No" when the lead sentence states (or denies) everything the question asks; else nothing."""
    terms = [t for t in query_terms(question) if t not in STOPWORDS]
    quote = lead.quote
    said = set(normalize(quote).split())
    if not terms or sum(t in said for t in terms) / len(terms) < 0.8:
        return None
    negated = bool(_NEGATION.search(quote)) != bool(_NEGATION.search(question))
    return ShortAnswer("No" if negated else "Yes", "yes/no", lead.number, lead.span)

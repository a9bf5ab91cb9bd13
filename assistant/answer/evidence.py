"""Which sentences of the retrieved passages answer the question, and how strongly the best of them does.

Every sentence of every passage is scored lexically (IDF-weighted share of the question's words it contains, with
the index's own stemmer and document frequencies); the best ones are then embedded together with the question and
scored by meaning too. A sentence that states a value of the kind the question asks for (a number for "how much",
a date for "when", a name for "who") gets a bonus, so the answer leads with the sentence that states it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..documents import Hit
from ..embed.base import Embedder
from ..index.analyzer import analyze
from ..index.store import StoreReader
from ..llm.injection import instruction_start
from ..retrieve.timeframes import parse_day, period_start
from ..text.languages import content_terms, question_language
from ..text.sentences import sentence_spans
from ..text.terms import FIGURE, query_terms
from ..text.values import DATE as _DATE
from ..text.values import NAME as _NAME
from ..text.values import NUMBER as _NUMBER
from .expectation import coarse_kind, expected_kind

# How the parts of a sentence's score weigh: meaning first, then the question's words, then the rank of the
# passage it came from, then whether it states the kind of value asked for. Tuned on RealTime QA dev questions.
DENSE_WEIGHT = 0.45
LEXICAL_WEIGHT = 0.35
PASSAGE_WEIGHT = 0.12
VALUE_WEIGHT = 0.08
# Support (what abstention looks at) leaves out the rank terms: they say which passage came first, not whether
# any passage answers. A sentence sharing no rare word with the question still needs to be close in meaning.
SUPPORT_DENSE = 0.5
SUPPORT_LEXICAL = 0.5
# A passage that never states a number the question states (a year above all: "the 2023 World Series"), or that
# was published before the month or year the question asks about, is about another occasion, however alike the
# words; its support is scaled down so the answer abstains instead.
NUMBER_MISS = 0.6
_MIN_WORDS = 4  # "Read more.", "Photo: AP" and the like state nothing
_MAX_CHARS = 600  # a "sentence" longer than this is a list or a table flattened into one line
_TRAILING_TAG = re.compile(r"(?:\s*</?[A-Za-z][^<>]*>)+\s*$")  # markup left where an injected order was cut off
# What a question word found only in the sentence's article title counts for, against one in the sentence. 0.5 and
# two lead passages (Assistant) were chosen among four variants (0 or 0.5, 0 or 2) on RealTime QA dev: gold in
# text 0.670 → 0.699, in cited excerpts 0.757 → 0.786, better in 4 of 11 weeks, worse in 1.
TITLE_CREDIT = 0.5
# Embedding costs time in proportion to length; a sentence's first 200 characters (~45 tokens) say what it is about.
_EMBED_CHARS = 200
# A question an English-only model cannot read (Retriever.leans_on_words) is matched by its words: their weight
# takes the place of meaning, in the score and in the support abstention looks at.
WORDS_LEXICAL_WEIGHT = 0.7
WORDS_DENSE_WEIGHT = 0.1
# A whole line without a sentence's closing punctuation, most of its words capitalised: a headline (a link to another
# story, a caption's title), which states no fact of this one.
_HEADLINE_CAPITALS = 0.6
_CLOSING = tuple(".!?\"”’')…:;")


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage: ``hits[hit].text[start:end]``, with its scores."""

    hit: int
    start: int
    end: int
    text: str
    lexical: float
    passage: float
    value: float
    dense: float = 0.0
    score: float = 0.0
    support: float = 0.0
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """Ranked candidate sentences (best first) and their vectors, for selection and conflict checks."""

    hits: tuple[Hit, ...]
    candidates: tuple[Candidate, ...]
    vectors: np.ndarray
    wants: str | None
    spans: tuple[tuple[tuple[int, int], ...], ...]  # every sentence of each hit, for excerpt windows

    @property
    def support(self) -> float:
        return max((c.support for c in self.candidates), default=0.0)


def wanted_value(question: str) -> str | None:
    """The kind of value a question asks for: "number", "date", "name", or None when it cannot tell."""
    return coarse_kind(expected_kind(question))


def values_in(text: str, kind: str | None, exclude: str = "") -> tuple[str, ...]:
    """Values of ``kind`` (all kinds when None) stated in ``text`` and not already in ``exclude``."""
    found: list[str] = []
    kinds = [kind] if kind else ["number", "date", "name"]
    for each in kinds:
        pattern = {"number": _NUMBER, "date": _DATE, "name": _NAME}[each]
        for match in pattern.finditer(text):
            value = match.group().strip(" ,.'’")
            if each == "name" and match.start() == 0 and " " not in value:
                continue  # a capitalised first word is just the start of the sentence
            if value and value.lower() not in exclude.lower() and value not in found:
                found.append(value)
    return tuple(found)


def gather(
    question: str,
    hits: Sequence[Hit],
    reader: StoreReader,
    embedder: Embedder,
    *,
    candidates: int,
    query_vector: np.ndarray | None = None,
    lexical: bool = False,
) -> Evidence:
    """Score every sentence of ``hits`` for ``question``; embed only the ``candidates`` best by words.

    ``query_vector`` is the question's embedding when the caller has it (the retriever needed it too). ``lexical``
    scores by the question's words above all, for a question the model cannot read (see
    :meth:`Retriever.leans_on_words`): words the index has never seen (its own language's) then say nothing.
    """
    hits = tuple(hits)
    spans = tuple(tuple(sentence_spans(hit.text)) for hit in hits)
    wants = wanted_value(question)
    pool: list[Candidate] = []
    seen: set[str] = set()
    top = hits[0].score if hits and hits[0].score > 0 else 1.0
    figures = set(FIGURE.findall(question))
    period = period_start(question)
    misses = [not _states(hit, figures) or _predates(hit, period) for hit in hits]
    for index, (hit, sentence_list) in enumerate(zip(hits, spans, strict=True)):
        passage = hit.score / top
        for start, end in _with_fragments(hit.text, sentence_list):
            text = hit.text[start:end]
            if _headline(hit.text, start, end):
                continue  # a link to another story or a picture's title: quoting it would answer with another story
            key = " ".join(text.lower().split())
            if key in seen or len(text.split()) < _MIN_WORDS or len(text) > _MAX_CHARS or text.endswith("?"):
                continue  # chunks overlap, copies of a story repeat sentences, and a question answers nothing
            if (order := instruction_start(text)) is not None:
                # An order planted for a model ("ignore previous instructions...") reports no news; what comes
                # before it in the same sentence may ("... 23 billion yuan last year. </excerpt> Ignore ...").
                text = _TRAILING_TAG.sub("", text[:order]).rstrip()
                end = start + len(text)
                if len(text.split()) < _MIN_WORDS:
                    continue
            seen.add(key)
            values = values_in(text, wants, exclude=question)
            pool.append(
                Candidate(index, start, end, text, 0.0, passage, 1.0 if values and wants else 0.0, values=values)
            )
    if not pool:
        return Evidence(hits, (), np.zeros((0, 0), dtype=np.float32), wants, spans)
    titles = [hits[c.hit].title for c in pool]
    terms = content_terms(question, question_language(question)) if lexical else query_terms(question)
    scores = lexical_support(terms, [c.text for c in pool], reader, known_only=lexical, titles=titles)
    pool = [replace(c, lexical=lex) for c, lex in zip(pool, scores, strict=True)]
    dense_weight, lexical_weight = (
        (WORDS_DENSE_WEIGHT, WORDS_LEXICAL_WEIGHT) if lexical else (DENSE_WEIGHT, LEXICAL_WEIGHT)
    )
    pool.sort(key=lambda c: -(LEXICAL_WEIGHT * c.lexical + PASSAGE_WEIGHT * c.passage + VALUE_WEIGHT * c.value))
    pool = pool[:candidates]
    if query_vector is None:
        vectors = embedder.embed([question] + [c.text[:_EMBED_CHARS] for c in pool])
    else:
        vectors = np.vstack([query_vector.reshape(1, -1), embedder.embed([c.text[:_EMBED_CHARS] for c in pool])])
    dense = vectors[1:] @ vectors[0]
    scored = []
    for c, cosine in zip(pool, dense.tolist(), strict=True):
        score = dense_weight * cosine + lexical_weight * c.lexical + PASSAGE_WEIGHT * c.passage + VALUE_WEIGHT * c.value
        support = c.lexical if lexical else SUPPORT_DENSE * max(0.0, cosine) + SUPPORT_LEXICAL * c.lexical
        support *= NUMBER_MISS if misses[c.hit] else 1.0
        scored.append(replace(c, dense=cosine, score=score, support=support))
    ranking = sorted(range(len(scored)), key=lambda i: -scored[i].score)
    return Evidence(hits, tuple(scored[i] for i in ranking), vectors[1:][ranking], wants, spans)


def _with_fragments(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentences, each fragment too short to stand alone ("36 Stunden.") joined to the sentence after it on its line.

    News writes the answer first and the question's words after it ("36 hours. That is how long the fastest
    connection takes."): dropped as too short, the fragment would leave its sentence without the answer.
    """
    merged: list[tuple[int, int]] = []
    skip = False
    for position, (start, end) in enumerate(spans):
        if skip:
            skip = False
            continue
        following = spans[position + 1] if position + 1 < len(spans) else None
        if following and len(text[start:end].split()) < _MIN_WORDS and "\n" not in text[end : following[0]]:
            merged.append((start, following[1]))
            skip = True
        else:
            merged.append((start, end))
    return merged


def _headline(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a headline line: alone on its line, unpunctuated, mostly capitalised."""
    alone = (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")
    sentence = text[start:end]
    if not alone or sentence.endswith(_CLOSING):
        return False
    words = [word for word in sentence.split() if len(word) >= 4 and word[0].isalpha()]
    return bool(words) and sum(word[0].isupper() for word in words) >= _HEADLINE_CAPITALS * len(words)


def _predates(hit: Hit, period: dt.date | None) -> bool:
    if period is None or not hit.date:
        return False
    day = parse_day(hit.date, name="date")
    return day is not None and day < period


def _states(hit: Hit, figures: set[str]) -> bool:
    """Whether the passage (with its title and date) states every one of ``figures``."""
    if not figures:
        return True
    stated = set(FIGURE.findall(" ".join((hit.title, hit.text, hit.date or ""))))
    return figures <= stated


def lexical_support(
    terms: list[str],
    sentences: list[str],
    reader: StoreReader,
    *,
    known_only: bool = False,
    titles: list[str] | None = None,
) -> list[float]:
    """IDF-weighted share of the question's words (``terms``) each sentence contains, stemmed as the index stems.

    A word only the sentence's article title contains counts ``TITLE_CREDIT`` of a word in the sentence: a lead
    sentence says "Pacific Gas & Electric Co." and "shutting off power" under the title "PG&E begins new mass power
    shutoff", and the question asks about "the PG&E shutoff". ``known_only`` leaves out words no passage of the
    index contains: in a question the model cannot read, those are mostly its own language's words for what the
    English articles say otherwise.
    """
    distinct = list(dict.fromkeys(titles or []))
    stemmed = [set(analyze(text)) for text in (" ".join(terms), *sentences, *distinct)]
    in_title = dict(zip(distinct, stemmed[1 + len(sentences) :], strict=True))
    stemmed = stemmed[: 1 + len(sentences)]
    wanted = sorted(stemmed[0])
    if not wanted:
        return [0.0] * len(sentences)
    total = max(1, reader.chunk_count)
    df = reader.stem_frequencies(wanted)
    if known_only:
        wanted = [stem for stem in wanted if df.get(stem, 0)]
    if not wanted:
        return [0.0] * len(sentences)
    # A word the index has never seen weighs most: a question about it cannot be answered from these articles.
    idf = {stem: math.log(1 + (total - df.get(stem, 0) + 0.5) / (df.get(stem, 0) + 0.5)) for stem in wanted}
    norm = sum(idf.values()) or 1.0
    scores = []
    for position, found in enumerate(stemmed[1:]):
        title = in_title.get(titles[position], set()) if titles else set()
        credit = sum(idf[s] if s in found else TITLE_CREDIT * idf[s] if s in title else 0.0 for s in wanted)
        scores.append(credit / norm)
    return scores

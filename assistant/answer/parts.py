"""A question about several articles, split into its parts: the outlets it names, what it says each reported, the
dates it gives them, and how it relates them (one before the other, what they share).

"Does The Verge's report agree with TechCrunch's …?", "After The Age reported … on 22 October, did TechCrunch …?",
"Which company, reported by A for … and by B for …?": each outlet named (matched against the index's own outlet
names) becomes a :class:`Part` with the clause about it and its date; :func:`split_question` returns None for a
question that names fewer than two articles, which the single-article path answers as before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..text.values import MONTHS
from .expectation import expected_kind

__all__ = ["Mention", "Part", "Split", "outlet_mentions", "split_question"]

# A variant of an outlet's name shorter than this (once "The" or ".com" is dropped) is too common a word to match
# ("The Age" → "Age"); the full name still matches.
_MIN_VARIANT = 5
_MIN_CLAUSE = 3  # content words a clause needs to say something of its own
_NEAR = 20  # "the same source" this close before an outlet's name is that outlet's, not a reference back
# What separates the clauses of a question: each outlet's mention takes the clause around it.
_SEPARATOR = re.compile(
    r"[,;:]\s+(?!\d{4}\b)|\s+(?=(?:before|after)\s+(?:the\s+)?['‘\"]?(?-i:[A-Z]))"
    r"|\s+(?=(?:while|whereas|but|although|compared (?:to|with)|in contrast to|unlike|respectively"
    r"|as (?:reported|covered|mentioned|described|noted|stated) (?:by|in)|according to"
    r"|and (?:did|does|do|is|was|has|had|the)|or (?:did|does|do|is|was|has|had)|but also|while also"
    r"|agree(?:s|d)? with|disagree(?:s|d)? with|differ(?:s|ed)? from|contradict(?:s|ed)?|(?:is |are )?consistent with"
    r"|(?:is |are )?the same as|(?:is |are )?similar to)\b)",
    re.I,
)
# "… before Fortune mentioned …", "… after the report by The Age …": a cue that orders the report named before it
# and the one named just after it (a few words at most between them).
_SEQUENCE = re.compile(r"\b(before|after|earlier than|later than|prior to)\s+((?:[\w'’]+\s+){0,3}?)['‘\"]?$", re.I)
# The question counts several reports of the outlets it names ("both articles from Sporting News", "another article
# from …", "the same source's article", "two reports").
_SEVERAL = re.compile(
    r"\b(?:both|two|another|second|same (?:source|outlet|publication|news source)|again|subsequent|articles|reports"
    r"|one (?:on|about|from|discussing|published))\b",
    re.I,
)
# Claims joined as one, each a report's: "not only … but also …", "…, and is accused of …".
_CLAIMS = re.compile(r"\bnot only\b.*\bbut also\b|,\s+and\s+(?:is|was|has|had|also|then)\b|\bwhile also\b", re.I)
_MAX_CLAIMS = 4
_SAME_SOURCE = re.compile(
    r"\b(?:the same (?:source|outlet|publication|news source)|another (?:article|report))\b", re.I
)
_BOTH_OF = re.compile(r"\b(?:both|two)\s+(?:articles|reports|pieces|stories)\s+(?:from|by|in|of)\s+$", re.I)
_FILLER = re.compile(
    r"\b(?:the|a|an|article|articles|report|reports|reported|reporting|by|from|in|on|of|as|according|to|and|both"
    r"|published|covered|mentioned|source|news|story|piece|while|that|its|their|does|did|do|is|was|has|also|then"
    r"|same|another|other|other's|respectively|one|s)\b|[\W\d_]+",
    re.I,
)
# Dates the question gives a report: "on October 22, 2023", "on 22 October", "on 2023-10-02", "at '2023-10-04T…'".
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:T[\d:.+-]+(?:Z)?)?")
_MONTH_DAY = re.compile(rf"\b({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTHS})\.?(?:,?\s+(\d{{4}}))?\b", re.I)
_DATE_WORDS = re.compile(r"(?:\b(?:published|released|posted|dated)\s+)?(?:\b(?:on|at)\s+)?['‘\"(]?$", re.I)
_BOUND = re.compile(r"\b(?:before|after|since|until|by|between|from|through)\s+(?:the\s+)?$", re.I)
# A clause that names its report at its end points back at what it said before ("…, as reported by The Verge").
_BACKWARD = re.compile(
    r"\s*(?:as\s+(?:reported|covered|mentioned|described|noted|stated|per)|according\s+to|per)\b", re.I
)
_LATE_YES_NO = re.compile(r",\s+(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would)\s", re.I)
_WH = re.compile(r"\b(?:which|what|who|whom|whose|where|when|how|why)\b", re.I)
# A name no word of the language looks like: a domain, a digit, an inner capital ("TechCrunch", "CBSSports.com").
_DISTINCT = re.compile(r"[.|&\d]|[a-z][A-Z]")
_POSSESSIVE = re.compile(r"['’]s\b|['’](?!\w)")
# Words that point at a report rather than say what it said ("the report on …", "reported that …").
_POINTERS = re.compile(r"\b(?:report(?:s|ed|ing)?|articles?|coverage|pieces?|stories|story)\b", re.I)
_EMPTY_QUOTES = re.compile(r"['‘’\"]\s*['‘’\"]|\(\s*\)")
_LEADING = re.compile(
    r"^(?:(?:does|did|do|is|was|were|has|have|had|while|whereas|and|but|or|after|before|between|then|also|the|a|an"
    r"|agree|agrees|agreed|disagree|disagrees|differ|differs|contradict|contradicts|with|consistent|same|similar|to"
    r"|article|articles|report|reports|story|piece|from|by|in|on|of|that|which|respectively|both|as|per)\b[\s,'’\"‘]*)+",
    re.I,
)
_TRAILING = re.compile(
    r"(?:\b(?:as\s+)?(?:reported|covered|mentioned|published|according|per|as|by|to|in|from|and|the|article|report"
    r"|articles|reports|respectively|later|earlier|subsequent)\b[\s,'’\"‘]*)+$",
    re.I,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, 1)}


@dataclass(frozen=True)
class Mention:
    """Where the question names an outlet: ``text`` at ``start``, standing for the index's ``outlets``."""

    text: str
    start: int
    end: int
    outlets: tuple[str, ...]


@dataclass(frozen=True)
class Part:
    """One article the question needs: by one of ``outlets`` (as the question names it: ``named``), about
    ``clause`` (the question's words for it, dates left out), published on ``day`` when the question says so."""

    named: str
    outlets: tuple[str, ...]
    clause: str
    day: dt.date | None = None


@dataclass(frozen=True)
class Split:
    """A question about several articles: its parts in the question's order, the kind of answer it asks for
    (``expected_kind``), and ``sequence`` (first, second, "before" or "after") when it asks whether the report of
    part ``first`` came before (after) that of part ``second``."""

    question: str
    parts: tuple[Part, ...]
    kind: str | None
    sequence: tuple[int, int, str] | None = None
    claims: tuple[str, ...] = ()  # what the question says, clause by clause, outlets and dates left out
    content: str = ""  # the whole question without the outlets' names, the reports' dates and words like "report"


def _variants(outlet: str) -> dict[str, bool]:
    """The ways a question may name ``outlet``, each with whether it is the full name: with and without "The" and
    ".com", and the name before " | " or " - " ("Cnbc | World Business News Leader" → "Cnbc")."""
    found = {outlet: True}
    head = re.split(r"\s+[|–-]\s+", outlet)[0].strip()
    for name in dict.fromkeys((outlet, head)):
        without_the = re.sub(r"^the\s+", "", name, flags=re.I)
        bare = re.sub(r"\.com$", "", without_the, flags=re.I)
        if len(bare) >= _MIN_VARIANT:
            for variant in (name, without_the, re.sub(r"\.com$", "", name, flags=re.I), bare):
                found.setdefault(variant, False)
    return found


def outlet_mentions(question: str, outlets: Iterable[str]) -> list[Mention]:
    """Where ``question`` names one of ``outlets``, in order, longest names first and without overlaps.

    Case is ignored, except that a name is not matched in lower case inside a capitalised question ("at the age of
    16" is not The Age); a shortened name ("Verge", "Cnbc") must be capitalised. A shortened name several outlets
    share ("The Independent") stands for all of them.
    """
    table: dict[str, set[str]] = {}
    full: set[str] = set()
    distinct: set[str] = set()
    for outlet in outlets:
        for variant, whole in _variants(outlet).items():
            table.setdefault(variant.lower(), set()).add(outlet)
            if whole:
                full.add(variant.lower())
            if _DISTINCT.search(variant):
                distinct.add(variant.lower())
    lowercase = question == question.lower()
    taken: list[Mention] = []
    for variant in sorted(table, key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w.-]){re.escape(variant)}(?![\w-]|\.\w)", re.I)
        for match in pattern.finditer(question):
            if any(match.start() < m.end and m.start < match.end() for m in taken):
                continue
            text = match.group()
            significant = re.sub(r"^the\s+", "", text, flags=re.I)
            if not lowercase and significant[:1].islower() and variant not in distinct:
                continue  # "at the age of 16" is not The Age; "techcrunch" and "cbssports.com" are outlets
            if variant not in full and not significant[:1].isupper():
                continue
            taken.append(Mention(text, match.start(), match.end(), tuple(sorted(table[variant]))))
    return sorted(taken, key=lambda m: m.start)


def split_question(question: str, outlets: Sequence[str], as_of: dt.date | None = None) -> Split | None:
    """The parts of a question that names several articles (two outlets, one outlet's several reports, or one
    outlet and several claims joined as one: "not only … but also …"), else None. ``as_of`` gives the year of a
    date the question states without one ("on September 28")."""
    mentions = outlet_mentions(question, outlets)
    if not mentions:
        return None
    mentions = _with_references(question, mentions)
    anchors = _anchors(question, mentions, as_of)
    segments = _segments(question)
    spots = [(a.start, a.end) for a in anchors] + [(m.start, m.end) for m in mentions]
    claims = _claims(question, segments, spots)
    parts = [Part(a.mention.text, a.mention.outlets, _clause(question, segments, spots, a), a.day) for a in anchors]
    if len(parts) == 1:
        only = parts[0]
        if _SEVERAL.search(question):  # one outlet, several of its reports ("both articles from Sporting News")
            parts.append(only)
        elif _CLAIMS.search(question) and len(claims) >= 2:  # one outlet, several claims: a report for each
            parts = [dataclasses.replace(only, clause=claim) for claim in claims[:_MAX_CLAIMS]]
        else:
            return None
    content = _tidy(_blank(question, (0, len(question)), spots)) or question
    return Split(question, tuple(parts), _kind(question), _sequence(question, anchors), tuple(claims), content)


def _kind(question: str) -> str | None:
    """The kind of answer asked for; yes/no too when the asking verb follows a clause that sets the scene ("After
    The Age reported …, did TechCrunch …?")."""
    kind = expected_kind(question)
    if kind is None and _LATE_YES_NO.search(question) and not _WH.search(question):
        return "yes/no"
    return kind


def _claims(question: str, segments: list[tuple[int, int]], spots: list[tuple[int, int]]) -> list[str]:
    """What the question says, clause by clause ("is involved in …", "is accused of …"), without the names and
    dates of the reports; a clause that says too little joins the one after it."""
    claims: list[str] = []
    pending = ""
    for segment in segments:
        text = _tidy(f"{pending} {_blank(question, segment, spots)}")
        if _words(text) >= _MIN_CLAUSE:
            claims.append(text)
            pending = ""
        else:
            pending = text
    return list(dict.fromkeys(claims))


@dataclass(frozen=True)
class _Anchor:
    """Where the question names one report: ``mention`` of its outlet, or the date it gives it (``start``-``end``)."""

    mention: Mention
    start: int
    end: int
    day: dt.date | None


def _anchors(question: str, mentions: list[Mention], as_of: dt.date | None) -> list[_Anchor]:
    """One report per date the question gives an outlet ("TechCrunch reported on October 31 …, and again on
    December 15 …"), one per outlet mention without a date; a date belongs to the outlet named last before it."""
    owned: dict[int, list[tuple[int, int, dt.date | None]]] = {}
    for start, end, day in _dates(question, as_of):
        before = [i for i, m in enumerate(mentions) if m.end <= start]
        owner = before[-1] if before else next(i for i, m in enumerate(mentions) if m.start >= end)
        owned.setdefault(owner, []).append((start, end, day))
    anchors: list[_Anchor] = []
    for i, mention in enumerate(mentions):
        dates = owned.get(i) or [(mention.start, mention.end, None)]
        anchors.extend(_Anchor(mention, start, end, day) for start, end, day in dates)
    return anchors


def _sequence(question: str, anchors: list[_Anchor]) -> tuple[int, int, str] | None:
    """(first, second, relation) when the question orders two reports: "Did A report … before B mentioned …?"."""
    for second in range(1, len(anchors)):
        one, other = anchors[second - 1].mention, anchors[second].mention
        if one.end > other.start:
            continue
        cue = _SEQUENCE.search(question[one.end : other.start])
        if cue:
            relation = "before" if cue[1].lower() in ("before", "earlier than", "prior to") else "after"
            return second - 1, second, relation
    return None


def _with_references(question: str, mentions: list[Mention]) -> list[Mention]:
    """The mentions, plus one for each "the same source" / "another article" that points back to the last outlet
    named before it, and a second for "both articles from X"."""
    found = list(mentions)
    for match in _SAME_SOURCE.finditer(question):
        before = [m for m in mentions if m.end <= match.start()]
        after = [m for m in mentions if m.start >= match.end()]
        if before and not (after and after[0].start - match.end() < _NEAR):
            last = before[-1]
            found.append(Mention(last.text, match.start(), match.end(), last.outlets))
    for mention in mentions:
        if _BOTH_OF.search(question[: mention.start].rstrip("'‘\" ") + " "):
            found.append(Mention(mention.text, mention.end, mention.end, mention.outlets))
    return sorted(found, key=lambda m: (m.start, m.end))


def _segments(question: str) -> list[tuple[int, int]]:
    """The question's clauses as (start, end), cut at commas and the words that join two claims."""
    cuts = [0] + [m.end() for m in _SEPARATOR.finditer(question)] + [len(question)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _clause(question: str, segments: list[tuple[int, int]], spots: list[tuple[int, int]], anchor: _Anchor) -> str:
    """What the question says of the report at ``anchor``: the clause that names it, with the clauses around it
    that name no other report when it says too little alone ("as reported by The Verge" takes the clauses before
    it, "After the report by The Age on 22 October," the one after); outlets and dates left out."""
    at = next((i for i, (a, b) in enumerate(segments) if a <= anchor.start < b), len(segments) - 1)

    def free(i: int) -> bool:  # a clause that names no report
        a, b = segments[i]
        return not any(a <= s < b for s, _ in spots)

    order = (
        range(at - 1, -1, -1)
        if _BACKWARD.match(_blank(question, segments[at], spots))
        else range(at + 1, len(segments))
    )
    chosen = [at]
    for direction in (order, range(at - 1, -1, -1)):
        for i in direction:
            if _words(_text(question, segments, chosen, spots)) >= _MIN_CLAUSE or not free(i):
                break
            chosen.append(i)
    text = _text(question, segments, chosen, spots)
    return text if _words(text) >= _MIN_CLAUSE else _tidy(_blank(question, (0, len(question)), spots))


def _text(question: str, segments: list[tuple[int, int]], chosen: list[int], spots: list[tuple[int, int]]) -> str:
    return _tidy(" ".join(_blank(question, segments[i], spots) for i in sorted(set(chosen))))


def _words(text: str) -> int:
    return len(_FILLER.sub(" ", text).split())


def _blank(question: str, segment: tuple[int, int], spots: list[tuple[int, int]]) -> str:
    """The segment's text with the outlets' names (and their possessive "'s") and the reports' dates taken out."""
    start, end = segment
    kept, at = [], start
    for low, high in sorted(spots):
        if low < at or not (start <= low and high <= end):
            continue
        kept.append(question[at:low])
        possessive = _POSSESSIVE.match(question, high)
        at = possessive.end() if possessive else high
    kept.append(question[at:end])
    return " ".join(kept)


def _tidy(text: str) -> str:
    """A clause without the words that only point at a report ("Does the … article", "as reported by")."""
    text = _POINTERS.sub(" ", _EMPTY_QUOTES.sub(" ", text))
    for _ in range(3):
        text = _LEADING.sub("", text.strip(" ,;:?'\"‘’")).strip()
        text = _TRAILING.sub("", text).strip(" ,;:?'\"‘’")
    return " ".join(text.split())


def _dates(question: str, as_of: dt.date | None) -> list[tuple[int, int, dt.date]]:
    """The days the question gives reports ("on October 22, 2023", "on 22 October", "at '2023-10-04T…'"), with
    the words that introduce them; not a bound ("after October 4", "before December 5")."""
    found: list[tuple[int, int, dt.date]] = []
    for pattern in (_ISO_DAY, _MONTH_DAY, _DAY_MONTH):
        for match in pattern.finditer(question):
            if any(s < match.end() and match.start() < e for s, e, _ in found):
                continue
            if _BOUND.search(question[: match.start()]):
                continue
            day = _as_day(match, pattern, as_of)
            if day is not None:
                lead = _DATE_WORDS.search(question[: match.start()])
                start = lead.start() if lead else match.start()
                end = match.end() + (question[match.end() : match.end() + 1] in ("'", "’", '"'))
                found.append((start, end, day))
    return sorted(found)


def _as_day(match: re.Match[str], pattern: re.Pattern[str], as_of: dt.date | None) -> dt.date | None:
    try:
        if pattern is _ISO_DAY:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if pattern is _MONTH_DAY:
            month, day, year = match[1], match[2], match[3]
        else:
            day, month, year = match[1], match[2], match[3]
        number = _MONTH_NUMBER[month[:3].lower()]
        known = int(year) if year else as_of.year if as_of else None
        return dt.date(known, number, int(day)) if known else None
    except (ValueError, KeyError):
        return None

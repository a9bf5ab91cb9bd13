"""What kind of answer a question expects: an amount, a number, a date, a person, an organisation, a place, yes or
no, another named thing, or nothing a short span can give ("why", "what happened").

The wh-word decides when it is specific ("when", "who", "where", "how many"); for "which"/"what" the noun that
follows does ("which automaker" → organisation, "which country" → place, "which show" → thing). Coarse kinds
(number, date, name) are what sentence scoring rewards; fine kinds pick the span of a short answer.
"""

from __future__ import annotations

import re

__all__ = ["KINDS", "coarse_kind", "expected_kind", "head_noun"]

KINDS = ("amount", "number", "date", "person", "organisation", "place", "yes/no", "thing")

_YES_NO = re.compile(
    r"^(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might)\b", re.I
)
_DATE = re.compile(
    r"\bwhen\b|\bhow soon\b|\b(?:what|which)\s+(?:year|date|day|month|time|season|week)\b|\bwhat time\b", re.I
)
_AMOUNT = re.compile(
    r"\bhow much\b|\bwhat (?:is the |was the )?(?:price|cost|amount|sum|fine|salary|value)\b"
    r"|\b(?:which|what)\s+(?:\w+\s+){0,2}(?:figure|sum|amount|price)\b",
    re.I,
)
_NUMBER = re.compile(
    r"\bhow (?:many|long|old|far|big|large|high|tall|deep|fast)\b|\bby how\b"
    r"|\bwhat (?:(?:is|was|were|are) the )?(?:percentage|percent|share|number|rate|age|magnitude|score|proportion"
    r"|death toll|toll|size)\b",
    re.I,
)
_VALUE = re.compile(r"\bwhat (?:is|was|were|are) the (?:[\w-]+\s+){0,3}(?:price|cost|amount|sum|fine)\b", re.I)
_NAMED = re.compile(r"\bwhat (?:is|was|are|were) (?:it|this|that|they|the [\w-]+(?: [\w-]+)?) called\b", re.I)
_LEADING_WHO = re.compile(r"^(?:\W*)(?:who(?:m|se)?)\b", re.I)
_PERSON = re.compile(r"\bwho(?:m|se)?\b|\bwhat (?:is|was) (?:his|her|their|the person's) name\b", re.I)
_PLACE = re.compile(r"\bwhere\b", re.I)
_WHICH = re.compile(r"\b(?:which|what)\b(?:\s+of the following)?((?:\W+[\w’'-]+){0,4})", re.I)
_WH = re.compile(r"\b(?:which|what|who|whom|whose|where|when|how|why)\b", re.I)
_WORDS = re.compile(r"[\w’'-]+")
# A question's last sentence asks; the ones before it set the scene ("Vin Scully died this week. Which team…?").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"])")

# Head nouns after "which"/"what", by the kind of name they ask for.
_HEADS = {
    "person": """person people man woman celebrity star player singer actor actress official member leader head
        president pundit athlete quarterback candidate politician senator governor ceo musician rapper artist author
        director billionaire investor icon legend couple comedian host judge justice minister king queen prince
        princess pope chancellor mayor lawmaker representative rep coach driver golfer boxer tennis musician
        journalist anchor astronaut scientist founder executive figure personality""",
    "place": """country state city continent region island nation town county province area park capital place
        location river lake mountain volcano border territory neighborhood neighbourhood village district coast
        sea ocean airport port destination""",
    "organisation": """company automaker carmaker airline retailer team school university college group chain
        bank agency party network brand firm service club organization organisation league union manufacturer
        startup outlet newspaper broadcaster restaurant store company’s company's business giant platform maker
        carrier studio label publisher charity court department ministry institution lender insurer
        streamer""",
}
_HEAD_KIND = {word: kind for kind, words in _HEADS.items() for word in words.split()}
# Words that end the noun phrase after "which"/"what": the verb of the question has begun.
_VERBS = frozenset(
    """happened did does do is are was were has have had will would can could should may might
    must""".split()  # noqa: SIM905 - a word list reads better as words
)


# Words after "what" that start no noun phrase ("what about Baidu?", "what if", "what it means").
_NOT_NOUNS = frozenset(
    """about if of to for in on at by from with it its this that these those they he she we you i his her
    their our your my else""".split()  # noqa: SIM905 - a word list reads better as words
)


def expected_kind(question: str) -> str | None:
    """The kind of short answer ``question`` asks for (one of :data:`KINDS`), or None when no span can answer it."""
    text = _asking(question)
    if _DATE.search(text):
        return "date"
    if _AMOUNT.search(text) or _VALUE.search(text):
        return "amount"
    if _NUMBER.search(text):
        return "number"
    if _NAMED.search(text):
        return "thing"
    if _LEADING_WHO.search(text):
        return "person"
    head = _head_kind(text)
    if head is not None:
        return head
    if _PERSON.search(text):
        return "person"
    if _PLACE.search(text):
        return "place"
    if _YES_NO.search(text):
        return "yes/no"
    return None


def _asking(question: str) -> str:
    """The sentence of a question that asks (the others set the scene)."""
    sentences = _SENTENCE_END.split(" ".join(question.split()))
    asking = [s for s in sentences if _WH.search(s)] or [s for s in sentences if s.endswith("?")] or sentences
    return asking[-1]


def _head_kind(text: str) -> str | None:
    """The kind of name asked for by "which"/"what" and the noun after it; "thing" for other nouns."""
    found = _head(text)
    return None if found is None else _HEAD_KIND.get(found[1], "thing") if found[1] else "thing"


def head_noun(question: str) -> str | None:
    """The noun a "which"/"what" question asks about ("which national park" → "park"), singular, or None."""
    found = _head(_asking(question))
    return found[1] if found else None


def _head(text: str) -> tuple[str, str | None] | None:
    """("which"/"what" phrase, its head noun when a known one) for the first such phrase that names a noun."""
    for match in _WHICH.finditer(text):
        words = [w.lower().strip("’'") for w in _WORDS.findall(match.group(1))]
        if not words or words[0] in _VERBS or words[0] in _NOT_NOUNS:
            continue
        for word in words:
            if word in _VERBS:
                break
            base = word.removesuffix("s") if word.endswith("s") and word[:-1] in _HEAD_KIND else word
            base = "city" if word == "cities" else "country" if word == "countries" else base
            if base in _HEAD_KIND:
                return match.group(), base
        return match.group(), None
    return None


def coarse_kind(kind: str | None) -> str | None:
    """The value a sentence must state to answer a question of ``kind``: "number", "date", "name" or None."""
    if kind in ("amount", "number"):
        return "number"
    if kind == "date":
        return "date"
    if kind in ("person", "organisation", "place", "thing"):
        return "name"
    return None

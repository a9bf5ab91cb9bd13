"""Follow-up questions: turning "And Tencent?" or "How much did it spend?" into a question that stands alone.

Offline, this resolves ellipsis and pronouns from the previous turn: its standalone question and the names its
answer quoted. With an LLM, the answerer's condense step does it instead (see :mod:`assistant.answer.assistant`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..text.terms import STOPWORDS, query_terms
from .names import is_organisation, is_person, listed, names_in, plain, possessive, swap_name, titled, unique

_ELLIPSIS = re.compile(
    r"^(?:and|but|also|then)?\s*(?:what|how)\s+about\s+(?P<a>.+?)\W*$"
    r"|^(?:and|but|also)\s+(?:for\s+|of\s+)?(?P<b>.+?)\W*$"
    r"|^(?:same|the same)\s+(?:for|with)\s+(?P<c>.+?)\W*$",
    re.IGNORECASE,
)
# "And what position does he hold?": a connective before a question of its own, not an ellipsis ("And Tencent?").
_CONNECTIVE = re.compile(r"^(?:and|but|also|so|then)\s+", re.IGNORECASE)
_QUESTION_START = re.compile(
    r"^(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|will|would|has|have"
    r"|had|should)\b(?!\s+about\b)",
    re.IGNORECASE,
)
_PERSONAL = re.compile(r"\b(he|she|him|his|her|hers)\b", re.IGNORECASE)
_IMPERSONAL = re.compile(r"\b(it|its|they|them|their|theirs|the company|the firm|this company)\b", re.IGNORECASE)
_PRONOUNS = re.compile(f"{_PERSONAL.pattern}|{_IMPERSONAL.pattern}", re.IGNORECASE)
_POSSESSIVE = {"his", "hers", "its", "their", "theirs"}
_PERSON_WORDS = {"he", "she", "him", "his", "her", "hers"}
_GROUP_WORDS = {"they", "them", "their", "theirs"}
# Words after "her" that show it is an object ("asked her about", "told her that"), not a possessive.
_NOT_NOUNS = frozenset("about to that for with from in on at by and or if when what how why".split())  # noqa: SIM905


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what was asked, what was searched, what was answered (and the quoted sentences)."""

    question: str
    query: str = ""
    answer: str = ""
    quotes: tuple[str, ...] = ()
    short: str = ""  # the bold direct answer, when there was one: what "it" or "he" most often stands for next


def as_turns(history: Iterable[Any]) -> list[Turn]:
    """Accept earlier :class:`Answer` objects, :class:`Turn` objects, (question, answer) pairs or plain questions."""
    turns: list[Turn] = []
    for item in history or ():
        if isinstance(item, Turn):
            turns.append(item)
        elif hasattr(item, "citations") and hasattr(item, "query"):  # an Answer
            quotes = () if item.abstained else tuple(c.quote for c in item.citations)
            short = item.short_answer.text if getattr(item, "short_answer", None) and not item.abstained else ""
            turns.append(Turn(item.question, item.query, item.text, quotes, short))
        elif isinstance(item, str):
            turns.append(Turn(item))
        elif isinstance(item, Sequence) and len(item) == 2:
            turns.append(Turn(str(item[0] or ""), answer=str(item[1] or "")))
        else:
            raise ConfigError(
                f"cannot use a {type(item).__name__} as a conversation turn: pass Answers or (question, answer) pairs"
            )
    return [turn for turn in turns if turn.question.strip()]


def condense(question: str, history: Sequence[Turn]) -> str:
    """``question`` rewritten to stand alone, using the last turn; unchanged when it already does.

    A rewrite replaces a pronoun with a name or the previous question's subject with a new one, only where the
    result reads as a question; where it would not ("Which telescope did Jupiter's use?"), the follow-up is
    searched together with the previous question instead, which finds the same story.
    """
    question = " ".join(question.split())
    if not history:
        return question
    last = history[-1]
    base = last.query or last.question
    connective = _own_question(question) != question
    question = _own_question(question)
    ellipsis = _ELLIPSIS.match(question)
    if ellipsis:
        subject = next(g for g in ellipsis.groups() if g)
        names = names_in(base)
        if parallel := _parallel(base, subject):
            return parallel
        # A new subject the last question already named ("And Hyundai's sedans?" after "Kia and Hyundai SUVs")
        # cannot take another name's place there.
        capitals = [plain(word) for word in subject.split() if word[:1].isupper()]
        if names and capitals and not any(re.search(rf"\b{re.escape(w)}\b", base) for w in capitals):
            return swap_name(base, names[0], subject)
        return _both(question, base)
    own = names_in(question)
    if (picked := _ordinal(question, last)) is not None:
        return picked
    if (not own and _REFERS_BACK.search(question)) or (own and _points_back(question, own)):
        answered = _from_answer(question, last)
        left = {match.group().lower() for match in _PRONOUNS.finditer(answered)}
        if answered != question and left <= _OBJECTS | _POSSESSIVE:  # "Why did Ford recall them?": named
            return answered
        if _PRONOUNS.search(answered):
            if _vague(answered, last):
                return _carry(question, base, last)
            return _resolve_pronouns(answered, last, base) or _both(question, base)
    if not own and (carried := _carried(question, base, last, connective)) is not None:
        return carried
    if not own and len(query_terms(question)) <= 1 and len(question.split()) <= 6:
        # A question with no subject of its own ("How much?", "Why?") continues the last one.
        context = " ".join(names_in(base)) or base
        return f"{question} ({context})"
    return question


# What the last question asked for, as the kind of pronoun that stands for its answer next.
_ANSWER_PRONOUNS = {
    "person": _PERSON_WORDS,
    "organisation": frozenset({"it", "its", "they", "them", "their", "theirs", "there"}),
    "place": frozenset({"it", "its", "there"}),
    "thing": frozenset({"it", "its"}),
}
_REFERS_BACK = re.compile(r"\b(he|she|him|his|her|hers|it|its|they|them|their|theirs|there)\b", re.IGNORECASE)
_OBJECTS = frozenset({"him", "them", "it"})
_ORDINALS = {"first": 0, "second": 1, "third": 2, "last": -1}
_ORDINAL = re.compile(r"\bthe\s+(first|second|third|last)\s+one\b", re.IGNORECASE)
_DEFINITE = re.compile(r"\bthe\s+([a-z]{3,})\b", re.IGNORECASE)


def _answer_name(last: Turn) -> str | None:
    """The last bold answer when it names something a pronoun can stand for ("Colorado Avalanche", "“Succession”"),
    not a sentence ("They got married") or a value."""
    name = last.short.strip().strip("“”\"'‘’").strip()
    if name.startswith("The "):
        name = "the " + name[4:]  # "Who hosted the Tony Awards?"
    words = name.split()
    numbered = len(words) > 1 and words[-1].isdigit() and all(w[:1].isupper() for w in words[:-1])  # "Artemis 1"
    if not words or len(words) > 6 or not (words[-1][:1].isupper() or numbered) or words[0].lower() in _REFERENT_STOP:
        return None
    return name


_REFERENT_STOP = frozenset("they it he she we a an this that these those yes no".split())  # noqa: SIM905


def _from_answer(question: str, last: Turn) -> str:
    """Pronouns that stand for the last answer replaced by it: after "Which team won the Stanley Cup?" → Colorado
    Avalanche, "Who did they beat?" asks who Colorado Avalanche beat. Which pronouns do depends on what the last
    question asked for (a person: he, she; a team, a company: it, they; a place: it, there; a title: it)."""
    from .expectation import expected_kind

    name = _answer_name(last) or _answered_organisation(last)
    kind = expected_kind(last.question) or ""
    words = _ANSWER_PRONOUNS.get(kind)
    if name is None or not words:
        return question
    if _rivals_place(last, kind):
        words = words - {"it"}

    used = False

    def swap(match: re.Match[str]) -> str:
        nonlocal used
        word = match.group().lower()
        if word not in words:
            return match.group()
        if word == "there":
            return ("in " if kind == "place" else "at ") + name
        if used and (word in _OBJECTS or word in _POSSESSIVE):
            return match.group()  # "Why did it recall them?", "When did it split its stock?": said once is enough
        if word in _POSSESSIVE or (word == "her" and _before_noun(question, match.end())):
            return possessive(name)
        used = True
        return name

    return _REFERS_BACK.sub(swap, question)


def _ordinal(question: str, last: Turn) -> str | None:
    """ "the second one" after an answer that listed several ("Sweden and Finland"): the one it names; after an
    answer that listed nothing, the one the last question listed ("the UK, Spain, and France")."""
    found = _ORDINAL.search(question)
    if not found:
        return None
    items = listed(last.short.strip('“”" '))
    if len(items) < 2:
        items = listed(last.query or last.question, within=True)
    index = _ORDINALS[found[1].lower()]
    if len(items) < 2 or index >= len(items):
        return None
    return question[: found.start()] + items[index] + question[found.end() :]


# "What is his name?", "Who is she?": asks who someone unnamed is, so no name already said stands for the pronoun.
_NAME_ASKED = re.compile(
    r"\b(?:what(?:'s|’s|\s+is|\s+was)\s+(?:his|her|their)\s+(?:full\s+)?names?|who\s+(?:is|was)\s+(?:he|she))\b",
    re.IGNORECASE,
)
# Something the last question introduced as what acts: "A raging wildfire forced…", "…shaken by a 7.0-magnitude…".
_INTRODUCED = re.compile(r"^(?:a|an)\s+\S|\bby\s+(?:a|an)\s+\S", re.IGNORECASE)


def _rivals_place(last: Turn, kind: str) -> bool:
    """Whether "it" after a place answer may as well be what acts in the last question, introduced with "a": after
    "A raging wildfire forced people to evacuate near which national park?", "How many acres has it burned?" is the
    fire's, not Yosemite's."""
    return kind == "place" and bool(_INTRODUCED.search(last.question))


def _answered_organisation(last: Turn) -> str | None:
    """With no bold answer, the organisation a "which airline" question asked for: the first one the answer's
    sentences name that the question did not ("JetBlue Airways", not the "Spirit Airlines" it buys)."""
    from .expectation import expected_kind

    if last.short or expected_kind(last.question) != "organisation":
        return None
    asked = names_in(last.query or last.question)
    return next((n for n in names_in(" ".join(last.quotes)) if is_organisation(n) and n not in asked), None)


def _vague(question: str, last: Turn) -> bool:
    """Whether no name said so far can be trusted to stand for the follow-up's pronoun: it asks for someone's name;
    it is "it" after a place answer that something the last question introduced rivals; or it stands for the
    answer the last question asked for, and that answer is no name ("Baby formula") or was not given."""
    from .expectation import expected_kind

    if _NAME_ASKED.search(question):
        return True
    kind = expected_kind(last.question) or ""
    used = {match.group().lower() for match in _REFERS_BACK.finditer(question)}
    if "it" in used and _rivals_place(last, kind):
        return True
    words = _ANSWER_PRONOUNS.get(kind, frozenset())
    return kind != "person" and bool(used & words) and _answer_name(last) is None


def _carry(question: str, base: str, last: Turn) -> str:
    """The follow-up searched with the last question's names and its answer beside it, in brackets: what is said
    when no rewrite can be trusted. Both questions when there is nothing to carry."""
    from .expectation import expected_kind

    answer = last.short.strip().strip("“”\"'‘’").strip()
    named = expected_kind(last.question) in _ANSWER_PRONOUNS and 0 < len(answer.split()) <= 4
    names = unique([*names_in(base), *([answer] if named else [])])
    return f"{question} ({', '.join(names)})" if names else _both(question, base)


def _carried(question: str, base: str, last: Turn, connective: bool) -> str | None:
    """A follow-up that names nothing but continues the last turn ("And how many were injured?") or points back
    with "the lunch", "the terrorist" (a word of the last question): searched with the last question's names and
    its answer beside it, shown as such."""
    names = unique([*names_in(base), *([n] if (n := _answer_name(last)) else [])])
    said = {word.lower().strip("’'s") for word in re.findall(r"[A-Za-z’']+", base)}
    points_back = any(
        match[1].lower() in said or match[1].lower().rstrip("s") in said for match in _DEFINITE.finditer(question)
    )
    if names and (connective or points_back):
        return f"{question} ({', '.join(names)})"
    return _both(question, base) if connective else None


def _own_question(question: str) -> str:
    """``question`` without a leading "And" when a question of its own follows it ("And how many jets did they
    order?"): such a follow-up is read for its pronouns, not spliced into the last question as an ellipsis."""
    rest = _CONNECTIVE.sub("", question, count=1)
    if rest != question and _QUESTION_START.match(rest):
        return rest[:1].upper() + rest[1:]
    return question


def _points_back(question: str, own: list[str]) -> bool:
    """Whether a pronoun in a question that names things of its own stands for something of the last turn:
    "he" when the question names no person ("What position does he hold at Disney?"), any pronoun before the
    question's first name. A pronoun after one ("Did Tencent say it would…") is that name's."""
    first_name = min((question.find(name) for name in own if name in question), default=len(question))
    for match in _PRONOUNS.finditer(question):
        personal = match.group().lower() in _PERSON_WORDS
        if match.start() < first_name or (personal and not any(is_person(name) for name in own)):
            return True
    return False


def _both(question: str, base: str) -> str:
    """The follow-up searched with the question it follows, when no rewrite of it would read right."""
    return f"{question} {base}"


def _parallel(base: str, subject: str) -> str | None:
    """``base`` with the words that play ``subject``'s part replaced: "best actor" for "best actress".

    The run of words in ``base`` most like ``subject`` word by word is its counterpart: the same word counts 2
    (1 for a function word), a name for a name or the same first three letters (actor, actress) 1. Below 2, or
    with nothing but function words alike, there is none: None.
    """
    new = subject.split()
    words = base.rstrip("?. ").split()
    best, best_score = None, 1
    for start in range(len(words) - len(new) + 1):
        if _cuts_name(words, start, start + len(new)):
            continue
        window = words[start : start + len(new)]
        scores = [_akin(a, b) for a, b in zip(window, new, strict=True)]
        if sum(scores) > best_score and any(
            score and not _function(a) for a, score in zip(window, scores, strict=True)
        ):
            best, best_score = start, sum(scores)
    if best is None or words[best : best + len(new)] == new:
        return None
    out = " ".join([*words[:best], *new, *words[best + len(new) :]]) + "?"
    return out[:1].upper() + out[1:]


def _cuts_name(words: list[str], start: int, end: int) -> bool:
    """Whether words[start:end] begins or ends inside a run of capitalised words (a name)."""

    def capital(i: int) -> bool:
        return 0 < i < len(words) and words[i][:1].isupper()

    inside_end = capital(end - 1) and capital(end) and not words[end - 1].endswith(",")
    return inside_end or (capital(start) and capital(start - 1) and not words[start - 1].endswith(","))


def _function(word: str) -> bool:
    return word.lower().strip(",.'’") in STOPWORDS


def _akin(a: str, b: str) -> int:
    x, y = a.lower().strip(",.'’"), b.lower().strip(",.'’")
    if x == y:
        return 1 if x in STOPWORDS else 2
    if a[:1].isupper() and b[:1].isupper():
        return 1
    return 1 if len(x) >= 3 and len(y) >= 3 and x[:3] == y[:3] else 0


def _resolve_pronouns(question: str, last: Turn, base: str) -> str | None:
    """Pronouns replaced by the names they stand for, or None when a replacement would not read right.

    "he", "his", "her" stand for a person, first one the last answer named (it answered the question), then one
    the question named; "it", "its" for a company or thing the question named; "they", "them", "their" only for an
    organisation (a company word or an acronym): a plural more often means people the question did not name
    ("scientists"), so those fall back to searching both turns.
    """
    from .expectation import expected_kind

    quoted, asked = names_in(" ".join(last.quotes)), names_in(base)
    for_person = expected_kind(last.question) == "person"
    answered = _answer_name(last) if not for_person else None
    if not for_person and _PERSONAL.search(base) and not any(is_person(n) for n in asked):
        quoted = []  # "…did he designate?" about "the governor of Texas": its sentences' people are others
    said = " ".join([base, *last.quotes])
    # The question's person first unless it asked for one, as the answer's sentences name them ("Kevin Mayer" for
    # "Disney's Kevin Mayer").
    shorter = [next((q for q in quoted if n.endswith(" " + q) and is_person(q)), n) for n in asked]
    ordered = quoted + asked if for_person else shorter + quoted
    people = unique([n for n in ordered if is_person(n) and n != answered and not titled(n, said)])
    things = [n for n in asked if not is_person(n)]
    groups = [n for n in things if is_organisation(n)]
    unresolved = False

    def swap(match: re.Match[str]) -> str:
        nonlocal unresolved
        word = match.group().lower()
        referents = people if word in _PERSON_WORDS else groups if word in _GROUP_WORDS else things
        if word in _PERSON_WORDS and not referents:
            referents = [n for n in things if is_organisation(n)]
        if word in _GROUP_WORDS and not referents:
            # "they" after a pair the question named together: "Jennifer Lopez and Ben Affleck"
            referents = [f"{a} and {b}" for a, b in itertools.pairwise(people) if f"{a} and {b}" in base]
        if not referents:
            unresolved = True
            return match.group()
        name = plain(referents[0])
        if name.startswith("The ") and match.start() > 0:
            name = "the " + name[4:]  # "How many returns does the IRS still have to process?"
        if word in _POSSESSIVE or (word == "her" and _before_noun(question, match.end())):
            return possessive(name)
        return name

    out = _PRONOUNS.sub(swap, question)
    return None if unresolved or out == question else out


def _before_noun(text: str, end: int) -> bool:
    """Whether the word after ``end`` makes "her" possessive ("her contract") rather than an object ("told her")."""
    following = re.match(r"\s+([A-Za-z]+)", text[end:])
    return bool(following) and following[1].lower() not in _NOT_NOUNS  # type: ignore[index]

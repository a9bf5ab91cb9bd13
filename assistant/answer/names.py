"""Names a pronoun may stand for: finding them in a question or an answer, and telling people from organisations.

What :mod:`.conversation` reads a follow-up with; a rule of its own, apart from how a follow-up is rewritten.
"""

from __future__ import annotations

import re

from .evidence import values_in

__all__ = [
    "is_organisation",
    "is_person",
    "listed",
    "names_in",
    "plain",
    "possessive",
    "swap_name",
    "titled",
    "unique",
    "untitled",
]

# Capitalised words that are not what a pronoun stands for.
_NOT_REFERENTS = frozenset(
    {
        "AI",
        "U.S.",
        "US",
        "UK",
        "EU",
        "I",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "President",
        "CEO",
        "What",
        "Which",
        "Who",
        "When",
        "Where",
        "Why",
        "How",
    }
)
_ORG_WORDS = re.compile(
    r"\b(?:Inc|Corp|Corporation|Group|Company|Co|Ltd|Bank|Holdings|Technologies|Party|Ministry|Airlines|Airways"
    r"|Motors|Association|Agency|Department|Council|Committee|Commission|Foundation|Institute|University|College"
    r"|Network|Federation|League|Administration|Reserve)\b"
)
# Last words that make a name a place, a body, an event or a thing, never a person ("United States", "White House",
# "Spirit Airlines", "Guinness World Records", "Oak Fire", "Southeast Asian").
_NOT_PERSON_HEADS = frozenset(
    """States Kingdom Republic Union Nations Emirates Islands Island House Court Congress Senate Office Service
    Records Awards Games Cup Series Fire Park Forest River Lake Bay Valley Mountains Canyon Beach City County State
    Province Street Square Bridge Station Airport Center Centre School Hospital Museum Festival Times News Post
    Journal Front Army Navy Force Forces Guard Police Fund Exchange Market Index Act Virus Telescope Coast Sea Ocean
    Pacific Atlantic American European Asian African""".split()  # noqa: SIM905
)
# A one-word name that is a people's adjective ("European", "British-Belgian", "Chinese"): not what "it" stands for.
_ADJECTIVE = re.compile(r"[A-Z][a-z]+(?:-[A-Z][a-z]+)*(?:ean|ian|ese|ish|ican)")
# Abbreviated titles a sentence does not end after: "Texas Gov. Greg Abbott" is one name.
_ABBREVIATED = frozenset("Gov Sen Rep Dr Mr Mrs Ms Lt Gen Col Sgt St Jr Sr Mt Ft".split())  # noqa: SIM905


def possessive(name: str) -> str:
    """Sri Lanka’s, Los Angeles Dodgers’."""
    return name + ("’" if name.endswith("s") and not name.endswith("ss") else "’s")


def plain(name: str) -> str:
    """A name without a possessive ending: "Jupiter's" stands for Jupiter."""
    return re.sub(r"['’]s$", "", name)


def unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def names_in(text: str) -> list[str]:
    """Names in ``text`` that a pronoun may stand for; acronyms count ("NASA"), two-letter ones ("AI", "US") not.
    A name is cut where a sentence ends inside it ("Warren Buffett. How" is Warren Buffett)."""
    cut = [_first_sentence(n) for n in values_in(text, "name")]
    return [
        n
        for n in cut
        if n and n not in _NOT_REFERENTS and not (n.isupper() and len(n) < 3) and not _ADJECTIVE.fullmatch(n)
    ]


def _first_sentence(name: str) -> str:
    """``name`` up to a sentence end inside it ("Warren Buffett. How"), not to an abbreviated title's dot."""
    for end in re.finditer(r"(\w*)([.?!])\s+", name):
        if end[2] != "." or end[1] not in _ABBREVIATED:
            return name[: end.start(2)]
    return name


_NAME = r"(?:the\s+)?[A-Z][\w.&’'-]*(?:\s+[A-Z][\w.&’'-]*)*"
_LISTED = re.compile(rf"{_NAME}(?:,\s+{_NAME})*,?\s+and\s+{_NAME}")


def listed(text: str, within: bool = False) -> list[str]:
    """The items of a list: "Sweden and Finland", "New Jersey & Oregon"; ``within`` a sentence, the last list of
    names in it ("…including the UK, Spain, and France?")."""
    if within:
        lists = list(_LISTED.finditer(text))
        text = lists[-1].group() if lists else ""
    return [part.strip() for part in re.split(r",\s*(?:and\s+)?|\s+and\s+|\s*&\s*", text) if part.strip()]


def is_organisation(name: str) -> bool:
    """A company word ("Alibaba Group", "Bank of China") or an acronym ("NASA", "PG&E")."""
    return bool(_ORG_WORDS.search(name)) or bool(re.fullmatch(r"[A-Z][A-Z&.]{2,}", plain(name)))


def is_person(name: str) -> bool:
    """Two or three capitalised words after any titles, no company word, not "The …", not ending in an acronym
    unless it is someone's role, nor in a word only places and bodies end in: 'Xi Jinping', 'House Speaker Nancy
    Pelosi', "Alibaba's CEO", 'Texas Gov. Greg Abbott', not 'After NFL', 'United States' or 'Spirit Airlines'."""
    words = untitled(name).split()
    role = any(w.endswith(("'s", "’s")) for w in words)
    acronym = words[-1].isupper() if words else False
    place = bool(words) and words[-1] in _NOT_PERSON_HEADS
    return (
        2 <= len(words) <= 3
        and not _ORG_WORDS.search(name)
        and words[0] != "The"
        and (role or not acronym)
        and not place
    )


_TITLES = frozenset(
    {
        "President",
        "Vice",
        "Speaker",
        "House",
        "Senate",
        "Senator",
        "Sen.",
        "Rep.",
        "Representative",
        "Governor",
        "Gov.",
        "Prime",
        "Minister",
        "Secretary",
        "First",
        "Lady",
        "Dr.",
        "Mr.",
        "Mrs.",
        "Ms.",
        "King",
        "Queen",
        "Prince",
        "Princess",
        "Pope",
        "Chancellor",
        "Mayor",
        "Judge",
        "Justice",
        "UK",
        "US",
        "U.S.",
        "Former",
        "CEO",
        "Chief",
    }
)


def swap_name(base: str, name: str, subject: str) -> str:
    """``base`` with ``name`` replaced by ``subject``: "According to the FDA" (not "the the FDA"), "The WHO …"."""
    at = base.find(name)
    if subject.lower().startswith("the ") and re.search(r"\bthe\s+$", base[:at], re.IGNORECASE):
        subject = subject[4:]
    out = base[:at] + subject + base[at + len(name) :]
    return out[:1].upper() + out[1:]


def titled(name: str, text: str) -> bool:
    """Whether ``text`` quotes ``name`` as a title (“Star Trek” actress): a show or a film, not a person."""
    return bool(re.search(r"[“\"‘]" + re.escape(name), text))


def untitled(name: str) -> str:
    """A name without the titles before it: "House Speaker Nancy Pelosi" → Nancy Pelosi, and without a place before
    its title: "New York Mayor Eric Adams" → Eric Adams."""
    words = name.split()
    titles = [i for i, word in enumerate(words[:-2]) if word in _TITLES]
    return " ".join(words[titles[-1] + 1 :] if titles else words)

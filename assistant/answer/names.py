"""Names a pronoun may stand for: finding them in a question or an answer, and telling people from organisations.

What :mod:`.conversation` reads a follow-up with; a rule of its own, apart from how a follow-up is rewritten.
"""

from __future__ import annotations

import re

from .evidence import values_in

__all__ = ["is_organisation", "is_person", "names_in", "plain", "possessive", "unique", "untitled"]

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
_ORG_WORDS = re.compile(r"\b(?:Inc|Corp|Group|Company|Co|Ltd|Bank|Holdings|Technologies|Party|Ministry)\b")


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
    cut = [re.split(r"[.?!]\s+", n)[0] for n in values_in(text, "name")]
    return [n for n in cut if n and n not in _NOT_REFERENTS and not (n.isupper() and len(n) < 3)]


def is_organisation(name: str) -> bool:
    """A company word ("Alibaba Group", "Bank of China") or an acronym ("NASA", "PG&E")."""
    return bool(_ORG_WORDS.search(name)) or bool(re.fullmatch(r"[A-Z][A-Z&.]{2,}", plain(name)))


def is_person(name: str) -> bool:
    """Two or three capitalised words after any titles, no company word, not "The …", not ending in an acronym
    unless it is someone's role: 'Xi Jinping', 'House Speaker Nancy Pelosi', "Alibaba's CEO", not 'After NFL'."""
    words = untitled(name).split()
    role = any(w.endswith(("'s", "’s")) for w in words)
    acronym = words[-1].isupper() if words else False
    return 2 <= len(words) <= 3 and not _ORG_WORDS.search(name) and words[0] != "The" and (role or not acronym)


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


def untitled(name: str) -> str:
    """A name without the titles before it: "House Speaker Nancy Pelosi" → Nancy Pelosi."""
    words = name.split()
    while len(words) > 2 and words[0] in _TITLES:
        words = words[1:]
    return " ".join(words)

"""Values as news states them: amounts, figures, dates and names, as patterns over a sentence.

``NUMBER``, ``DATE`` and ``NAME`` are loose (a figure with whatever units follow it, a capitalised run of words):
what sentence scoring needs to tell whether a sentence states the kind of value asked for. The tighter ones
(``MONEY``, ``PERCENT``, ``COUNT``, ``WHEN``, ``TITLE``) mark the span a short answer quotes.
"""

from __future__ import annotations

import re

__all__ = ["COUNT", "DATE", "MONEY", "MONTHS", "NAME", "NUMBER", "PERCENT", "TITLE", "WHEN"]

MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
NUMBER = re.compile(
    r"(?:[$€£¥]\s?)?\d[\d,]*(?:\.\d+)?(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|"
    r"hundred|yuan|dollars|euros|pounds|people|years?|days?|km|miles|points?))*",
    re.IGNORECASE,
)
DATE = re.compile(rf"\b(?:{MONTHS})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{4}})?\b|\b(?:1[89]|20)\d\d\b", re.I)
NAME = re.compile(
    r"(?<![\w.])(?:[A-Z][\w'’&.-]*[a-z0-9][\w'’&.-]*|[A-Z]{2,})(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'’&.-]+)*"
)

_FIGURE = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:\s?(?:million|billion|trillion|thousand|bn|m)\b)?"
_WORD_NUMBER = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|dozens?|a dozen"
)
MONEY = re.compile(
    rf"(?:(?<![\w$€£¥])(?:US|C|A|HK|NZ)?[$€£¥]\s?|\bUSD\s?|\bEUR\s?)(?:{_FIGURE}){_SCALE}"
    rf"|\b(?:{_FIGURE}){_SCALE}\s?(?:yuan|dollars|euros|pounds|yen|rupees|won|rubles|roubles|francs|pesos|reais)\b",
    re.IGNORECASE,
)
PERCENT = re.compile(rf"(?<![\w.,])(?:{_FIGURE})\s?(?:%|percent\b|per cent\b|percentage points?\b)", re.IGNORECASE)
COUNT = re.compile(
    rf"(?<![\w.,$€£¥-])(?:{_FIGURE}){_SCALE}(?![\w%]|[.,]\d)|\b(?:{_WORD_NUMBER})(?:[ -](?:{_WORD_NUMBER}))*\b",
    re.IGNORECASE,
)
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
WHEN = re.compile(
    rf"\b(?:(?:early|late|mid|later|earlier)[ -](?:this |next |last )?)?(?:{MONTHS})\.?"
    rf"(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+(?:1[89]|20)\d\d)?\b"
    rf"|\b(?:next|last|this|later this|early next|by next|end of (?:the|this|next)) "
    rf"(?:week|month|year|fall|autumn|spring|summer|winter|weekend|decade)\b"
    rf"|\b(?:{_WEEKDAYS})\b|\b(?:1[89]|20)\d\d\b"
    rf"|\b(?:in|within) (?:the coming |the next )?(?:a |\w+ )(?:days?|weeks?|months?)\b"
    rf"|\b(?:today|tomorrow|tonight|yesterday|immediately|soon)\b",
    re.IGNORECASE,
)
# A title in quotes: “Squid Game”, "House of the Dragon" (short, capitalised: a show, a film, a book).
TITLE = re.compile(r"[“\"]([A-Z0-9][^“”\"]{0,60}?)[”\"]")

"""Turn scraped article text into clean paragraphs without losing any sentence.

:func:`clean_text` is for bodies: it removes characters that break matching and display, then scrape debris
(image placeholders, table pipes, share/comment/navigation widgets) one whole line at a time, so prose is
never cut in the middle. :func:`clean_inline` applies the same character cleaning to one-line values such as
titles.
"""

from __future__ import annotations

import io
import itertools
import re
import unicodedata
from collections.abc import Iterator

from .markup import remove_images

__all__ = ["clean_inline", "clean_question", "clean_text", "drop_invisible", "strip_unprintable"]


def _code_points(categories: tuple[str, ...]) -> dict[str, list[int]]:
    # Scanned once at import rather than listed by hand, so new format characters in a later Unicode version are
    # covered too. Planes 0-1 and the tag block hold every control, format and space character Unicode defines.
    found: dict[str, list[int]] = {category: [] for category in categories}
    for point in itertools.chain(range(0x20000), range(0xE0000, 0xE1000)):
        category = unicodedata.category(chr(point))
        if category in found:
            found[category].append(point)
    return found


def _char_class(points: list[int]) -> str:
    ranges: list[str] = []
    for _, run in itertools.groupby(enumerate(sorted(points)), key=lambda pair: pair[1] - pair[0]):
        values = [point for _, point in run]
        first, last = values[0], values[-1]
        ranges.append(f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}")
    return "[" + "".join(ranges) + "]"


# Format characters (Unicode Cf: zero-width space and joiners, bidi marks, embeddings, overrides and isolates,
# the Arabic letter mark, the soft hyphen, tag characters) are invisible but split words for search, so "AI" and
# "A\u200bI" would otherwise be different tokens; a bidi override can also make displayed text read differently
# from what was indexed. Control characters other than the newline carry no text. Lone surrogates (from a JSON
# "\ud800" escape) are not characters at all: they cannot even be encoded to UTF-8 for hashing and storage.
_POINTS = _code_points(("Cc", "Cf", "Zs"))
_SURROGATES = list(range(0xD800, 0xE000))
_CONTROLS = [point for point in _POINTS["Cc"] if point != ord("\n")]
_FORMATS = _POINTS["Cf"]
_INVISIBLE = re.compile(_char_class(_FORMATS + _SURROGATES))
_UNPRINTABLE = re.compile(_char_class([*_CONTROLS, ord("\n"), *_FORMATS, *_SURROGATES]))

# Body characters, as one str.translate table: removed, made a plain space (tabs and every Unicode space:
# no-break, em, ideographic...), or made a newline (what ends a line in some editor or encoding, so the words on
# either side stay apart; "\r\n" is replaced first). A table, not re.sub: a regex substitution keeps a string
# object per match until it is done, so an article of 50 MB with a tab between every two words took gigabytes.
_CHARACTER_MAP: dict[int, str | None] = {
    **dict.fromkeys(_CONTROLS + _FORMATS + _SURROGATES),
    **dict.fromkeys([ord("\t"), *(point for point in _POINTS["Zs"] if point != ord(" "))], " "),
    **dict.fromkeys(map(ord, "\r\x0b\x0c\x85\u2028\u2029"), "\n"),
}
_NEEDS_MAP = re.compile(_char_class(list(_CHARACTER_MAP)))

# Table cells flattened to text leave a pipe at either end of the line; pipes inside a line are kept, since
# they may be real content ("|x|") or cell separators still carrying words. Trailing pipes are found by
# `_strip_trailing_pipes`: the regex `(?:\s+\|)+$` retried from every space of a line like "a | | | ... x".
_LEADING_PIPES = re.compile(r"^(?:\|(?:\s+|$))+")

# Lines made only of table rules, horizontal rules or separators carry no words.
_RULE_LINE = re.compile(r"^[\s|\-–—=_:+*~•·]*$")

# Longer lines are prose even if they start like a widget label ("Share prices fell ...").
_MAX_BOILERPLATE_LEN = 80

# Whole-line footer, navigation and widget labels; matched against a full line only, never inside a sentence.
_BOILERPLATE = re.compile(
    r"""
    ^(?:
        # Comment widgets: the section header, a count, and the call to action.
        (?:\d[\d,.]*k?\s+|no\s+|view\s+|show\s+|load\s+)?comments?(?:\s*\(\d+\))?
      | post\s+a\s+comment | leave\s+a\s+(?:comment|reply) | add\s+a\s+comment
      | join\s+the\s+(?:conversation|discussion)
        # Share buttons survive as bare words or "Share on <network>" links.
      | share(?:\s+this(?:\s+(?:article|story|post|page))?)?
      | share\s+(?:on|to|via|with)\s+
        (?:facebook|twitter|x|linkedin|whatsapp|reddit|e-?mail|pinterest|telegram|threads|bluesky|messenger)
      | tweet | e-?mail | print | copy\s+link
        # Ad slots leave their label behind when the ad itself is stripped.
      | advertisements? | sponsored(?:\s+content)? | story\s+continues\s+below(?:\s+advertisement)?
        # Site navigation and accessibility links.
      | skip\s+to\s+(?:main\s+)?content | home | menu | back\s+to\s+top
      | (?:next|previous)\s+(?:article|story|post)
      | read\s+more | see\s+more | related(?:\s+(?:articles|stories|posts|content))?
        # Newsletter and account prompts.
      | subscribe(?:\s+now)? | sign\s+up(?:\s+for\s+our\s+newsletter)? | (?:log|sign)\s+in
        # Legal footers; the copyright sign or a year tells them apart from a sentence about copyright,
        # and "(c)" needs a year so list items like "(c) the third option" survive.
      | (?:copyright\s*)?©.* | (?:copyright\s*)?\(c\)\s*\d{4}.* | copyright\s+\d{4}\b.*
      | (?:.*\s)?all\s+rights\s+reserved
    )[\s:.!|»›>-]*$
    """,
    re.IGNORECASE | re.VERBOSE,
)


# Lines that send the reader to other stories, which an answer must never quote as this story's facts: a labelled
# link ("Read more: <headline>", "Related: <headline>") or a teaser tagged like "… marmot [INSIGHT]".
_TEASER = re.compile(
    r"^(?:read\s+more|related(?:\s+(?:post|posts|article|articles|story|stories|coverage|content|reading|video))?"
    r"|see\s+also|also\s+read|read\s+next|watch|listen|more\s+on\s+this(?:\s+story)?)\s*:\s*\S",
    re.IGNORECASE,
)
_TAGGED_TEASER = re.compile(r"\S\s*\[(?:[A-Z]{3,12}|Video|Pictures|Photos|Gallery|Poll|Watch)\]\s*\|?$")
# Newsletter, app and subscription prompts: a call to action starts with the imperative or speaks to the reader
# ("right in your inbox"); a sentence that reports on a newsletter ("two million people subscribed to it") is news.
_PROMPT = re.compile(
    r"^(?:click\s+here\b|subscribe\s+(?:to|now|for|today)\b|sign\s+up\b|get\s+the\s+\S+(?:\s+\S+)?\s+app\b)"
    r"|\bnewsletters?\b.*\byour\s+inbox\b|\byour\s+inbox\b.*\bnewsletters?\b"
    r"|\b(?:subscribe|sign\s+up)\s+(?:to|for)\s+(?:our|the\s+\S+)\s+(?:\S+\s+){0,3}newsletters?\b",
    re.IGNORECASE,
)
# Labels of a list of links to other stories; the headlines listed under them go too.
_LINK_LIST = re.compile(
    r"^(?:(?:don[’']?t\s+miss|you\s+(?:may|might)\s+also\s+like|explore\s+further|recommended(?:\s+for\s+you)?"
    r"|most\s+(?:popular|read)|trending(?:\s+now)?|more\s+(?:stories|news|from\s+\S+(?:\s+\S+)?)|top\s+stories"
    r"|editor[’']?s\s+picks|further\s+reading|read\s+next|related\s+(?:links|coverage|reading|news))\s*[:.…!]*"
    r"|more\s*:)$",
    re.IGNORECASE,
)
_MAX_TEASER_LEN = 200
# Under a link-list label, lines this short without a sentence's closing punctuation are the listed headlines.
_MAX_HEADLINE_LEN = 150
_MAX_LISTED = 8
_SENTENCE_END = tuple(".!\"”'’:;)…")


def _is_teaser(line: str) -> bool:
    """Whether a cleaned line is a link to another story, or a newsletter or app prompt."""
    if len(line) > _MAX_TEASER_LEN:
        return False
    return bool(_TEASER.match(line) or _TAGGED_TEASER.search(line) or _PROMPT.search(line))


def _is_listed_headline(line: str) -> bool:
    return len(line) <= _MAX_HEADLINE_LEN and not line.endswith(_SENTENCE_END) and not line.startswith(("“", '"'))


def _clean_chars(raw: str) -> str:
    """Character-level cleaning shared by bodies and inline values; keeps newlines, one space per run.

    Whole-string passes in C, never a Python object per character or per match: a 50 MB article costs a few
    copies of itself.
    """
    text = raw.replace("\r\n", "\n")
    if _NEEDS_MAP.search(text):  # most text has nothing to map, and translate is slow on non-ASCII text
        text = text.translate(_CHARACTER_MAP)
    # NFC, not NFKC: compatibility folding would rewrite "²" as "2" and "ﬁ" as "fi", changing the text.
    return _collapse_spaces(unicodedata.normalize("NFC", text))


def _collapse_spaces(text: str) -> str:
    while "  " in text:  # each pass halves every run; re.sub would keep an object per run until done
        text = text.replace("  ", " ")
    return text


def _strip_trailing_pipes(line: str) -> str:
    """``line`` without the pipes, each after whitespace, that end it; linear where the regex was quadratic."""
    end = len(line)
    while end >= 2 and line[end - 1] == "|" and line[end - 2].isspace():
        end -= 1
        while end and line[end - 1].isspace():
            end -= 1
    return line[:end]


def _clean_line(line: str) -> str:
    line = _collapse_spaces(remove_images(line)).strip()
    if line.startswith("|"):  # the check spares most lines a regex pass; a 20 MB file can have ten million lines
        line = _LEADING_PIPES.sub("", line)
    line = _strip_trailing_pipes(line).strip()
    if _RULE_LINE.match(line):
        return ""
    if len(line) <= _MAX_BOILERPLATE_LEN and _BOILERPLATE.match(line):
        return ""
    return line


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` one at a time: ``split`` would hold every line as an object at once."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def clean_text(raw: str) -> str:
    """Clean an article body: one paragraph per source line, paragraphs separated by one blank line.

    Every line of prose is kept; only whole lines of debris are dropped: widgets, links to other stories (with the
    headlines listed under a "DON'T MISS" or "You may also like" label) and newsletter prompts. Returns ``""`` if
    nothing is left.
    """
    out = io.StringIO()
    listed = 0  # headlines still to drop under a link-list label
    for line in _lines(_clean_chars(raw)):
        # Blank lines are skipped before the per-line work: a file of a million newlines is not a million lines.
        if not line or line == " " or not (line := _clean_line(line)):
            continue
        if listed and _is_listed_headline(line):
            listed -= 1
            continue
        listed = 0
        if len(line) <= _MAX_BOILERPLATE_LEN and _LINK_LIST.match(line):
            listed = _MAX_LISTED
            continue
        if _is_teaser(line):
            continue
        if out.tell():
            out.write("\n\n")
        out.write(line)
    return out.getvalue()


def clean_inline(raw: str) -> str:
    """Clean a one-line value (title, source, author): same characters as :func:`clean_text`, one line."""
    return " ".join(_clean_chars(raw).split())


# In a question, controls (C0, C1, line and paragraph separators) are copy-paste noise that separates words.
_QUESTION_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_question(raw: str) -> str:
    """A question or search query as typed, pasted or passed in a shell argument, on one line.

    Controls separate words, while format characters (zero-width, bidi marks, the soft hyphen) sit inside them
    ("Ali\u200bbaba") and are dropped, as are lone surrogates (undecodable bytes of a command-line argument), which
    no tokenizer accepts.
    """
    return " ".join(_QUESTION_BREAKS.sub(" ", drop_invisible(raw)).split())


def drop_invisible(raw: str) -> str:
    """``raw`` without format characters (zero-width, bidi, soft hyphen) or lone surrogates; controls stay."""
    return _INVISIBLE.sub("", raw)


def strip_unprintable(raw: str) -> str:
    """``raw`` without control, format (zero-width, bidi) or lone surrogate characters; nothing else changes.

    For values that are identifiers rather than prose (URLs, ids): they keep their spelling, but an escape
    sequence or a lone surrogate in one must not reach a terminal, a hash or the database.
    """
    return _UNPRINTABLE.sub("", raw)

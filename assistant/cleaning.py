"""Turn scraped article text into clean paragraphs without losing any sentence.

:func:`clean_text` is for bodies: it removes characters that break matching and display, then scrape debris
(image placeholders, table pipes, share/comment/navigation widgets) one whole line at a time, so prose is
never cut in the middle. :func:`clean_inline` applies the same character cleaning to one-line values such as
titles.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_inline", "clean_text"]

# Zero-width characters, bidi controls and the soft hyphen are invisible but split words for search,
# so "AI" and "A\u200bI" would otherwise be different tokens.
_INVISIBLE = dict.fromkeys(
    [
        0x00AD,  # soft hyphen
        *range(0x200B, 0x200E),  # zero-width space, non-joiner, joiner
        0x2060,  # word joiner
        0xFEFF,  # BOM / zero-width no-break space
        0x200E,
        0x200F,  # left-to-right / right-to-left marks
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2066, 0x206A),  # bidi isolates
    ]
)

# Characters that end a line in some editor or encoding: newlines, so the words on either side stay apart.
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")

# Markdown images: scrapers leave `![]()` placeholders where pictures were. The URL may hold one level of
# parentheses (Wikipedia-style links); `![alt][ref]` is the reference form.
_IMAGE = re.compile(r"!\[[^\]\n]*\](?:\((?:[^()\n]|\([^()\n]*\))*\)|\[[^\]\n]*\])")

# Table cells flattened to text leave a pipe at either end of the line; pipes inside a line are kept, since
# they may be real content ("|x|") or cell separators still carrying words.
_LEADING_PIPES = re.compile(r"^(?:\|(?:\s+|$))+")
_TRAILING_PIPES = re.compile(r"(?:\s+\|)+$")

# Lines made only of table rules, horizontal rules or separators carry no words.
_RULE_LINE = re.compile(r"^[\s|\-–—=_:+*~•·]*$")

_SPACES = re.compile(r" {2,}")

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


def _clean_chars(raw: str) -> str:
    """Character-level cleaning shared by bodies and inline values; keeps newlines, one space per run."""
    text = _LINE_BREAKS.sub("\n", raw).translate(_INVISIBLE)
    chars: list[str] = []
    for char in text:
        if char == "\n":
            chars.append(char)
            continue
        category = unicodedata.category(char)
        if category == "Zs" or char == "\t":
            chars.append(" ")
        elif category != "Cc":
            chars.append(char)
    # NFC, not NFKC: compatibility folding would rewrite "²" as "2" and "ﬁ" as "fi", changing the text.
    text = unicodedata.normalize("NFC", "".join(chars))
    return _SPACES.sub(" ", text)


def _remove_images(line: str) -> str:
    # Repeat because removing one image can expose another built around it.
    while True:
        stripped = _IMAGE.sub(" ", line)
        if stripped == line:
            return line
        line = stripped


def _clean_line(line: str) -> str:
    line = _SPACES.sub(" ", _remove_images(line)).strip()
    line = _TRAILING_PIPES.sub("", _LEADING_PIPES.sub("", line)).strip()
    if _RULE_LINE.match(line):
        return ""
    if len(line) <= _MAX_BOILERPLATE_LEN and _BOILERPLATE.match(line):
        return ""
    return line


def clean_text(raw: str) -> str:
    """Clean an article body: one paragraph per source line, paragraphs separated by one blank line.

    Every line of prose is kept; only whole lines of debris are dropped. Returns ``""`` if nothing is left.
    """
    lines = (_clean_line(line) for line in _clean_chars(raw).split("\n"))
    return "\n\n".join(line for line in lines if line)


def clean_inline(raw: str) -> str:
    """Clean a one-line value (title, source, author): same characters as :func:`clean_text`, one line."""
    return " ".join(_clean_chars(raw).split())

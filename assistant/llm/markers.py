"""Citation markers in a generated answer: normalised to "[n]", and those that name no excerpt taken out.

Models write markers many ways ("[1, 2]", "[1-3]", "[Excerpt 2]", "【1】", OpenAI's "【4†source】") and sometimes cite
excerpts that do not exist ("[7]" of six) or write bracketed debris ("[-1]", "[1a]", "[^2]").
"""

from __future__ import annotations

import re

__all__ = ["clean_markers"]

_MAX_RANGE = 50  # "[1-3]" is expanded; "[1-999999]" is not a citation anyone means, only its ends are kept

_CITE_WORD = r"(?:(?:excerpts?|sources?|passages?|refs?\.?)\s*)?"
_GROUP = rf"\[\s*{_CITE_WORD}\d+(?:\s*(?:[,;–—-]|and|&)\s*{_CITE_WORD}\d+)*\s*\]"
_RUN = re.compile(rf"(?P<pre>[ \t]*)(?P<run>{_GROUP}(?:[ \t]*,?[ \t]*{_GROUP})*)(?P<post>[ \t]*)", re.IGNORECASE)
_ITEM = re.compile(r"(\d+)(?:\s*[–—-]\s*(\d+))?")
_GAP = "\x00"  # where clean_markers removed something, until the removals around it are known
_SETTLE = re.compile(r"[ \t]*(?:\x00[ \t]*)+")

# Citation markers in look-alike brackets ("【1】", OpenAI's "【4†source】", "［2］", "⟦3⟧" copied from a neutralised
# prompt) are citations all the same: they become "[n]" and are checked like any other.
_LOOKALIKE = re.compile(r"[【［〔⟦〚]\s*(\d+(?:\s*[,;–—-]\s*\d+)*)\s*(?:[†:‡][^】］〕⟧〛\n]{0,40})?[】］〕⟧〛]")
# Brackets that look like a citation but name no excerpt ("[-1]", "[1a]", "[^2]", "[#3]", "[n]") point nowhere.
_DEBRIS = re.compile(
    r"(?P<pre>[ \t]*)\[\s*(?:(?P<sign>[-+#^])\s*(?P<signed>\d+)"
    r"|(?P<number>\d+)\s*(?:[a-z]{1,2}|[.:,;–—+-])[\w.:,;–—+ -]{0,8}|n)\s*\](?P<post>[ \t]*)",
    re.IGNORECASE,
)


def clean_markers(text: str, count: int) -> tuple[str, tuple[int, ...]]:
    """``text`` with citation markers normalised to ``[n]`` and those outside 1..count removed; and the removed.

    Markers in look-alike brackets ("【2】") count as markers; bracketed debris that names no excerpt ("[-1]",
    "[1a]", "[^3]") is removed.
    """
    removed: list[int] = []

    def gap(match: re.Match[str]) -> str:
        # Marked, not settled: what replaces a removal depends on its neighbours, which may be removals too.
        return match.group("pre") + _GAP + match.group("post")

    def settle(match: re.Match[str]) -> str:
        """Removals in a row become nothing at a line's start or before punctuation, else one space if spaced."""
        start, end = match.start(), match.end()
        following = match.string[end : end + 1]
        if start == 0 or match.string[start - 1] == "\n" or not following or following in ".,;:!?)\n":
            return ""
        return " " if match.group().strip(_GAP) else ""

    def lookalike(match: re.Match[str]) -> str:
        before = match.string[match.start() - 1 : match.start()]
        return (" " if before and not before.isspace() else "") + f"[{match.group(1)}]"

    def debris(match: re.Match[str]) -> str:
        digits = match.group("signed") or match.group("number")
        number = -int(digits) if match.group("sign") == "-" else int(digits or 0)
        if digits and not 1 <= number <= count and number not in removed:
            removed.append(number)
        return gap(match)

    def replace(match: re.Match[str]) -> str:
        numbers: list[int] = []
        for first, last in _ITEM.findall(match.group("run")):
            low = int(first)
            high = int(last) if last else low
            if low <= high <= low + _MAX_RANGE:
                numbers.extend(range(low, high + 1))
            else:
                numbers.extend((low, high) if last else (low,))
        numbers = list(dict.fromkeys(numbers))
        valid = [n for n in numbers if 1 <= n <= count]
        removed.extend(n for n in numbers if not 1 <= n <= count and n not in removed)
        pre, post = match.group("pre"), match.group("post")
        if valid:
            return pre + "".join(f"[{n}]" for n in valid) + post
        return gap(match)

    cleaned = _LOOKALIKE.sub(lookalike, text.replace(_GAP, ""))
    while True:  # a removal can join brackets into a new marker ("[[9]2]" -> "[2]"); sweep until none is left
        again = _SETTLE.sub(settle, _DEBRIS.sub(debris, _RUN.sub(replace, cleaned)))
        if again == cleaned:
            return cleaned.strip(), tuple(removed)
        cleaned = again

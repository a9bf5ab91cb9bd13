"""Citation markers: how an answer points at its numbered excerpts ("[3]"), in one place for every stage."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = ["LOOSE_MARKER", "MARKER", "is_marker_label", "renumber", "split_markers", "strip_markers"]

# A settled marker, as answers carry them: "[3]".
MARKER = re.compile(r"\[(\d+)\]")
_SPACED_MARKER = re.compile(r"[ \t]*\[\d+\]")
# What a model writes inside brackets when it means excerpts: "1", "1, 2", "1–3".
_LABEL = r"\s*\d+(?:\s*[,;–—-]\s*\d+)*\s*"
_LABEL_ONLY = re.compile(_LABEL)
# A marker as a model may write it, with the space before it: " [1, 2]", "[1–3]".
LOOSE_MARKER = re.compile(rf"\s*\[{_LABEL}\]")


def strip_markers(text: str) -> str:
    """``text`` without its settled markers (and the spaces before them)."""
    return _SPACED_MARKER.sub("", text)


def renumber(text: str, numbers: Mapping[int, int]) -> str:
    """Settled markers renumbered by ``numbers``; markers it does not name stay as they are."""
    return MARKER.sub(lambda m: f"[{numbers.get(int(m.group(1)), m.group(1))}]", text)


def is_marker_label(label: str) -> bool:
    """Whether bracketed text is a citation marker's inside ("2", "1, 3"), not words."""
    return _LABEL_ONLY.fullmatch(label) is not None


def split_markers(text: str, plain: Callable[[str], str], marker: Callable[[int, str], str]) -> str:
    """``text`` rebuilt piece by piece: ``plain`` for the text between markers, ``marker(number, raw)`` for each."""
    out: list[str] = []
    last = 0
    for match in MARKER.finditer(text):
        out.append(plain(text[last : match.start()]))
        out.append(marker(int(match.group(1)), match.group()))
        last = match.end()
    out.append(plain(text[last:]))
    return "".join(out)

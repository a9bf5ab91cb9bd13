"""Markup found inside text (Markdown images), and the tidying that taking things out of a sentence needs."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["close_up", "remove_images"]

# Markdown images: scrapers leave `![]()` placeholders where pictures were, and an injected article asks a model to
# write `![x](http://evil/?q=...)`. The URL may hold one level of parentheses (Wikipedia-style links); `![alt][ref]`
# is the reference form. The alt text holds no "[": with it, a line of "![![![..." made every "![" scan to the end
# of the line, quadratic time (minutes for 400 kB).
_IMAGE = re.compile(r"!\[[^\[\]\n]*\](?:\((?:[^()\n]|\([^()\n]*\))*\)|\[[^\]\n]*\])")
# Each pass removes the innermost images; deeper nesting than this is not real text, and its leftover brackets
# stay as text rather than costing a pass per level.
_IMAGE_PASSES = 16
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+(?=[.,;:!?])")


def remove_images(text: str, replacement: str | Callable[[re.Match[str]], str] = " ") -> str:
    """``text`` without Markdown images; ``replacement`` is what each becomes (a callable sees the match)."""
    if "![" not in text:
        return text
    # Repeated because removing one image can expose another built around it.
    for _ in range(_IMAGE_PASSES):
        stripped = _IMAGE.sub(replacement, text)
        if stripped == text:
            break
        text = stripped
    return text


def close_up(text: str) -> str:
    """No space before punctuation: what is left where something was cut out of a sentence ("cost 5 [1] .")."""
    return _SPACE_BEFORE_PUNCTUATION.sub("", text)

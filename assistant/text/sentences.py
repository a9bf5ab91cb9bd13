"""Sentence boundaries with exact character offsets, so a quoted sentence can be found again in its source."""

from __future__ import annotations

import re
from collections.abc import Iterator

_LINE = re.compile(r"[^\n]+")
# A line with no letters at all ("|", "***", "12 | 34") cannot state anything worth quoting.
_LETTER = re.compile(r"[^\W\d_]")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``: ``text[start:end]`` is the sentence, without outer whitespace.

    News text puts paragraphs, headlines and captions on lines of their own, so a line break always ends a
    sentence; inside a line, Bling Fire's rules find the boundaries (abbreviations like "U.S." stay whole).
    """
    import blingfire

    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        chunk = line.group()
        if not _LETTER.search(chunk):
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(chunk)
        for start, end in offsets or [(0, len(chunk))]:
            spans.extend(_trimmed(chunk, start, end, line.start()))
    return spans


def _trimmed(line: str, start: int, end: int, base: int) -> Iterator[tuple[int, int]]:
    while start < end and line[start].isspace():
        start += 1
    while end > start and line[end - 1].isspace():
        end -= 1
    if end > start and _LETTER.search(line, start, end):
        yield base + start, base + end

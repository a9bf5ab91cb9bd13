"""Splitting cleaned articles into passages that fit the embedder's window, with exact offsets."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from ..documents import Article, Chunk
from ..index.ids import chunk_id

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

logger = logging.getLogger(__name__)

# LangChain's RecursiveCharacterTextSplitter produces the passages (keep_separator="end", strip_whitespace=True).
# :func:`passages` walks the same rules over offsets (a property test holds the two equal on arbitrary text), which
# gives each passage's place in the article by construction: looking a passage up afterwards is ambiguous in
# repetitive text, so that is only the fallback (:func:`_locate`).
SPLITTER_NAME = "langchain.RecursiveCharacterTextSplitter"
# The most characters handed to the splitter at once (see _segments): about 10 MB of split strings at worst.
_SEGMENT = 200_000

# Paragraphs first, then sentences, then clauses: a chunk boundary inside a sentence is the last resort.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ": ", ", ", " ", ""]

Span = tuple[int, int]


def _cuts(text: str, start: int, end: int, separator: str) -> Iterator[Span]:
    """``text[start:end]`` cut after each occurrence of ``separator``, which stays with the piece before it."""
    position = start
    while (found := text.find(separator, position, end)) >= 0:
        yield position, found + len(separator)
        position = found + len(separator)
    if position < end:
        yield position, end


class _Merger:
    """Consecutive spans, each shorter than ``size``, merged into passages of at most ``size`` characters.

    The rule is langchain's ``_merge_splits``: a passage is emitted when the next span would not fit, and the
    spans at its end totalling at most ``overlap`` characters start the next one.
    """

    def __init__(self, size: int, overlap: int) -> None:
        self.size, self.overlap = size, overlap
        self.spans: deque[Span] = deque()
        self.total = 0

    def add(self, span: Span) -> Iterator[Span]:
        length = span[1] - span[0]
        if self.spans and self.total + length > self.size:
            yield self.spans[0][0], self.spans[-1][1]
            while self.spans and (self.total > self.overlap or self.total + length > self.size):
                first = self.spans.popleft()
                self.total -= first[1] - first[0]
        self.spans.append(span)
        self.total += length

    def flush(self) -> Iterator[Span]:
        if self.spans:
            yield self.spans[0][0], self.spans[-1][1]
        self.spans.clear()
        self.total = 0


def _character_windows(start: int, end: int, size: int, overlap: int) -> Iterator[Span]:
    """What merging single characters gives, computed: windows of ``size`` advancing by ``size - overlap``."""
    step = size - overlap
    position = start
    while end - position > size:
        yield position, position + size
        position += step
    yield position, end


def _split(text: str, start: int, end: int, level: int, size: int, overlap: int) -> Iterator[tuple[Span, bool]]:
    """Passages of ``text[start:end]`` using separators from ``level`` on; True marks one to strip."""
    for index in range(level, len(_SEPARATORS)):
        separator = _SEPARATORS[index]
        if not separator or text.find(separator, start, end) >= 0:
            break
    if not separator:
        if size > 1:
            yield from ((window, True) for window in _character_windows(start, end, size, overlap))
        else:  # no character is shorter than the size: each is its own passage, unstripped, as langchain does
            yield from (((position, position + 1), False) for position in range(start, end))
        return
    merger = _Merger(size, overlap)
    for span in _cuts(text, start, end, separator):
        if span[1] - span[0] < size:
            yield from ((merged, True) for merged in merger.add(span))
        else:
            yield from ((merged, True) for merged in merger.flush())
            yield from _split(text, span[0], span[1], index + 1, size, overlap)
    yield from ((merged, True) for merged in merger.flush())


def passages(text: str, *, size: int = 900, overlap: int = 60) -> Iterator[Span]:
    """``(start, end)`` of each passage of ``text``, in order; ``text[start:end]`` is the passage."""
    overlap = min(overlap, size // 2)
    for (start, end), strip in _split(text, 0, len(text), 0, size, overlap):
        if strip:
            piece = text[start:end]
            stripped = piece.lstrip()
            start += len(piece) - len(stripped)
            end = start + len(stripped.rstrip())
        if end > start:
            yield start, end


@lru_cache(maxsize=8)
def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=min(overlap, size // 2),
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


def _segments(text: str) -> Iterator[Span]:
    """``text`` in pieces of at most ``_SEGMENT`` characters, cut after a paragraph, line or word break if there is one.

    The splitter holds one string per split, and text without spaces (Chinese, Japanese, a scraped blob) splits per
    character: an 18 MB article would take gigabytes. A segment at a time bounds that; an article shorter than a
    segment (any news article) is split exactly as a whole.
    """
    start = 0
    while len(text) - start > _SEGMENT:
        limit = start + _SEGMENT
        cut = max(text.rfind(separator, start + _SEGMENT // 2, limit) for separator in ("\n\n", "\n", " "))
        end = cut + 1 if cut > start else limit
        yield start, end
        start = end
    yield start, len(text)


def chunk_article(article: Article, *, size: int = 900, overlap: int = 60) -> list[Chunk]:
    """Split ``article.text`` so that ``article.text[c.start:c.end] == c.text`` for every chunk.

    LangChain's splitter produces the chunks. Their offsets come from :func:`passages`, which walks the same rules
    over offsets (a property test holds the two equal on arbitrary text); should they ever disagree, each chunk is
    found again in order instead (:func:`_locate`), so a stored chunk is always LangChain's, at an exact offset.
    """
    text = article.text
    chunks: list[Chunk] = []
    for first, last in _segments(text):
        segment = text[first:last]
        pieces = _splitter(size, overlap).split_text(segment)
        spans = list(passages(segment, size=size, overlap=overlap))
        if [segment[a:b] for a, b in spans] != pieces:
            logger.warning("passages of %s differ from the splitter's walk; locating the splitter's", article.id)
            spans = _locate(segment, pieces)
        for start, end in spans:
            ordinal = len(chunks)
            identity = chunk_id(article.id, ordinal, article.day)
            chunks.append(Chunk(identity, article.id, ordinal, first + start, first + end, segment[start:end]))
    return chunks


def _locate(text: str, pieces: list[str]) -> list[Span]:
    """Where each of the splitter's ``pieces`` is in ``text``, in order.

    Each piece starts after the previous one's start; taking the first such match never runs past the piece's true
    place (by induction), so no piece is lost even in repetitive text, and each span holds exactly its piece.
    """
    spans: list[Span] = []
    after = 0
    for piece in pieces:
        start = text.find(piece, after)
        if start < 0:  # impossible for a piece of the text; kept loud rather than storing a wrong offset
            raise ValueError(f"the splitter returned text that is not in the article: {piece[:60]!r}")
        spans.append((start, start + len(piece)))
        after = start + 1
    return spans


def embedding_text(title: str, chunk_text: str) -> str:
    """What the embedder sees: the title gives a passage the context its own sentences often lack."""
    return f"{title}\n{chunk_text}" if title else chunk_text

"""How a question and its passages become the model's input windows, and how logits become character spans.

Training (``bench/train_reader.py``) and reading (:mod:`.model`) both go through :func:`encode`, so the model
reads at run time exactly what it was trained on: the question first, then as much of the passage as fits,
in windows that overlap by ``stride`` tokens. Nothing here imports a model library; the tokenizer is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_ANSWER_TOKENS", "Span", "Windows", "best_span", "encode", "sentence_of_tokens"]

MAX_ANSWER_TOKENS = 30  # a direct answer longer than this is a sentence, not an answer
MAX_QUESTION_TOKENS = 64  # the rest of a longer question is dropped: the passage needs the room


@dataclass(frozen=True)
class Windows:
    """The token windows of (question, passage) pairs: ``passage[i]`` is the passage window ``i`` was cut from,
    and ``offsets[i][t]`` the (start, end) characters of token ``t`` in that passage, (-1, -1) outside it."""

    input_ids: np.ndarray  # (windows, tokens) int64
    attention_mask: np.ndarray
    passage: np.ndarray  # (windows,) int64
    offsets: np.ndarray  # (windows, tokens, 2) int64


@dataclass(frozen=True)
class Span:
    """The best answer span of one window: characters of its passage, and its score beside the window's no-answer
    score (the [CLS] position): ``margin`` > 0 when the model prefers this span to no answer at all."""

    passage: int
    start: int
    end: int
    score: float
    null_score: float

    @property
    def margin(self) -> float:
        return self.score - self.null_score


def encode(
    tokenizer: Any, question: str, passages: Sequence[str], *, max_length: int = 256, stride: int = 96
) -> Windows:
    """Tokenise ``question`` against each passage (``tokenizer`` is a ``tokenizers.Tokenizer``): a long passage
    becomes several windows overlapping by ``stride`` tokens, as Hugging Face's fast tokenizers cut them."""
    question, asked = _short_question(tokenizer, question)
    # The passage's share of a window is what the question leaves; the overlap must stay below it.
    stride = min(stride, max(0, (max_length - asked - 3) // 2))
    tokenizer.enable_truncation(max_length, stride=stride, strategy="only_second")
    tokenizer.no_padding()
    rows: list[Any] = []
    passage: list[int] = []
    for index, encoding in enumerate(tokenizer.encode_batch([(question, text) for text in passages])):
        for window in (encoding, *encoding.overflowing):
            rows.append(window)
            passage.append(index)
    width = max(len(row.ids) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    offsets = np.full((len(rows), width, 2), -1, dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, : len(row.ids)] = row.ids
        mask[r, : len(row.ids)] = 1
        for token, (part, span) in enumerate(zip(row.sequence_ids, row.offsets, strict=True)):
            if part == 1:
                offsets[r, token] = span
    return Windows(ids, mask, np.asarray(passage, dtype=np.int64), offsets)


def _short_question(tokenizer: Any, question: str) -> tuple[str, int]:
    """The question cut to :data:`MAX_QUESTION_TOKENS` tokens (a long one would leave no room for the passage), and
    its length in tokens."""
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the model file's own padding would count pad tokens as the question's
    tokens = tokenizer.encode(question, add_special_tokens=False)
    if len(tokens.ids) <= MAX_QUESTION_TOKENS:
        return question, len(tokens.ids)
    return question[: tokens.offsets[MAX_QUESTION_TOKENS - 1][1]], MAX_QUESTION_TOKENS


def sentence_of_tokens(offsets: np.ndarray, sentences: Sequence[tuple[int, int]]) -> np.ndarray:
    """Which sentence (index into ``sentences``, start-ordered) each token of a window starts in; -1 outside."""
    starts = np.asarray([start for start, _ in sentences] or [0], dtype=np.int64)
    found = np.searchsorted(starts, offsets[:, 0], side="right") - 1
    return np.where(offsets[:, 0] >= 0, np.maximum(found, 0), -1)


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray,
    passage: int,
    *,
    sentence: np.ndarray | None = None,
    top: int = 20,
) -> Span | None:
    """The highest-scoring well-formed span of one window (start ≤ end, inside the passage, at most
    :data:`MAX_ANSWER_TOKENS` tokens, and within one sentence when ``sentence`` numbers each token's sentence: an
    answer never runs on into the next sentence), or None when the window holds no passage token."""
    inside = offsets[:, 0] >= 0
    if not inside.any():
        return None
    null_score = float(start_logits[0] + end_logits[0])
    starts = np.where(inside, start_logits, -np.inf)
    ends = np.where(inside, end_logits, -np.inf)
    best: tuple[float, int, int] | None = None
    for s in np.argsort(-starts)[:top]:
        if not inside[s]:
            break
        window = ends[s : s + MAX_ANSWER_TOKENS]
        if sentence is not None:
            window = np.where(sentence[s : s + MAX_ANSWER_TOKENS] == sentence[s], window, -np.inf)
        e = s + int(np.argmax(window))
        score = float(starts[s] + ends[e])
        if best is None or score > best[0]:
            best = (score, int(s), e)
    assert best is not None
    score, s, e = best
    return Span(passage, int(offsets[s, 0]), int(offsets[e, 1]), score, null_score)

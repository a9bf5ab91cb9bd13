"""Test doubles shipped with the library, so users' tests (and ours) need no model: see :class:`HashingEmbedder`.

Choose it for a whole process (a CLI run, the chat page) with ``ASSISTANT_EMBEDDER=assistant.testing:HashingEmbedder``,
or pass an instance as ``embedder=`` to :func:`assistant.update_index`, :meth:`assistant.Retriever.open` or
:meth:`assistant.Assistant.open`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """A hashed bag of words: deterministic, instant, and close enough to meaning for plumbing tests.

    Each word adds one to a bucket chosen by its MD5; rows are L2-normalised (an empty text gets a unit vector).
    ``calls`` records every batch it embedded, which is how a test proves that unchanged articles are not
    embedded again. Its ``identity`` differs from any real model's, so an index it built refuses the real model.
    """

    name = "fake-hashing"
    identity = "fake-hashing@v1"
    dimension = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> int:
        """How many texts it has embedded in all."""
        return sum(len(batch) for batch in self.calls)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little") % self.dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

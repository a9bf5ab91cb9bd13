"""The test embedders beyond the library's own ``assistant.testing.HashingEmbedder``, all of them variants of it.

A test passes an instance as ``embedder=``; a child process (the CLI, a writer) gets one through the setting the
library reads, ``ASSISTANT_EMBEDDER=embedders:NAME`` (with tests/ on PYTHONPATH, as ``processes.child_env`` puts it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from assistant.testing import HashingEmbedder

__all__ = ["ForgetfulStrictEmbedder", "SlowEmbedder", "StrictEmbedder", "WideEmbedder"]


class StrictEmbedder(HashingEmbedder):
    """The hashing embedder, refusing what the real model's tokenizer refuses: text that is not valid Unicode.

    A lone surrogate reaching the packaged model raises TypeError in the tokenizer (a traceback from `assistant
    ask`, checked by hand); the hashing embedder alone would silently skip it as a non-word.
    """

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            text.encode("utf-8")
        return super().embed(texts)


class ForgetfulStrictEmbedder(StrictEmbedder):
    """The StrictEmbedder without its record of batches, for whole CLI runs whose peak memory a test measures.

    ``calls`` keeps every text embedded, which a real model does not: over a 50 MB build that record would be
    counted as the CLI's memory. Nothing in a child process reads it, so it is dropped after each batch.
    """

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = super().embed(texts)
        self.calls.clear()
        return vectors


class WideEmbedder(HashingEmbedder):
    """The hashing embedder with vectors so wide that vectors.faiss, not meta.sqlite, is most of a generation."""

    identity = "fake-hashing-wide@v1"
    dimension = 4096


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder's vectors, each batch after a pause, so that a kill lands while a writer works.

    The pause is ``SLOW_EMBEDDER_SECONDS`` (seconds, default 0.05): the factory behind ``ASSISTANT_EMBEDDER`` takes
    no arguments, so a test sets it in the child's environment.
    """

    def __init__(self) -> None:
        super().__init__()
        self.delay = float(os.environ.get("SLOW_EMBEDDER_SECONDS", "0.05"))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().embed(texts)

"""The sentence-transformers backend: the model run by PyTorch (the default)."""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .base import QUERY_TEXTS, weights_hash

__all__ = ["SentenceTransformerEmbedder"]

logger = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on CPU by default.

    Threads: torch's intra-op thread count is process-wide (and, with OpenMP, read by each calling thread), while a
    short input and a batch want different ones. A question (a few dozen tokens) gains nothing from a second core,
    and with every core in use each op waits at OpenMP's barrier for the slowest thread: when another process holds
    a core, a 20 ms query took 150-700 ms. A batch of passages (an index build) does gain from every core. So each
    call sets the count it needs, ``query_threads`` for a call of a few texts and the process's default (every
    core) for a batch, and puts it back afterwards, all inside the model lock every call already takes: no two
    calls run the model at once, so one never sees the other's setting, and a build running in the chat page's
    process keeps all cores for its batches while the questions asked meanwhile use one. Setting the count costs
    microseconds.
    """

    def __init__(
        self, name: str, folder: Path, *, device: str = "cpu", batch_size: int = 64, query_threads: int = 1
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelError("sentence-transformers is not installed: `pip install sentence-transformers`") from exc
        self.name = name
        self.folder = folder
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.identity = f"{name}@sha256:{weights_hash(folder)}"
        try:
            from transformers.utils import logging as transformers_logging

            # Loading bars would clutter stderr on every start; our own bars report the work that takes time.
            transformers_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
            pass
        try:
            self._model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load embedding model {name!r} from {folder}: {exc}") from exc
        dimension = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        self.dimension = int(dimension or 0)
        self.max_tokens = int(getattr(self._model, "max_seq_length", 0) or 0)
        # Torch modules are not safe to call from several threads at once (the UI serves concurrent chats).
        self._lock = threading.Lock()
        import torch

        self._batch_threads = torch.get_num_threads()

    def with_options(self, batch_size: int, query_threads: int) -> SentenceTransformerEmbedder:
        """The same loaded model (and lock) with another batch size and query threads: no second copy in memory."""
        twin = copy.copy(self)
        twin.batch_size = batch_size
        twin.query_threads = query_threads
        return twin

    def threads_for(self, count: int) -> int:
        """Torch threads for a call embedding ``count`` texts (see the class docstring)."""
        return self.query_threads if 0 < count <= QUERY_TEXTS and self.query_threads else self._batch_threads

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with self._lock:
            threads = self.threads_for(len(texts))
            before = torch.get_num_threads()
            if threads != before:
                torch.set_num_threads(threads)
            try:
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                if threads != before:
                    torch.set_num_threads(before)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.identity!r})"

"""The reader on PyTorch: the span model (:mod:`.network`) run in eager mode."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from .network import span_model

__all__ = ["TorchRunner"]


class TorchRunner:
    """Runs the span model on PyTorch with ``threads`` intra-op threads for the call."""

    def __init__(self, base: Path, tensors: dict[str, Any], threads: int) -> None:
        self._model = span_model(base, tensors)
        self.threads = threads
        self._lock = threading.Lock()  # torch modules are not safe to call from several threads at once

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with self._lock, torch.inference_mode():
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                return np.asarray(self._model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy())
            finally:
                torch.set_num_threads(before)

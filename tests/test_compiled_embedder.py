"""The openvino embedding backend: the packaged model compiled by OpenVINO gives the torch backend's vectors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_QUESTION

from assistant import ModelError, Retriever, Settings
from assistant.embed.base import packaged_model_path, resolve_model, weights_hash
from assistant.embed.factory import embedder_from_settings
from assistant.embed.openvino import CompiledEmbedder

TEXTS = [
    SEED_QUESTION,
    "Who won the 2022 World Cup?",
    "Alibaba, Tencent and Baidu raised their spending on artificial intelligence in early 2025. " * 40,  # > 256 tokens
    "La banque centrale a relevé ses taux d'intérêt de 0,5 point mercredi.",
    "«Quotes», dashes — and numbers: $1.2bn, 3.5%, 2025-01-31.",
    "x",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def compiled(cache: Path) -> CompiledEmbedder:
    name, folder = resolve_model(None)
    return CompiledEmbedder(name, folder, f"{name}@sha256:{weights_hash(folder)}", cache=cache, batch_size=4)


def test_the_compiled_model_gives_the_torch_vectors(compiled: CompiledEmbedder, real_embedder) -> None:
    ours, theirs = compiled.embed(TEXTS), real_embedder.embed(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape == (len(TEXTS), real_embedder.dimension)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(1).min() > 0.9999  # texts longer than the window are truncated alike
    assert compiled.identity == real_embedder.identity  # so an index is shared between the backends
    assert compiled.embed([]).shape == (0, real_embedder.dimension)


def test_a_question_runs_on_the_query_threads_and_a_batch_on_every_core(compiled: CompiledEmbedder) -> None:
    compiled.embed(["one short question"])
    compiled.embed(["a passage"] * 40)
    assert set(compiled._compiled) == {0, 1}
    assert int(compiled._compiled[1].get_property("INFERENCE_NUM_THREADS")) == 1


def test_the_conversion_is_cached(compiled: CompiledEmbedder, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openvino

    assert len(list((cache / "openvino").glob("*/model.xml"))) == 1
    assert not [p for p in (cache / "openvino").iterdir() if p.name.startswith(".tmp-")]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(openvino, "convert_model", refuse)
    again = CompiledEmbedder(compiled.name, packaged_model_path(), compiled.identity, cache=cache)
    assert np.allclose(again.embed(TEXTS[:2]), compiled.embed(TEXTS[:2]), atol=1e-6)


def test_search_with_the_openvino_backend_on_an_index_built_with_torch(
    seed_index: Path, real_embedder, cache: Path
) -> None:
    settings = Settings(progress=False, embed_backend="openvino", cache_dir=cache)
    embedder = embedder_from_settings(settings)
    assert isinstance(embedder, CompiledEmbedder)
    with (
        Retriever.open(seed_index, embedder=embedder, settings=settings) as ours,
        Retriever.open(seed_index, embedder=real_embedder, settings=settings) as theirs,
    ):
        found = ours.search(SEED_QUESTION, k=4, as_of="2025-06-01")
        expected = theirs.search(SEED_QUESTION, k=4, as_of="2025-06-01")
    assert [h.chunk_id for h in found] == [h.chunk_id for h in expected]
    assert np.allclose([h.dense or 0 for h in found], [h.dense or 0 for h in expected], atol=2e-3)


def test_without_openvino_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    name, folder = resolve_model(None)
    with pytest.raises(ModelError, match=r"pip install -e '\.\[openvino\]'"):
        CompiledEmbedder(name, folder, "x", cache=cache)


def test_a_model_that_does_not_mean_pool_is_refused(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "cls-model"
    shutil.copytree(packaged_model_path(), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps(config | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    with pytest.raises(ModelError, match=r"mean pooling.*ASSISTANT_EMBED_BACKEND=torch"):
        CompiledEmbedder("cls-model", folder, "x", cache=cache)
    with pytest.raises(ValueError, match="embed_backend"):
        Settings(embed_backend="onnx")  # type: ignore[arg-type]

"""The openvino embedding backend, the default: the packaged model compiled by OpenVINO gives the torch backend's
vectors, converts without printing the converter's noise, and gives way to torch when it cannot run."""

from __future__ import annotations

import json
import shutil
import subprocess
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


# -- the default, and torch when OpenVINO cannot run -------------------------------------------------------------


def test_openvino_is_the_default_backend(cache: Path) -> None:
    assert Settings().embed_backend == "openvino"
    embedder = embedder_from_settings(Settings(cache_dir=cache))
    assert isinstance(embedder, CompiledEmbedder)


def _torch_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenVINO not installed, and no compiled embedder left from another test."""
    import assistant.embed.factory as factory

    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setattr(factory, "_COMPILED", {})
    monkeypatch.setattr(factory, "_FELL_BACK", set())


def test_without_openvino_the_default_falls_back_to_torch_with_one_notice(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, real_embedder, cache: Path
) -> None:
    _torch_only(monkeypatch)
    with caplog.at_level("WARNING", logger="assistant.embed.factory"):
        first = embedder_from_settings(Settings(cache_dir=cache))
        second = embedder_from_settings(Settings(cache_dir=cache))
    assert not isinstance(first, CompiledEmbedder) and first.identity == second.identity == real_embedder.identity
    notices = [r.getMessage() for r in caplog.records if r.name == "assistant.embed.factory"]
    assert len(notices) == 1 and "embedding with torch" in notices[0] and "pip install" in notices[0], notices
    assert "\n" not in notices[0]


def test_openvino_asked_for_by_name_is_not_replaced(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    _torch_only(monkeypatch)
    monkeypatch.setenv("ASSISTANT_EMBED_BACKEND", "openvino")
    with pytest.raises(ModelError, match=r"pip install -e '\.\[openvino\]'"):
        embedder_from_settings(Settings(cache_dir=cache))


def test_torch_by_name_or_on_another_device_never_tries_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.embed.factory as factory

    seen: list[str] = []
    monkeypatch.setattr(factory, "load_embedder", lambda model, *, backend, **_: seen.append(backend))
    embedder_from_settings(Settings(embed_backend="torch"))
    embedder_from_settings(Settings(device="cuda"))  # a torch device: torch, unless openvino is asked for by name
    embedder_from_settings(Settings(device="cuda", embed_backend="openvino"))
    assert seen == ["torch", "torch", "openvino"]


def test_a_model_openvino_cannot_convert_runs_on_torch_by_default(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.embed.factory as factory

    monkeypatch.setattr(factory, "_FELL_BACK", set())
    folder = tmp_path / "cls-model"
    shutil.copytree(packaged_model_path(), folder)
    pooling = folder / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"word_embedding_dimension": 384, "pooling_mode_cls_token": True}))
    with caplog.at_level("WARNING", logger="assistant.embed.factory"):
        embedder = embedder_from_settings(Settings(model=str(folder), cache_dir=cache))
    assert not isinstance(embedder, CompiledEmbedder) and embedder.dimension == 384
    assert any("mean pooling" in r.getMessage() for r in caplog.records), caplog.text


def test_the_first_conversion_prints_only_its_one_line_notice(tmp_path: Path) -> None:
    """As a user meets it: a build with a cold cache shows no converter warnings, progress bars or library notes."""
    from processes import REPO, child_env

    run = subprocess.run(
        [sys.executable, "-m", "assistant", "index", "build", str(REPO / "corpus"), "--index", str(tmp_path / "i")],
        env=child_env(ASSISTANT_CACHE_DIR=str(tmp_path / "cold")),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert list((tmp_path / "cold" / "openvino").glob("*/model.xml"))  # it did convert, here
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "converting" in lines[0] and "(once)" in lines[0], run.stderr

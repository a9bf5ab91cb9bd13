"""Embedding backends for all-MiniLM-L6-v2 on this CPU: speed, agreement with PyTorch, and dense recall.

    python -m bench.embedding_backends --work DIR [--data ../shared/bench/realtimeqa] [--sample 2000] [--full]
                                       [--backends torch,onnx,onnx-int8,openvino,openvino-bf16,...]

PyTorch is sentence-transformers as the index uses it. The others run the same weights exported to ONNX
(``torch.onnx.export``) with the model's own tokenizer (``tokenizers``, 256 tokens), mean pooling and L2
normalisation, as sentence-transformers does: ONNX Runtime in fp32 and with int8 dynamic quantisation of the
weights (``onnxruntime.quantization.quantize_dynamic``), OpenVINO in fp32 as ``ASSISTANT_EMBED_BACKEND=openvino``
runs it (``assistant.embed.openvino``, converted from the PyTorch weights) and, from the ONNX graph, with a bf16
inference hint (this CPU has AVX512-BF16). The project installs ``openvino`` (extra ``[openvino]``, and the test
extra); ``onnxruntime``, ``onnx`` and ``nncf`` it does not: sentence-transformers' ``[onnx]`` extra pins other
versions of torch, transformers and sentence-transformers than the project's, so measure those with them on
``PYTHONPATH`` from a separate folder (``pip install --target DIR --no-deps onnxruntime onnx protobuf ml_dtypes
flatbuffers coloredlogs humanfriendly``, and for NNCF ``pip install --target DIR --no-deps nncf pydot ninja
tabulate``).
``openvino-int8-weights`` and ``openvino-int8`` are the default backend's converted model quantised by NNCF, its
weights alone or weights and activations (calibrated on 300 passages outside the sample); a backend whose package
is missing is printed as skipped.

Printed per backend: passages/s on ``--sample`` RealTime QA passages (batch 64, two threads), the cosine of its
vectors to PyTorch's (mean and worst), and with ``--full`` the dense-only recall@1/@10 of the gold article on
the 103 dev questions (every passage embedded by the backend, exact search among those published by the
question date): a backend that changes the vectors changes retrieval by about this much.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import REALTIMEQA, has_data, load_jsonl

MAX_TOKENS = 256


class Exported:
    """The model's transformer as an ONNX graph or OpenVINO model, with sentence-transformers' pooling."""

    def __init__(self, folder: Path, run: Any) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.run = run

    def embed(self, texts: list[str], batch: int = 64) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths together: less padding
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), batch):
            chosen = order[start : start + batch]
            encoded = self.tokenizer.encode_batch([texts[i] for i in chosen])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            types = np.zeros_like(ids)
            hidden = self.run(ids, mask, types)
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[chosen] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def export(folder: Path, path: Path) -> None:
    if path.exists():
        return
    import torch
    from transformers import AutoModel

    class Hidden(torch.nn.Module):
        """The transformer's last hidden states, from inputs given by position (as the exporter passes them)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(folder)).eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    model = Hidden().eval()
    example = (torch.ones(2, 16, dtype=torch.long),) * 2 + (torch.zeros(2, 16, dtype=torch.long),)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "hidden": axes},
            opset_version=17,
            dynamo=False,
        )


def backend(name: str, folder: Path, work: Path, calibration: list[str]) -> Any:
    if name == "torch":
        from assistant.embed.factory import load_embedder

        return load_embedder(None, batch_size=64)
    if name == "openvino":  # what the default backend runs
        from assistant.embed.base import PACKAGED_MODEL_NAME, weights_hash
        from assistant.embed.openvino import CompiledEmbedder

        identity = f"{PACKAGED_MODEL_NAME}@sha256:{weights_hash(folder)}"
        return CompiledEmbedder(PACKAGED_MODEL_NAME, folder, identity, cache=work / "cache", batch_size=64)
    if name in ("openvino-int8-weights", "openvino-int8"):
        return int8(name, folder, work, calibration)
    onnx_path = work / "minilm.onnx"
    export(folder, onnx_path)
    if name.startswith("onnx"):
        import onnxruntime as ort

        path = onnx_path
        if name == "onnx-int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            path = work / "minilm-int8.onnx"
            if not path.exists():
                quantize_dynamic(str(onnx_path), str(path), weight_type=QuantType.QInt8, per_channel=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run_ort(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            return np.asarray(session.run(["hidden"], feeds)[0])

        return Exported(folder, run_ort)
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": "2"}
    if name == "openvino-bf16":
        config["INFERENCE_PRECISION_HINT"] = "bf16"
    compiled = ov.Core().compile_model(str(onnx_path), "CPU", config)

    def run_ov(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        return np.asarray(compiled({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0])

    return Exported(folder, run_ov)


def int8(name: str, folder: Path, work: Path, calibration: list[str]) -> Any:
    """The default backend's converted model quantised by NNCF: its weights alone to int8
    (``nncf.compress_weights``), or weights and activations (``nncf.quantize``, transformer preset, calibrated on
    ``calibration``: passages outside the measured sample)."""
    import copy
    import threading

    import nncf

    from assistant.embed.openvino import _INPUTS, converted_model

    compiled = backend("openvino", folder, work, calibration)
    source = compiled._core.read_model(str(converted_model(folder, compiled.identity, work / "cache")))
    if name == "openvino-int8-weights":
        quantised = nncf.compress_weights(source)
    else:
        items = []
        for text in calibration:
            encoded = compiled._tokenizer.encode_batch([text])[0]
            ids, mask = np.array([encoded.ids]), np.array([encoded.attention_mask])
            items.append(dict(zip(_INPUTS, (ids, mask, np.zeros_like(ids)), strict=True)))
        quantised = nncf.quantize(
            source, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items)
        )
    variant = copy.copy(compiled)  # the same tokenizer, pooling and threads; another model compiled on first use
    variant._model, variant._compiled, variant._lock = quantised, {}, threading.Lock()
    return variant


def passages(data: Path) -> tuple[list[str], list[str], list[str | None]]:
    """Every passage of the corpus as the index embeds it: (texts, article ids, publication days)."""
    from assistant.indexing.chunking import chunk_article, embedding_text
    from assistant.ingest.loading import load_file

    articles, _ = load_file(data / "corpus.jsonl", data, max_bytes=1 << 30)
    texts, ids, days = [], [], []
    for article in articles:
        for chunk in chunk_article(article):
            texts.append(embedding_text(article.title, chunk.text))
            ids.append(article.id)
            days.append(article.day)
    return texts, ids, days


def dense_recall(vectors: np.ndarray, queries: np.ndarray, questions: list[dict[str, Any]], ids: list[str],
                 days: list[str | None]) -> dict[str, float]:  # fmt: skip
    """Dense-only recall@1/@10 and article MRR@10 of the gold article, and MRR@10 on the earlier and the later half
    of the questions by date (the weeks split in two: a backend must hold on both, not on average)."""
    ordinal = np.array([dt.date.fromisoformat(d).toordinal() if d else 0 for d in days])
    found: dict[int, list[bool]] = {1: [], 10: []}
    reciprocal: list[tuple[str, float]] = []
    for q, v in zip(questions, queries, strict=True):
        allowed = np.flatnonzero(ordinal <= dt.date.fromisoformat(q["question_date"]).toordinal())
        best = allowed[np.argsort(-(vectors[allowed] @ v), kind="stable")[:200]]
        ranked = list(dict.fromkeys(ids[i] for i in best))
        for k in found:
            found[k].append(bool(set(ranked[:k]) & set(q["evidence"])))
        rank = next((n for n, article in enumerate(ranked[:10], 1) if article in q["evidence"]), None)
        reciprocal.append((q["question_date"], 1 / rank if rank else 0.0))
    figures = {f"dense recall@{k}": statistics.fmean(v) for k, v in found.items()}
    figures["dense MRR@10"] = statistics.fmean(r for _, r in reciprocal)
    by_date = sorted(reciprocal)
    half = len(by_date) // 2
    figures["MRR@10 earlier weeks"] = statistics.fmean(r for _, r in by_date[:half])
    figures["MRR@10 later weeks"] = statistics.fmean(r for _, r in by_date[half:])
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--full", action="store_true", help="Embed every passage and measure dense recall.")
    parser.add_argument(
        "--backends", default="torch,onnx,onnx-int8,openvino,openvino-bf16,openvino-int8-weights,openvino-int8"
    )
    args = parser.parse_args(argv)
    if not has_data(args.data, REALTIMEQA):
        return 0
    from assistant.embed.base import packaged_model_path

    args.work.mkdir(parents=True, exist_ok=True)
    folder = packaged_model_path()
    texts, ids, days = passages(args.data)
    questions = load_jsonl(args.data / "queries_dev.jsonl")
    step = max(2, len(texts) // args.sample)
    sample = texts[::step][: args.sample]
    calibration = texts[1::step][:300]  # for the int8 variants: passages next to the sample's, none of them
    reference: np.ndarray | None = None
    print(
        "| backend | passages/s | cosine to PyTorch mean / worst | dense recall@1 | dense recall@10 | dense MRR@10 "
        "| MRR@10 earlier / later weeks |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.backends.split(","):
        try:
            model = backend(name, folder, args.work, calibration)
        except ImportError as exc:  # onnxruntime, nncf: measured from a folder on PYTHONPATH (see above)
            print(f"| {name} | skipped: {exc} | | | | | |", flush=True)
            continue
        model.embed(sample[:64])  # warm up
        started = time.perf_counter()
        vectors = model.embed(sample)
        rate = len(sample) / (time.perf_counter() - started)
        if reference is None:
            reference = vectors
        cosine = (vectors * reference).sum(1)
        nan = float("nan")
        recall = dict.fromkeys(
            ("dense recall@1", "dense recall@10", "dense MRR@10", "MRR@10 earlier weeks", "MRR@10 later weeks"), nan
        )
        if args.full:
            cache = args.work / f"passages-{name}.npy"
            if not cache.exists():
                np.save(cache, model.embed(texts))
            queries = model.embed([q["question"] for q in questions])
            recall = dense_recall(np.load(cache), queries, questions, ids, days)
        print(
            f"| {name} | {rate:.0f} | {cosine.mean():.4f} / {cosine.min():.4f} | {recall['dense recall@1']:.3f} | "
            f"{recall['dense recall@10']:.3f} | {recall['dense MRR@10']:.4f} | "
            f"{recall['MRR@10 earlier weeks']:.4f} / {recall['MRR@10 later weeks']:.4f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

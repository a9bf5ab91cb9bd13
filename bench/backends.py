"""Milvus Lite vs the local index on RealTime QA dev: build cost, disk, retrieval quality and latency, side by side.

    ASSISTANT_EMBED_BACKEND=openvino python -m bench.backends [--data ../shared/bench/realtimeqa] [--work DIR]
                                                              [--limit N] [--save figures.json]

Both indexes hold the same corpus, embedded by the model the settings choose (``ASSISTANT_EMBED_BACKEND`` as the
library reads it; ``openvino`` embeds about 2.6x faster than ``torch`` and every figure but the embedding time is the
same). Embedding is most of a build and identical for both backends, so it is done once: the local index is built
with the model behind a recording embedder, then Milvus Lite (``milvus-lite:PATH``) with an embedder that hands back
the recorded vectors. Printed per backend: the shared embedding time, the store-write time (the local build's time
minus its embedding; Milvus Lite's whole build, which embeds nothing), the disk size of each index, Recall@1/@10 and
MRR@10 of the gold article on the 103 dev questions asked as of their ``question_date`` (through the same
``Retriever.search``), and search and ``Assistant.ask`` (extractive) latency p50/p95, query embedding included, each
warmed up first; then the ratio Milvus Lite / local.

``--work`` keeps both indexes (its ``local`` and ``milvus-lite`` folders are rebuilt from scratch on each run, so the
disk sizes hold one generation); by default they go to a temporary folder. ``--limit N`` indexes the first N articles
only, for a quick check: questions whose gold article is left out then count as misses for both backends.
Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import (
    REALTIMEQA,
    TOP,
    add_save_option,
    article_metrics,
    distinct,
    fmt,
    gold_sets,
    has_data,
    load_jsonl,
    percentile,
    save_figures,
)

# Passages asked of each search, then reduced to distinct articles: as bench.retrieval_realtimeqa asks, so the
# figures compare with its.
PASSAGES = 40
BACKENDS = ("local", "milvus-lite")


class RecordingEmbedder:
    """The real embedder, keeping every text's vector and the seconds spent embedding."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.name: str = real.name
        self.identity: str = real.identity
        self.dimension: int = real.dimension
        self.vectors: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = self.real.embed(texts)
        self.seconds += time.perf_counter() - started
        self.vectors.update(zip(texts, vectors, strict=True))
        return vectors


class ReplayingEmbedder:
    """Hands back the vectors a :class:`RecordingEmbedder` kept, under the same model identity.

    A text it was never shown is an error rather than a call to the model: the second build must embed nothing, or
    its store-write time would hide embedding.
    """

    def __init__(self, recorded: RecordingEmbedder) -> None:
        self.name = recorded.name
        self.identity = recorded.identity
        self.dimension = recorded.dimension
        self._vectors = recorded.vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = sum(text not in self._vectors for text in texts)
        if missing:
            raise RuntimeError(f"{missing} of {len(texts)} texts were not embedded by the first build")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[text] for text in texts]).astype(np.float32, copy=False)


def corpus_file(data: Path, work: Path, limit: int | None) -> Path:
    """The corpus to index: the whole file, or a copy of its first ``limit`` articles."""
    source = data / "corpus.jsonl"
    if limit is None:
        return source
    target = work / f"corpus-first-{limit}.jsonl"
    with source.open(encoding="utf-8") as reading, target.open("w", encoding="utf-8") as writing:
        kept = 0
        for line in reading:
            if kept == limit:
                break
            if line.strip():
                writing.write(line)
                kept += 1
    return target


def build(corpus: Path, location: str | Path, embedder: Any, settings: Any, label: str) -> tuple[float, Any]:
    from assistant import build_index

    print(f"{label}: building {location}", file=sys.stderr)
    started = time.perf_counter()
    summary = build_index([corpus], location, embedder=embedder, settings=settings)
    seconds = time.perf_counter() - started
    print(f"{label}: {summary.articles} articles, {summary.chunks} chunks in {seconds:.1f}s", file=sys.stderr)
    return seconds, summary


def measure(location: str | Path, embedder: Any, settings: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Ranked distinct articles and search latencies, then ask latencies, over ``questions`` on one index."""
    from assistant import Assistant, Retriever

    ranked, search, returned = [], [], []
    with Retriever.open(location, embedder=embedder, settings=settings) as retriever:
        retriever.search(questions[0]["question"], PASSAGES, as_of=questions[0]["question_date"])  # warm up
        for q in questions:
            started = time.perf_counter()
            hits = retriever.search(q["question"], PASSAGES, as_of=q["question_date"])
            search.append(time.perf_counter() - started)
            ranked.append(distinct([h.article_id for h in hits]))
            returned.append(len(hits))
    ask = []
    with Assistant.open(location, answerer="extractive", embedder=embedder, settings=settings) as assistant:
        assistant.ask(questions[0]["question"], as_of=questions[0]["question_date"])  # warm up
        for q in questions:
            started = time.perf_counter()
            assistant.ask(q["question"], as_of=q["question_date"])
            ask.append(time.perf_counter() - started)
    return {"ranked": ranked, "search": search, "ask": ask, "returned": returned}


def run(data: Path, work: Path, limit: int | None) -> dict[str, Any]:
    from assistant.embed.factory import embedder_from_settings
    from assistant.index.location import disk_usage
    from assistant.settings import get_settings

    # The machine may be shared: the load beside the timings says how far to trust them.
    load_before = os.getloadavg()[0]
    settings = get_settings(progress=False)
    real = embedder_from_settings(settings)
    corpus = corpus_file(data, work, limit)
    folders = {"local": work / "local", "milvus-lite": work / "milvus-lite"}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)  # a fresh index each run: the disk size is one generation's
    locations: dict[str, str | Path] = {
        "local": folders["local"],
        "milvus-lite": f"milvus-lite:{folders['milvus-lite']}",
    }

    recorder = RecordingEmbedder(real)
    local_seconds, local_summary = build(corpus, locations["local"], recorder, settings, "local")
    milvus_seconds, milvus_summary = build(
        corpus, locations["milvus-lite"], ReplayingEmbedder(recorder), settings, "milvus-lite"
    )
    figures: dict[str, Any] = {
        "embed_backend": settings.embed_backend,
        "model": real.identity,
        "articles": {"local": local_summary.articles, "milvus-lite": milvus_summary.articles},
        "chunks": {"local": local_summary.chunks, "milvus-lite": milvus_summary.chunks},
        "embedding_s": recorder.seconds,
        "store_write_s": {"local": local_seconds - recorder.seconds, "milvus-lite": milvus_seconds},
        "disk_mb": {name: disk_usage(folder) / 1e6 for name, folder in folders.items()},
    }

    questions = load_jsonl(data / "queries_dev.jsonl")
    gold = gold_sets(data, questions)
    measured: dict[str, dict[str, Any]] = {}
    for name in BACKENDS:
        print(f"{name}: asking {len(questions)} questions", file=sys.stderr)
        measured[name] = measure(locations[name], real, settings, questions)
    figures["questions"] = len(questions)
    for name, result in measured.items():
        metrics = article_metrics(result["ranked"], gold)
        figures[name] = {
            "passages_returned": statistics.fmean(result["returned"]),
            "recall@1": metrics["recall@1"],
            "recall@10": metrics["recall@10"],
            "mrr@10": metrics["mrr@10"],
            "search_p50_ms": 1000 * statistics.median(result["search"]),
            "search_p95_ms": 1000 * percentile(result["search"], 0.95),
            "ask_p50_ms": 1000 * statistics.median(result["ask"]),
            "ask_p95_ms": 1000 * percentile(result["ask"], 0.95),
        }
    figures["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    local_ranked, milvus_ranked = measured["local"]["ranked"], measured["milvus-lite"]["ranked"]
    returned = zip(measured["local"]["returned"], measured["milvus-lite"]["returned"], strict=True)
    # Where the rankings part, with how many passages each search gave back: the first thing to look at.
    figures["top_differs"] = [
        {"id": q["id"], "passages": list(counts), "gold": sorted(g), "local": a[:TOP], "milvus-lite": b[:TOP]}
        for q, g, a, b, counts in zip(questions, gold, local_ranked, milvus_ranked, returned, strict=True)
        if a[:TOP] != b[:TOP]
    ]
    return figures


def ratio(milvus: float | None, local: float | None) -> float | None:
    return milvus / local if milvus is not None and local else None


def table(figures: dict[str, Any]) -> str:
    rows: list[tuple[str, float | None, float | None, bool]] = [
        ("embedding s (shared)", figures["embedding_s"], figures["embedding_s"], False),
        ("store write s", figures["store_write_s"]["local"], figures["store_write_s"]["milvus-lite"], True),
        ("disk MB", figures["disk_mb"]["local"], figures["disk_mb"]["milvus-lite"], True),
    ]
    for key, label in (
        ("passages_returned", f"passages per search (mean, {PASSAGES} asked)"),
        ("recall@1", "Recall@1"),
        ("recall@10", "Recall@10"),
        ("mrr@10", "MRR@10"),
        ("search_p50_ms", "search p50 ms"),
        ("search_p95_ms", "search p95 ms"),
        ("ask_p50_ms", "ask p50 ms"),
        ("ask_p95_ms", "ask p95 ms"),
    ):
        rows.append((label, figures["local"][key], figures["milvus-lite"][key], True))
    lines = [
        f"RealTime QA dev: {figures['questions']} questions as of question_date, over {figures['articles']['local']} "
        f"articles ({figures['chunks']['local']} passages local, {figures['chunks']['milvus-lite']} Milvus Lite); "
        f"embedding: {figures['embed_backend']}; load average (1 min) {figures['load_average_1min']['start']:.1f} at "
        f"the start, {figures['load_average_1min']['end']:.1f} at the end on {os.cpu_count()} CPUs",
        "| figure | local | Milvus Lite | Milvus Lite / local |",
        "|---|---|---|---|",
    ]
    for label, local, milvus, compared in rows:
        lines.append(f"| {label} | {fmt(local)} | {fmt(milvus)} | {fmt(ratio(milvus, local)) if compared else '-'} |")
    lines.append(f"questions whose top-10 distinct articles differ between the backends: {len(figures['top_differs'])}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--work", type=Path, help="Build (and keep) both indexes here; default a temporary folder.")
    parser.add_argument("--limit", type=int, help="Index only the first N corpus articles (a quick run).")
    add_save_option(parser)
    args = parser.parse_args(argv)
    if not has_data(args.data, REALTIMEQA):
        return 0
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            figures = run(args.data, work, args.limit)
        finally:
            # Milvus Lite serves from threads of this process: stop them all, whatever failed, before its folder goes.
            with contextlib.suppress(ImportError):
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_all()
    print(table(figures))
    save_figures(args.save, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

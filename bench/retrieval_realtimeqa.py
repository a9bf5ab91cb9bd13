"""Retrieval benchmark on RealTime QA (dev): this project's index and retriever against the LangChain pipeline.

    python -m bench.retrieval_realtimeqa [--data ../shared/bench/realtimeqa] [--only ours|langchain]

Each pipeline runs in its own subprocess (so peak RSS is its own): it ingests all 1,663 articles, then answers the
103 dev questions asked as of their ``question_date``. Printed per pipeline: article-level Recall@1/5/10 and MRR@10,
ingest throughput (articles/s, MB of text/s), peak RSS, and search latency p50/p95 (query embedding included);
then the ratios ours / LangChain. Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    REALTIMEQA,
    REPO,
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


def run_ours(data: Path, work: Path, reuse: Path | None) -> dict[str, Any]:
    from assistant import Retriever, build_index
    from assistant.embed.factory import embedder_from_settings
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    embedder = embedder_from_settings(settings)  # ASSISTANT_EMBED_BACKEND=openvino measures that backend
    index = reuse or work / "index"
    ingest_seconds = None
    if reuse is None or not (reuse / "CURRENT").exists():
        started = time.perf_counter()
        summary = build_index([data / "corpus.jsonl"], index, embedder=embedder, settings=settings)
        ingest_seconds = time.perf_counter() - started
        print(f"ours: {summary.articles} articles, {summary.chunks} chunks in {ingest_seconds:.0f}s", file=sys.stderr)
    questions = load_jsonl(data / "queries_dev.jsonl")
    result: dict[str, Any] = {"ingest_seconds": ingest_seconds, "variants": {}}
    # The full hybrid first (timed), then each half alone on the same index: the hybrid has to beat both.
    for name, overrides in (
        ("ours", {}),
        ("ours: dense only", {"bm25_weight": 0}),
        ("ours: BM25 only", {"dense_weight": 0}),
        ("ours: no recency prior", {"recency_half_life_days": 0}),
    ):
        retriever = Retriever.open(index, embedder=embedder, settings=get_settings(progress=False, **overrides))
        retriever.search("warm up", 5)
        ranked, latencies = [], []
        for q in questions:
            started = time.perf_counter()
            hits = retriever.search(q["question"], 40, as_of=q["question_date"])
            latencies.append(time.perf_counter() - started)
            ranked.append(distinct([h.article_id for h in hits]))
        retriever.close()
        if name == "ours":
            result.update(ranked=ranked, latencies=latencies)
        else:
            result["variants"][name] = ranked
    return result


def run_langchain(data: Path) -> dict[str, Any]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.embed.base import packaged_model_path

    records = load_jsonl(data / "corpus.jsonl")
    embeddings = HuggingFaceEmbeddings(model_name=str(packaged_model_path()), model_kwargs={"device": "cpu"})
    started = time.perf_counter()
    docs = [Document(page_content=r["text"], metadata={"id": r["id"], "title": r["title"]}) for r in records]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = FAISS.from_documents(chunks, embeddings)
    ingest_seconds = time.perf_counter() - started
    print(f"langchain: {len(chunks)} chunks in {ingest_seconds:.0f}s", file=sys.stderr)
    questions = load_jsonl(data / "queries_dev.jsonl")
    store.similarity_search("warm up", k=5)
    ranked, latencies = [], []
    for q in questions:
        started = time.perf_counter()
        found = store.similarity_search(q["question"], k=50)
        latencies.append(time.perf_counter() - started)
        ranked.append(distinct([d.metadata["id"] for d in found]))
    return {"ranked": ranked, "latencies": latencies, "ingest_seconds": ingest_seconds}


def worker(name: str, data: Path, out: Path, reuse: Path | None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp:
        result = run_ours(data, Path(tmp), reuse) if name == "ours" else run_langchain(data)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result), encoding="utf-8")


def summarise(result: dict[str, Any], data: Path) -> dict[str, Any]:
    records = load_jsonl(data / "corpus.jsonl")
    questions = load_jsonl(data / "queries_dev.jsonl")
    megabytes = sum(len((r["title"] + "\n" + r["text"]).encode()) for r in records) / 1e6
    row: dict[str, Any] = dict(article_metrics(result["ranked"], gold_sets(data, questions)))
    seconds = result["ingest_seconds"]
    row["articles/s"] = len(records) / seconds if seconds else None
    row["MB/s"] = megabytes / seconds if seconds else None
    row["ingest s"] = seconds
    row["peak RSS MB"] = result["peak_rss_mb"]
    row["p50 ms"] = 1000 * statistics.median(result["latencies"])
    row["p95 ms"] = 1000 * percentile(result["latencies"], 0.95)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--only", choices=["ours", "langchain"])
    parser.add_argument("--reuse-index", type=Path, help="Evaluate (and keep) our index here; skips re-ingest.")
    add_save_option(parser)
    parser.add_argument("--worker", choices=["ours", "langchain"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not has_data(args.data, REALTIMEQA):
        return 0
    if args.worker:
        worker(args.worker, args.data, args.out, args.reuse_index)
        return 0
    rows: dict[str, dict[str, Any]] = {}
    for name in [args.only] if args.only else ["ours", "langchain"]:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            # Run from the repository, so that `-m` imports its bench and assistant: paths made absolute first.
            command = [sys.executable, "-m", "bench.retrieval_realtimeqa", "--worker", name, "--out", out.name]
            command += ["--data", str(args.data.resolve())]
            if args.reuse_index and name == "ours":
                command += ["--reuse-index", str(args.reuse_index.resolve())]
            subprocess.run(command, check=True, cwd=REPO)
            result = json.loads(Path(out.name).read_text())
            rows[name] = summarise(result, args.data)
            gold = gold_sets(args.data, load_jsonl(args.data / "queries_dev.jsonl"))
            for variant, ranked in result.get("variants", {}).items():
                rows[variant] = article_metrics(ranked, gold)
    columns = list(rows[next(iter(rows))])
    print(f"RealTime QA dev: {len(load_jsonl(args.data / 'queries_dev.jsonl'))} questions, as_of = question_date")
    print("| pipeline | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(fmt(row.get(c)) for c in columns) + " |")
    if "ours" in rows and "langchain" in rows:
        ratios = {
            c: (rows["ours"][c] / rows["langchain"][c]) if rows["ours"][c] and rows["langchain"][c] else None
            for c in columns
        }
        print("| ours / langchain | " + " | ".join(fmt(ratios[c]) for c in columns) + " |")
    save_figures(args.save, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

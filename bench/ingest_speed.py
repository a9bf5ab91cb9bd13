"""Ingest speed and question latency of the default embedder (OpenVINO) against torch and the LangChain pipeline.

    python -m bench.ingest_speed [--data ../shared/bench/realtimeqa] [--limit 300] [--questions 5] [--save F]

In one run, each in a process of its own and one after the other: this project with its default settings (the
OpenVINO backend), the same with ``ASSISTANT_EMBED_BACKEND=torch``, and LangChain's pipeline with the same model
(``RecursiveCharacterTextSplitter`` → ``HuggingFaceEmbeddings`` → ``FAISS.from_documents``) build the first
``--limit`` articles of RealTime QA's corpus. Printed: seconds, articles/s and passages/s, and the ratios to LangChain.
Then, on each backend's index: ``Retriever.open`` (a fresh process: model load included) and the wall time of
``assistant ask`` as a user runs it (the whole command, Python's start included), median of ``--questions`` dev
questions. The model's one-time OpenVINO conversion is done (and timed) before anything is measured. The load
average is printed: compare figures of one run only. Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import REALTIMEQA, REPO, add_save_option, fmt, has_data, load_jsonl, save_figures, write_jsonl

BACKENDS = ("openvino", "torch")


def build_ours(corpus: Path, index: Path) -> dict[str, Any]:
    """Our build of ``corpus`` with the settings of the environment (the backend chosen by the parent)."""
    from assistant import build_index
    from assistant.embed.factory import embedder_from_settings
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    embedder = embedder_from_settings(settings)  # loaded before the clock starts, as LangChain's model is
    started = time.perf_counter()
    summary = build_index([corpus], index, embedder=embedder, settings=settings)
    return {"seconds": time.perf_counter() - started, "articles": summary.articles, "passages": summary.chunks}


def build_langchain(corpus: Path) -> dict[str, Any]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.embed.base import packaged_model_path

    records = load_jsonl(corpus)
    embeddings = HuggingFaceEmbeddings(model_name=str(packaged_model_path()), model_kwargs={"device": "cpu"})
    started = time.perf_counter()
    docs = [Document(page_content=r["text"], metadata={"id": r["id"], "title": r["title"]}) for r in records]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    FAISS.from_documents(chunks, embeddings)
    return {"seconds": time.perf_counter() - started, "articles": len(records), "passages": len(chunks)}


def open_retriever(index: Path) -> dict[str, Any]:
    from assistant import Retriever

    started = time.perf_counter()
    with Retriever.open(index) as retriever:
        opened = time.perf_counter() - started
        retriever.search("warm up", 5)
    return {"seconds": opened}


def worker(task: str, corpus: Path, index: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if task == "ours":
        result = build_ours(corpus, index)
    elif task == "langchain":
        result = build_langchain(corpus)
    else:
        result = open_retriever(index)
    out.write_text(json.dumps(result), encoding="utf-8")


def in_child(task: str, corpus: Path, index: Path, backend: str | None = None) -> dict[str, Any]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ASSISTANT_PROGRESS="false")
    env.pop("ASSISTANT_EMBED_BACKEND", None)  # the default, unless a backend is named
    if backend == "torch":
        env["ASSISTANT_EMBED_BACKEND"] = "torch"
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, "-m", "bench.ingest_speed", "--worker", task, "--out", out.name]
        subprocess.run([*command, "--corpus", str(corpus), "--index", str(index)], check=True, cwd=REPO, env=env)
        return json.loads(Path(out.name).read_text())


def ask_wall(index: Path, question: str, backend: str) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", ASSISTANT_PROGRESS="false", ASSISTANT_INDEX_DIR=str(index))
    env.pop("ASSISTANT_EMBED_BACKEND", None)
    if backend == "torch":
        env["ASSISTANT_EMBED_BACKEND"] = "torch"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assistant", "ask", question], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def convert_once() -> float:
    """The default backend's one-time conversion, done before the clocks (0 when it is already cached)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from assistant.embed.factory import load_embedder; load_embedder(backend='openvino')"],
        check=True,
        cwd=REPO,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    return time.perf_counter() - started


def measure(data: Path, limit: int, asked: int, work: Path) -> dict[str, Any]:
    corpus = work / "corpus.jsonl"
    write_jsonl(corpus, load_jsonl(data / "corpus.jsonl")[:limit])
    questions = [q["question"] for q in load_jsonl(data / "queries_dev.jsonl")[:asked]]
    figures: dict[str, Any] = {"load_average_1min": {"start": os.getloadavg()[0]}, "cpus": os.cpu_count()}
    figures["conversion_seconds"] = convert_once()
    builds: dict[str, dict[str, Any]] = {}
    for backend in BACKENDS:
        builds[f"ours ({backend})"] = in_child("ours", corpus, work / backend, backend)
    builds["langchain"] = in_child("langchain", corpus, work / "unused")
    figures["builds"] = builds
    figures["questions"] = {
        backend: {
            "open_seconds": in_child("open", corpus, work / backend, backend)["seconds"],
            "ask_wall_seconds": [ask_wall(work / backend, q, backend) for q in questions],
        }
        for backend in BACKENDS
    }
    figures["load_average_1min"]["end"] = os.getloadavg()[0]
    return figures


def report(figures: dict[str, Any], limit: int) -> None:
    builds = figures["builds"]
    peer = builds["langchain"]
    print(f"Ingest of the first {limit} RealTime QA articles (one process each, one after the other)")
    print("| pipeline | seconds | articles/s | passages | passages/s | articles/s ÷ LangChain's |")
    print("|---|---|---|---|---|---|")
    for name, row in builds.items():
        rate = row["articles"] / row["seconds"]
        ratio = rate / (peer["articles"] / peer["seconds"])
        cells = [row["seconds"], rate, row["passages"], row["passages"] / row["seconds"], ratio]
        print(f"| {name} | " + " | ".join(fmt(c) for c in cells) + " |")
    print("\n| backend | Retriever.open s | assistant ask wall s (median) | min | max |")
    print("|---|---|---|---|---|")
    for backend, row in figures["questions"].items():
        walls = row["ask_wall_seconds"]
        cells = [row["open_seconds"], statistics.median(walls), min(walls), max(walls)]
        print(f"| {backend} | " + " | ".join(fmt(c) for c in cells) + " |")
    load = figures["load_average_1min"]
    print(
        f"\nOpenVINO conversion before the run: {figures['conversion_seconds']:.1f} s (0 when cached); load average "
        f"(1 min) {load['start']:.1f} at the start, {load['end']:.1f} at the end on {figures['cpus']} CPUs"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--limit", type=int, default=300, help="Articles to build (the corpus's first ones).")
    parser.add_argument("--questions", type=int, default=5, help="Dev questions asked through `assistant ask`.")
    parser.add_argument("--work", type=Path, help="Keep the indexes here (default: a temporary folder).")
    add_save_option(parser)
    parser.add_argument("--worker", choices=["ours", "langchain", "open"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.corpus, args.index, args.out)
        return 0
    if args.limit < 1 or args.questions < 1:
        parser.error("--limit and --questions must be at least 1")
    if not has_data(args.data, REALTIMEQA):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        figures = measure(args.data.resolve(), args.limit, args.questions, work.resolve())
    report(figures, args.limit)
    save_figures(args.save, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())

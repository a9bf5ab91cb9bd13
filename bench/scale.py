"""Scale benchmark: the index at 50k, 200k and 1M passages of real news text, beside the previous design.

    python -m bench.scale --work DIR [--sizes 50000,200000,1000000] [--data ../shared/bench/realtimeqa]
                          [--hogs 1] [--old-src DIR --old-max 200000] [--lexical-compare] [--save FILE]

The corpus is RealTime QA's 1,663 articles (about 21k passages) replicated until it holds the wanted number of
passages: copy ``c`` of an article gets the id ``ID~c``, a date ``c`` weeks earlier, and the word ``(copy c)`` added
to its title. Vectors are the real model's (all-MiniLM-L6-v2), computed once per unique passage and cached in the
work folder (``vectors.npy``; about 15 minutes on 2 cores the first time); a copy's passage gets its original's
vector plus seeded Gaussian noise (sigma 0.01 per dimension, about cosine 0.98), renormalised. The dev questions'
vectors are the model's too. So a build measures the store, not the model: the replay embedder costs microseconds.

Each measurement runs in a process of its own (fresh memory, nothing cached in the process): the build (passages/s
without the model; merges off, so it times publication), the policy merges after it, opening (time to open, then
to check every segment's checksums), resident memory after open and after the searches, search latency (hybrid,
k = 10, the 103 dev questions as of their question date and again with a 30-day date window; idle, then with
``--hogs`` busy processes), ANN recall@10 against exact search under the same filters, BM25-only recall of the gold
article (a copy of it counts), adding one article and removing one (seconds and bytes written, from
/proc/self/io), and a full merge (`index optimize`). With ``--old-src`` (an export of the previous design, e.g.
``git archive f4ddcfb``), the same is measured for it up to ``--old-max`` passages. Prints a table, writes it to
``--table`` (default bench/scale.md) and the figures to ``--save``. Skips cleanly without the data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import BENCH, REALTIMEQA, REPO, add_save_option, has_data, load_jsonl, percentile, save_figures
from bench.scale_corpus import Replay, query_vectors, real_vectors, write_corpus


# -- workers (each in a process of its own) ------------------------------------------------------------------------
def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory: all of it (VmRSS), the process's own (RssAnon), or mapped file pages (RssFile: the
    segments' pages in the page cache, which the kernel takes back under pressure)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def written() -> int:
    """Bytes this process has passed to write() so far (SQLite's pwrites, segment files, FAISS files)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 and the mean of timings in seconds, in ms."""
    at = {f"p{round(100 * q)}": 1000 * percentile(values, q) for q in (0.5, 0.95, 0.99)}
    return at | {"mean": 1000 * statistics.fmean(values)}


def worker(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    import importlib.util

    from assistant import build_index, get_settings, remove_articles, update_index
    from assistant.index.local.reader import IndexReader

    # The segmented store, or the previous one.
    new = importlib.util.find_spec("assistant.index.local.segments") is not None
    replay = Replay(args.work)
    index = Path(args.index)
    extra = {"merge_after_write": False} if new else {}
    settings = get_settings(progress=False, **extra)
    result: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    if kind == "build":
        started = time.perf_counter()
        inputs = [args.corpus / f"copy-{c:04d}.jsonl" for c in range(args.copies - 1)]
        inputs.append(args.corpus / (f"copy-{args.copies - 1:04d}-{args.last}.jsonl" if args.last else
                                     f"copy-{args.copies - 1:04d}.jsonl"))  # fmt: skip
        summary = build_index(inputs, index, embedder=replay, settings=settings)
        seconds = time.perf_counter() - started
        result.update(
            seconds=seconds,
            passages=summary.chunks,
            articles=summary.articles,
            embed_seconds=replay.seconds,
            passages_per_s=summary.chunks / seconds,
            non_model_passages_per_s=summary.chunks / max(1e-9, seconds - replay.seconds),
        )
    elif kind in ("merge", "optimize"):
        from assistant.index.local.writer import IndexWriter

        started = time.perf_counter()
        with IndexWriter(index, model=None, chunker=None, settings=get_settings(progress=False)) as writer:
            result["merges"] = writer.merge(full=kind == "optimize")
            result["segments"] = len(writer.segments)
        result["seconds"] = time.perf_counter() - started
    elif kind in ("add", "remove"):
        stamp = time.time_ns()
        before, started = written(), time.perf_counter()
        if kind == "add":
            path = Path(args.work) / f"added-{stamp}.json"
            text = " ".join(
                f"Sentence {n} of the added story about harbour ledgers and comet {stamp}." for n in range(40)
            )
            path.write_text(json.dumps({"id": f"added-{stamp}", "title": f"Added {stamp}", "text": text,
                                        "date": dt.date.today().isoformat(), "source": "bench"}))  # fmt: skip
            summary = update_index([path], index, prune=False, embedder=replay, settings=settings)
            result["article_bytes"] = path.stat().st_size
        else:
            reader = IndexReader.open(index, verify=False)
            victim = reader.query("SELECT id FROM articles ORDER BY id LIMIT 1 OFFSET 7")[0][0]
            reader.close()
            summary = remove_articles([victim], index, settings=settings)
        result.update(seconds=time.perf_counter() - started, bytes=written() - before, passages=summary.chunks)
    elif kind == "search":
        result.update(measure(index, replay, args, new))
    result["load_after"] = os.getloadavg()[0]
    return result


def measure(index: Path, replay: Replay, args: argparse.Namespace, new: bool) -> dict[str, Any]:
    from assistant import Retriever, get_settings
    from assistant.index.local.reader import IndexReader

    data = Path(args.data)
    questions = load_jsonl(data / "queries_dev.jsonl")
    vectors = np.load(Path(args.work) / "questions.npy")
    out: dict[str, Any] = {"rss_start_mb": rss_mb()}
    started = time.perf_counter()
    reader = IndexReader.open(index)
    out["open_s"] = time.perf_counter() - started
    out["rss_open_mb"] = rss_mb()
    if new:
        started = time.perf_counter()
        reader.verify()
        out["verify_s"] = time.perf_counter() - started
    settings = get_settings(progress=False)
    retriever = Retriever(reader, replay, settings, index)
    windows = {}
    for q in questions:
        day = dt.date.fromisoformat(q["question_date"])
        windows[q["id"]] = ((day - dt.timedelta(days=30)).isoformat(), day.isoformat())
    # The first pass reads the segments' pages from disk (or the page cache) into this process: timed apart as
    # "cold"; the passes after it are the steady state.
    timings: dict[str, list[float]] = {"cold_as_of": [], "cold_window": [], "as_of": [], "window": []}
    for repeat in range(args.repeats + 1):
        prefix = "cold_" if repeat == 0 else ""
        for q, v in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            retriever.search(q["question"], 10, as_of=q["question_date"], vector=v)
            timings[prefix + "as_of"].append(time.perf_counter() - started)
            since, until = windows[q["id"]]
            started = time.perf_counter()
            retriever.search(q["question"], 10, since=since, until=until, as_of=q["question_date"], vector=v)
            timings[prefix + "window"].append(time.perf_counter() - started)
    for name, values in timings.items():
        out[f"search_{name}_ms"] = percentiles(values)
    out["rss_searched_mb"] = rss_mb()
    out["rss_anon_mb"] = rss_mb("RssAnon")
    out["rss_file_mb"] = rss_mb("RssFile")
    if args.quality:
        bm25 = Retriever(reader, replay, get_settings(progress=False, dense_weight=0), index)
        found = []
        for q, v in zip(questions, vectors, strict=True):
            hits = bm25.search(q["question"], 40, as_of=q["question_date"], vector=v)
            found.append(list(dict.fromkeys(h.article_id.split("~")[0] for h in hits)))
        for k in (1, 5, 10):
            out[f"bm25_recall@{k}"] = statistics.fmean(
                bool(set(f[:k]) & set(q["evidence"])) for f, q in zip(found, questions, strict=True)
            )
        if new:
            out.update(ann_recall(retriever, questions, vectors))
    return out


def ann_recall(retriever: Any, questions: list[dict[str, Any]], vectors: np.ndarray) -> dict[str, float]:
    """Dense top 10 through the IVF indexes against exact search, under each question's as-of and 30-day window."""
    from assistant.index.local import search
    from assistant.retrieve.filters import window_of

    reader = retriever.reader
    found: dict[str, list[float]] = {"as_of": [], "window": []}
    for q, v in zip(questions, vectors, strict=True):
        day = dt.date.fromisoformat(q["question_date"])
        for name, since in (("as_of", None), ("window", day - dt.timedelta(days=30))):
            window = window_of(since, day if since else None, [], day)
            kwargs = {"probes": retriever.settings.ann_probes}
            approx = search.dense(
                reader.lives, v, 10, window, None, exact_max_rows=retriever.settings.exact_max_rows, **kwargs
            )
            exact = search.dense(reader.lives, v, 10, window, None, exact_max_rows=10**12, **kwargs)
            found[name].append(len(set(approx.ids.tolist()) & set(exact.ids.tolist())) / max(1, len(exact)))
    return {f"ann_recall@10_{name}": statistics.fmean(values) for name, values in found.items()}


# -- orchestration -------------------------------------------------------------------------------------------------
def worker_environment(src: Path) -> dict[str, str]:
    """The environment of a measurement process for the design whose source is in ``src``.

    It runs ``python -P -m bench.scale``: -P keeps the current folder off the path, so ``assistant`` is the one in
    ``src``, first on PYTHONPATH; this repository follows it for the ``bench`` package (an export of an earlier
    design has no bench/__init__.py, and a regular package later on the path wins over a folder without one).
    """
    path = [str(src)] if src.resolve() == REPO else [str(src), str(REPO)]
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(path),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )


def run_worker(
    kind: str, args: argparse.Namespace, index: Path, corpus: Path | None, src: Path, hogs: int = 0
) -> dict[str, Any]:
    out = Path(args.work) / f"result-{kind}-{os.getpid()}.json"
    command = [sys.executable, "-P", "-m", "bench.scale", "--worker", kind, "--index", str(index),
               "--out", str(out), "--work", str(args.work), "--data", str(args.data),
               "--repeats", str(args.repeats)]  # fmt: skip
    if corpus is not None:
        command += ["--corpus", str(corpus), "--copies", str(args.copies), "--last", str(args.last or 0)]
    if not args.quality:
        command.append("--no-quality")
    env = worker_environment(src)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        subprocess.run(command, env=env, check=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure_design(name: str, src: Path, size: int, args: argparse.Namespace, corpus: Path) -> dict[str, Any]:
    index = Path(args.work) / f"index-{name}-{size}"
    new = name == "new"
    figures: dict[str, Any] = {"design": name, "size": size}
    if not (index / "CURRENT").exists():
        figures["build"] = run_worker("build", args, index, corpus, src)
        if new:
            figures["merge"] = run_worker("merge", args, index, None, src)
    figures["bytes"] = du(index)
    figures["idle"] = run_worker("search", args, index, None, src)
    if args.hogs:
        hog_args = argparse.Namespace(**{**vars(args), "quality": False})
        figures["hog"] = run_worker("search", hog_args, index, None, src, hogs=args.hogs)
    figures["add"] = run_worker("add", args, index, None, src)
    figures["remove"] = run_worker("remove", args, index, None, src)
    if new:
        figures["policy_merge_after_add"] = run_worker("merge", args, index, None, src)
        figures["optimize"] = run_worker("optimize", args, index, None, src)
        quick = argparse.Namespace(**{**vars(args), "quality": False})
        figures["optimized"] = run_worker("search", quick, index, None, src)
        figures["segments"] = figures["merge"]["segments"] if "merge" in figures else None
    print(json.dumps(figures), flush=True)
    return figures


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| design | passages | disk GB | build p/s (no model) | merges s | open s | checksums s "
        "| RSS open / searched (own + mapped) MB | as-of p50/p95/p99 ms | window p95 ms | cold as-of p95 ms "
        "| hog as-of p95 ms | hog window p95 ms | one segment as-of p95 ms | ANN recall@10 as-of / window "
        "| BM25 R@1/R@10 | add s / MB written | remove s / MB written | optimize s |",
        "|" + "---|" * 19,
    ]
    for r in results:
        idle, hog = r["idle"], r.get("hog", {})
        build = r.get("build", {})
        rows.append(
            "| " + " | ".join([
                r["design"], f"{r['size']:,}", f"{r['bytes'] / 1e9:.2f}",
                f"{build.get('non_model_passages_per_s', float('nan')):.0f}",
                f"{r.get('merge', {}).get('seconds', float('nan')):.1f}",
                f"{idle['open_s']:.3f}", f"{idle.get('verify_s', float('nan')):.2f}",
                f"{idle['rss_open_mb']:.0f} / {idle['rss_searched_mb']:.0f} "
                f"({idle.get('rss_anon_mb', float('nan')):.0f} + {idle.get('rss_file_mb', float('nan')):.0f})",
                "/".join(f"{idle['search_as_of_ms'][p]:.1f}" for p in ("p50", "p95", "p99")),
                f"{idle['search_window_ms']['p95']:.1f}",
                f"{idle.get('search_cold_as_of_ms', {}).get('p95', float('nan')):.1f}",
                f"{hog.get('search_as_of_ms', {}).get('p95', float('nan')):.1f}",
                f"{hog.get('search_window_ms', {}).get('p95', float('nan')):.1f}",
                f"{r.get('optimized', {}).get('search_as_of_ms', {}).get('p95', float('nan')):.1f}",
                "{:.3f} / {:.3f}".format(*(idle.get(f"ann_recall@10_{w}", float("nan")) for w in ("as_of", "window"))),
                f"{idle.get('bm25_recall@1', float('nan')):.3f} / {idle.get('bm25_recall@10', float('nan')):.3f}",
                f"{r['add']['seconds']:.2f} / {r['add']['bytes'] / 1e6:.2f}",
                f"{r['remove']['seconds']:.2f} / {r['remove']['bytes'] / 1e6:.2f}",
                f"{r.get('optimize', {}).get('seconds', float('nan')):.1f}",
            ]) + " |"
        )  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--work", type=Path, help="Where corpora, vectors and indexes are kept (reused next time).")
    parser.add_argument("--sizes", default="50000,200000,1000000", help="Passages per index, comma-separated.")
    parser.add_argument("--hogs", type=int, default=1, help="Busy processes during the second search run (0: none).")
    parser.add_argument("--repeats", type=int, default=3, help="Times the 103 questions are asked per run.")
    parser.add_argument("--old-src", type=Path, help="An export of the previous design's source, to measure beside.")
    parser.add_argument("--old-max", type=int, default=200_000, help="Largest size the previous design is built at.")
    parser.add_argument("--no-quality", dest="quality", action="store_false", help="Skip recall measurements.")
    add_save_option(parser)
    parser.add_argument("--table", type=Path, default=BENCH / "scale.md", help="The Markdown table.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--last", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.out.write_text(json.dumps(worker(args.worker, args)))
        return 0
    if not has_data(args.data, REALTIMEQA):
        return 0
    if args.work is None:
        parser.error("--work is required: indexes of a million passages take gigabytes")
    args.work.mkdir(parents=True, exist_ok=True)
    records = load_jsonl(args.data / "corpus.jsonl")
    corpus = write_corpus(records, 1, args.work / "corpus")
    per_article = real_vectors(corpus / "copy-0000.jsonl", args.work)
    per_copy = sum(per_article)
    query_vectors(load_jsonl(args.data / "queries_dev.jsonl"), args.work)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        # Whole copies, then as many articles of one more copy as reach the size.
        whole, rest = divmod(size, per_copy)
        args.copies, args.last = whole, None
        if rest:
            args.copies += 1
            args.last = int(np.searchsorted(np.cumsum(per_article), rest)) + 1
        write_corpus(records, args.copies, corpus, args.last)
        results.append(measure_design("new", REPO, size, args, corpus))
        if args.old_src and size <= args.old_max:
            results.append(measure_design("previous", args.old_src, size, args, corpus))
    text = table(results)
    print(text)
    args.table.write_text(
        f"# Index at scale (bench/scale.py, {dt.date.today().isoformat()}, load {os.getloadavg()[0]:.1f})\n\n{text}\n"
    )
    save_figures(args.save, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

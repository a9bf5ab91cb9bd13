"""Answer benchmark: does the answer state the gold answer, cite it, abstain when it should, and how fast?

    python -m bench.answer_quality [--data ../shared/bench] [--work DIR] [--rtqa-index DIR] [--answerer extractive|llm]

Sets, each asked through ``Assistant.ask`` exactly as a user would:
- RealTime QA dev (103 questions, asked as of their ``question_date``, over all 1,663 articles);
- RGB ``en_fact`` (100 questions over 969 snippets, most of them on-topic noise), then the same with the 394
  counterfactual snippets added: does the answer surface the conflict, or state the fake answer alone?
- questions about things absent from the corpus (``bench/absent_questions.jsonl`` over RealTime QA, and
  ``bench/absent_seed_questions.jsonl`` over the default corpus): should abstain.
Answers are matched after lower-casing and removing punctuation and articles. "cited" means the gold answer is in
one of the answer's cited excerpts (abstentions cite nothing). Abstention precision/recall treat "abstain" as the
positive class, with the absent questions as positives and the RealTime QA and RGB questions as negatives.

Two more sets, beside those: ``real`` asks the questions of ``bench/real_pages_questions.jsonl`` over saved news
pages and feeds read from the fetched repositories' mirrors (see ``bench.real_pages``; skipped when absent) and
grades each answer right / partly / wrong; ``latency`` times search and ask on RealTime QA questions, idle and with
a busy loop holding one core, on the settings' embedding backend: with one thread for a question
(``ASSISTANT_QUERY_THREADS=1``, the default) and the reader, with one thread and no reader (what the reader costs),
and with every core (``0``). The short-answer figures include the precision of the direct answers shown (right:
token F1 ≥ 0.5) and the lenient token F1 of :mod:`assistant.answer.metrics`.

``--calibrate`` prints the abstention threshold calibrated on the RealTime QA dev questions (the highest that still
answers 92% of them), with the abstention rate it gives on the calibration split of the absent questions; RGB and
the test split of the absent questions are never used to set it.
Indexes are built in ``--work`` (kept, so later runs reuse them). Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.answer.metrics import contains, exact_match, lenient_f1, token_f1
from bench.harness import (
    ABSENT_QUESTIONS,
    ABSENT_SEED_QUESTIONS,
    DATA_ROOT,
    MIRROR,
    REAL_PAGES_QUESTIONS,
    REALTIMEQA,
    RGB,
    SEED_CORPUS,
    add_save_option,
    ensure_index,
    has_data,
    load_jsonl,
    percentile,
    save_figures,
    write_jsonl,
)


def ask_all(
    assistant: Any, questions: list[dict[str, Any]], answerer: str, limit: int | None = None
) -> list[dict[str, Any]]:
    rows = []
    for q in questions[:limit]:
        answer = assistant.ask(q["question"], as_of=q.get("as_of"), answerer=answerer)
        cited = " ".join(c.excerpt for c in answer.citations) if not answer.abstained else ""
        short = answer.short_answer.text if answer.short_answer else None
        rows.append(
            {
                "id": q["id"],
                "question": q["question"],
                "answers": q.get("answers", []),
                "fake": q.get("fake_answer"),
                "text": answer.text,
                "cited": cited,
                "abstained": answer.abstained,
                "support": answer.support,
                "conflicts": len(answer.conflicts),
                "fell_back": answer.notice is not None,
                "unsupported": len(answer.unsupported),
                "ms": answer.timings["total"],
                "in_text": contains(answer.text, q.get("answers", [])) if not answer.abstained else False,
                "in_cited": contains(cited, q.get("answers", [])),
                "short_answer": short,
                "short_f1": token_f1(short, q.get("answers", [])),
                "short_em": exact_match(short, q.get("answers", [])),
                "short_f1_lenient": lenient_f1(short, q.get("answers", [])),
                "held_back": answer.held_back,
                "split": q.get("split"),
            }
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = len(rows) or 1
    return {
        "questions": len(rows),
        "in_text": sum(r["in_text"] for r in rows) / n,
        "in_cited": sum(r["in_cited"] for r in rows) / n,
        "abstained": sum(r["abstained"] for r in rows) / n,
        "short_answer_f1": sum(r["short_f1"] for r in rows) / n,
        "short_answer_em": sum(r["short_em"] for r in rows) / n,
        "short_answer_given": sum(r["short_answer"] is not None for r in rows) / n,
        "short_answer_f1_lenient": sum(r["short_f1_lenient"] for r in rows) / n,
        "short_answer_precision": precision(rows, "short_f1"),
        "short_answer_precision_lenient": precision(rows, "short_f1_lenient"),
        "llm_fell_back": sum(r["fell_back"] for r in rows) / n,
        "with_unsupported_sentences": sum(r["unsupported"] > 0 for r in rows) / n,
    }


def precision(rows: list[dict[str, Any]], key: str) -> float:
    """Of the direct answers shown, the share that is right (token F1 ≥ 0.5 against the gold)."""
    from assistant.answer.metrics import RIGHT_F1

    shown = [r for r in rows if r["short_answer"] is not None]
    return sum(r[key] >= RIGHT_F1 for r in shown) / len(shown) if shown else 0.0


def conflict_summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = len(rows) or 1
    real = [contains(r["text"], r["answers"]) for r in rows]
    fake = [bool(r["fake"]) and contains(r["text"], [r["fake"]]) for r in rows]
    return {
        "questions": len(rows),
        "fake_alone": sum(f and not t for f, t in zip(fake, real, strict=True)) / n,
        "real_alone": sum(t and not f for f, t in zip(fake, real, strict=True)) / n,
        "both_shown_as_conflict": sum(f and t and r["conflicts"] > 0 for f, t, r in zip(fake, real, rows, strict=True))
        / n,
        "conflict_flagged": sum(r["conflicts"] > 0 for r in rows) / n,
        "abstained": sum(r["abstained"] for r in rows) / n,
        "surfaced_or_avoided_fake": sum(not (f and not t) for f, t in zip(fake, real, strict=True)) / n,
    }


def calibrate(answerable: list[float], absent: list[float], keep: float = 0.92) -> tuple[float, float, float]:
    """The highest threshold that still answers at least ``keep`` of the answerable questions.

    Fixing the share of answerable questions answered (92%: a margin over the 90% goal) and abstaining on
    everything below is the most abstention those questions allow. The absent calibration questions are reported
    beside it, not fitted: 15 questions are too few to place a threshold on.
    """
    ordered = sorted(answerable)
    threshold = ordered[int((1 - keep) * len(ordered))]
    answered = sum(s >= threshold for s in answerable) / len(answerable)
    return threshold, answered, sum(s < threshold for s in absent) / len(absent)


# A busy loop on one core: another process holding a CPU, as on a laptop running anything else.
HOG = "while True: pass"


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def latency(index: Path, questions: list[dict[str, Any]], settings: Any) -> dict[str, Any]:
    """Search and ask p50/p95 (ms), idle and with a hog, with questions embedded on 1 thread and on every core."""
    from assistant.answer.assistant import Assistant
    from assistant.embed.factory import load_embedder

    out: dict[str, Any] = {}
    for load in ("idle", "one core busy"):
        hog = subprocess.Popen([sys.executable, "-c", HOG]) if load != "idle" else None
        try:
            for label, threads, reads in (
                ("1 thread", 1, True),
                ("1 thread, no reader", 1, False),
                ("every core", 0, True),
            ):
                embedder = load_embedder(
                    settings.model,
                    batch_size=settings.batch_size,
                    query_threads=threads,
                    backend=settings.embed_backend,
                    cache_dir=settings.cache_dir,
                )
                chosen = settings.model_copy(update={"reader": reads, "query_threads": threads})
                with Assistant.open(index, embedder=embedder, settings=chosen) as assistant:
                    for q in questions[:3]:  # warm-up
                        assistant.ask(q["question"], as_of=q["as_of"])
                    search = [
                        timed(lambda q=q: assistant.retriever.search(q["question"], as_of=q["as_of"]))
                        for q in questions
                    ]
                    ask = [timed(lambda q=q: assistant.ask(q["question"], as_of=q["as_of"])) for q in questions]
                out[f"{load}, {label}"] = {
                    "search_p50": statistics.median(search),
                    "search_p95": percentile(search, 0.95),
                    "ask_p50": statistics.median(ask),
                    "ask_p95": percentile(ask, 0.95),
                }
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    return out


def table(figures: dict[str, Any]) -> str:
    """The answer figures as one table: right / partly / wrong beside gold in text / cited / abstained."""
    lines = [
        "| set | questions | right | partly | wrong | gold in text | gold in cited | abstained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, name in (("realtimeqa_dev", "RealTime QA dev"), ("rgb", "RGB en_fact")):
        if key in figures:
            f = figures[key]
            rates = f"{f['in_text']:.3f} | {f['in_cited']:.3f} | {f['abstained']:.3f}"
            lines.append(f"| {name} | {f['questions']} | - | - | - | {rates} |")
    if "real_pages" in figures:
        f = figures["real_pages"]
        lines.append(f"| real pages | {f['questions']} | {f['right']} | {f['partly']} | {f['wrong']} | - | - | - |")
    for label, values in figures.get("latency_ms_by_load", {}).items():
        lines.append(
            f"| latency, {label} | search p50 {values['search_p50']:.0f} / p95 {values['search_p95']:.0f} ms | "
            f"ask p50 {values['ask_p50']:.0f} / p95 {values['ask_p95']:.0f} ms | | | | | |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_ROOT)
    parser.add_argument("--work", type=Path, help="Where indexes are built and kept (default: a temporary dir).")
    parser.add_argument("--rtqa-index", type=Path, help="An existing RealTime QA index to reuse.")
    parser.add_argument("--answerer", choices=["extractive", "llm"], default="extractive")
    parser.add_argument("--calibrate", action="store_true", help="Print the calibrated abstention threshold.")
    parser.add_argument("--only", choices=["rtqa", "rgb", "absent", "real", "latency"], action="append")
    parser.add_argument("--mirror", type=Path, help="Where the fetched repositories are (default: ../.mirror).")
    parser.add_argument("--latency-questions", type=int, default=40, help="RealTime QA questions timed per setting.")
    parser.add_argument("--limit", type=int, help="Ask only the first N questions of each set (for slow LLMs).")
    add_save_option(parser)
    parser.add_argument("--dump", type=Path, help="Write every answer as JSON lines here.")
    args = parser.parse_args()
    rtqa, rgb = args.data / REALTIMEQA.folder_name, args.data / RGB.folder_name
    if not (has_data(rtqa, REALTIMEQA) and has_data(rgb, RGB)):
        return 0

    from assistant.answer.assistant import Assistant
    from assistant.embed.factory import load_embedder
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    embedder = load_embedder(settings.model, batch_size=settings.batch_size, query_threads=settings.query_threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="answer-bench-"))
    only = set(args.only or ["rtqa", "rgb", "absent", "real", "latency"])
    figures: dict[str, Any] = {}
    dumped: list[dict[str, Any]] = []

    def open_index(name: str, paths: list[Path], reuse: Path | None = None) -> Any:
        directory = reuse or ensure_index(paths, work / name, embedder, settings)
        return Assistant.open(directory, embedder=embedder, settings=settings)

    need_rtqa = only & {"rtqa", "absent", "latency"}
    rtqa_assistant = open_index("rtqa", [rtqa / "corpus.jsonl"], args.rtqa_index) if need_rtqa else None
    latencies: list[float] = []
    if "rtqa" in only:
        questions = [dict(q, as_of=q["question_date"]) for q in load_jsonl(rtqa / "queries_dev.jsonl")]
        ask_all(rtqa_assistant, questions[:3], args.answerer)  # warm-up: first calls pay for lazy loading
        rows = ask_all(rtqa_assistant, questions, args.answerer, args.limit)
        figures["realtimeqa_dev"] = summary(rows)
        latencies += [r["ms"] for r in rows]
        dumped += [dict(r, set="realtimeqa") for r in rows]
    if "rgb" in only:
        questions = load_jsonl(rgb / "queries.jsonl")
        rows = ask_all(open_index("rgb", [rgb / "corpus.jsonl"]), questions, args.answerer, args.limit)
        figures["rgb"] = summary(rows)
        dumped += [dict(r, set="rgb") for r in rows]
        both = open_index("rgb_counterfactual", [rgb / "corpus.jsonl", rgb / "corpus_counterfactual.jsonl"])
        rows_cf = ask_all(both, questions, args.answerer, args.limit)
        figures["rgb_counterfactual"] = conflict_summary(rows_cf)
        dumped += [dict(r, set="rgb_counterfactual") for r in rows_cf]
    if "absent" in only:
        absent = load_jsonl(ABSENT_QUESTIONS)
        rows_absent = ask_all(rtqa_assistant, [dict(q, as_of="2022-11-11") for q in absent], args.answerer, args.limit)
        seed = open_index("seed", [SEED_CORPUS])
        rows_seed = ask_all(seed, load_jsonl(ABSENT_SEED_QUESTIONS), args.answerer, args.limit)
        dumped += [dict(r, set="absent") for r in rows_absent] + [dict(r, set="absent_seed") for r in rows_seed]
        test = [r for r in rows_absent if r["split"] == "test"] + rows_seed
        answerable = [r for r in dumped if r["set"] in ("realtimeqa", "rgb")]
        abstained_absent = sum(r["abstained"] for r in test)
        abstained_answerable = sum(r["abstained"] for r in answerable)
        figures["absent"] = {
            "questions": len(test),
            "abstained": abstained_absent / len(test),
            "answerable_questions": len(answerable),
            "answerable_answered": 1 - abstained_answerable / len(answerable) if answerable else float("nan"),
            "precision": abstained_absent / ((abstained_absent + abstained_answerable) or 1),
            "recall": abstained_absent / len(test),
        }
        if args.calibrate:
            # Calibrated on the dev questions; RGB and the absent test split stay unseen.
            calibration_absent = [r["support"] for r in rows_absent if r["split"] == "calibration"]
            dev = [r["support"] for r in dumped if r["set"] == "realtimeqa"]
            if dev and calibration_absent:
                threshold, answered, abstained = calibrate(dev, calibration_absent)
                figures["calibration"] = {"threshold": threshold, "answered": answered, "abstained": abstained}
    if "real" in only:
        from bench import real_pages  # here, not at the top: real_pages imports this module

        rows_real = real_pages.run(args.mirror or MIRROR, work, REAL_PAGES_QUESTIONS, embedder, settings)
        if rows_real is not None:
            figures["real_pages"] = real_pages.summary(rows_real)
            dumped += [dict(r, set="real_pages") for r in rows_real]
    if "latency" in only:
        questions = [dict(q, as_of=q["question_date"]) for q in load_jsonl(rtqa / "queries_dev.jsonl")]
        index = args.rtqa_index or work / "rtqa"
        figures["latency_ms_by_load"] = latency(index, questions[: args.latency_questions], settings)
    if latencies:
        figures["latency_ms"] = {"p50": statistics.median(latencies), "p95": percentile(latencies, 0.95)}
    figures["answerer"] = args.answerer
    if args.limit:
        figures["limit"] = args.limit
    print(json.dumps(figures, indent=2))
    print(table(figures))
    save_figures(args.save, figures)
    if args.dump:
        write_jsonl(args.dump, dumped)
    return 0


if __name__ == "__main__":
    sys.exit(main())

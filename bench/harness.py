"""What the benchmarks share, each once: where the data is, reading it, the gold articles and their figures,
percentiles, number formatting, the ``--save`` writer, free ports and building an index once.

Benchmark code, not library code: it prints, progress and skip notices only (figures are the benchmarks' own).
Nothing here imports the library or a heavy package at import time; what needs one imports it when called.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# -- where things are ------------------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
# The benchmark data sets live beside the repository, never in it: their texts are for evaluation only.
DATA_ROOT = REPO.parent / "shared" / "bench"
MIRROR = REPO.parent / ".mirror"  # the git mirrors the `fetch` tool leaves (real pages and feeds)
SEED_CORPUS = REPO / "corpus"  # the articles the app ships with

# The project's own question sets, beside the benchmarks.
ABSENT_QUESTIONS = BENCH / "absent_questions.jsonl"  # about things RealTime QA does not hold
ABSENT_SEED_QUESTIONS = BENCH / "absent_seed_questions.jsonl"  # about things the seed corpus does not hold
STORY_QUESTIONS = BENCH / "story_questions.jsonl"  # RealTime QA stories spanning several weeks
REAL_PAGES_QUESTIONS = BENCH / "real_pages_questions.jsonl"  # answers on saved news pages and feeds


@dataclass(frozen=True)
class Dataset:
    """One data set under DATA_ROOT: its folder, its name in messages, and the files its README lists."""

    folder_name: str
    title: str
    files: tuple[str, ...]

    @property
    def folder(self) -> Path:
        return DATA_ROOT / self.folder_name


# Each folder's README.md says what the files hold; the fields the benchmarks read are named beside each.
REALTIMEQA = Dataset(  # id, title, text, source, date, url / id, question, answers, evidence, question_date
    "realtimeqa", "RealTime QA", ("corpus.jsonl", "queries_dev.jsonl")
)
RGB = Dataset(  # snippets (id, text) / id, question, answers, evidence, fake_answer
    "rgb_en_fact", "RGB en_fact", ("corpus.jsonl", "corpus_counterfactual.jsonl", "queries.jsonl")
)
MULTIHOP_RAG = Dataset(  # evidence sentences only, not whole articles / id, question, answers, gold_ids, as_of
    "multihop_rag", "MultiHop-RAG", ("corpus.jsonl", "queries_dev.jsonl")
)
SCIFACT = Dataset(  # abstracts (id, title, text) / id, question (a claim), evidence; BEIR relevance pairs
    "scifact", "SciFact", ("corpus.jsonl", "queries.jsonl", "qrels_test.tsv")
)


def has_data(folder: Path, dataset: Dataset, files: Sequence[str] | None = None) -> bool:
    """True when ``folder`` holds the files of ``dataset`` a benchmark reads (by default every file its README
    lists); otherwise prints why on stdout, starting ``skip:``, and the benchmark returns 0."""
    missing = [name for name in (files or dataset.files) if not (folder / name).is_file()]
    if missing:
        names = ", ".join(missing)
        print(f"skip: {dataset.title} data not found in {folder} (missing {names}; the default is {dataset.folder})")
    return not missing


# -- reading and writing -------------------------------------------------------------------------------------------
def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object of a JSON Lines file, blank lines skipped."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object a line (the ``--dump`` files), non-ASCII text kept as it is: people read these."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def add_save_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--save", type=Path, help="Write the figures as JSON here.")


def save_figures(path: Path | None, figures: Any) -> None:
    """The ``--save`` file: ``figures`` as indented JSON, UTF-8, ending with a newline; nothing when ``path`` is None.

    The copies this replaces differed: half ended the file with a newline, two wrote in the locale's encoding, none
    made the folder. One behaviour for all: a text file ends with a newline, JSON is UTF-8, and ``--save
    bench/results/x.json`` works on a fresh checkout (bench/results/ is gitignored, so it is not there).
    """
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


# -- figures -------------------------------------------------------------------------------------------------------
TOP = 10  # distinct articles scored per question


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 to 1) of ``values``; NaN when there are none, so that a run in which
    every request failed still prints its table instead of stopping at an IndexError."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def fmt(value: float | int | None) -> str:
    """A table cell: "-" for no value, three decimals below 10 (rates, ratios), one above (seconds, MB, ms).

    The two copies agreed on every float and differed on ints, which neither table holds: one printed 3 as "3.0",
    the other as "3.000". This keeps the first: a count written with three decimals reads as a rate.
    """
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) and abs(value) < 10 else f"{value:.1f}"


def distinct(ids: Iterable[str]) -> list[str]:
    """Article ids in order of first appearance (a search returns passages, several per article)."""
    return list(dict.fromkeys(ids))


def gold_sets(data: Path, questions: list[dict[str, Any]]) -> list[set[str]]:
    """RealTime QA's gold ids per question, widened to exact copies of a gold article (same title and text).

    The corpus holds a few articles twice under different ids; the index stores a copy once (under the id it
    met first), so retrieving that copy is retrieving the gold article.
    """
    from assistant.ingest.loading import load_file

    articles, _ = load_file(data / "corpus.jsonl", data, max_bytes=1 << 34)
    by_copy: dict[str, set[str]] = {}
    for article in articles:
        by_copy.setdefault(article.copy_hash, set()).add(article.id)
    key_of = {article.id: article.copy_hash for article in articles}
    return [set().union(*(by_copy[key_of[e]] for e in q["evidence"] if e in key_of)) for q in questions]


def article_metrics(ranked: list[list[str]], gold: list[set[str]]) -> dict[str, float]:
    """Recall@k: share of questions with a gold article among the first k distinct articles; MRR@10."""
    from assistant.answer.metrics import recall_at, reciprocal_rank

    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = sum(recall_at(r, g, k) for r, g in zip(ranked, gold, strict=True)) / len(gold)
    out["mrr@10"] = sum(reciprocal_rank(r, g, TOP) for r, g in zip(ranked, gold, strict=True)) / len(gold)
    return out


# -- running -------------------------------------------------------------------------------------------------------
def free_port() -> int:
    """A loopback TCP port nothing listens on now, chosen by the OS (another process could still take it first)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_index(paths: Sequence[Path], directory: Path, embedder: Any, settings: Any) -> Path:
    """``directory``, holding an index of ``paths``: built the first time, reused by later runs (an index is
    complete once it has its CURRENT file).

    The copies differed in what they printed: one the files before building, the other what was indexed after.
    Both, on stderr: the first says why a run is slow, the second what its figures are about (files skipped too).
    """
    from assistant import build_index

    if not (directory / "CURRENT").exists():
        print(f"building {directory} from {', '.join(p.name for p in paths)}", file=sys.stderr)
        summary = build_index(list(paths), directory, embedder=embedder, settings=settings)
        print(
            f"{directory.name}: {summary.articles} articles, {summary.chunks} passages, {len(summary.skipped)} skipped",
            file=sys.stderr,
        )
    return directory

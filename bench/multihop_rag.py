"""MultiHop-RAG: does the answer quote the evidence of every article a question needs, and get the answer right?

    python -m bench.multihop_rag [--data ../shared/bench/multihop_rag] [--work DIR | --index DIR] [--limit N]
                                 [--save F.json] [--dump F.jsonl] [--cross-validate]

The 200 dev questions of ``../shared/bench/multihop_rag/`` (64 inference, 62 comparison, 46 temporal, 28 null; see
its README.md) are asked through ``Assistant.ask(question, as_of=...)`` exactly as a user would, over an index of the
326 articles of ``corpus.jsonl`` (each holds only the evidence sentences the questions cite, so this measures reading
and answering, not retrieval). The index is built in ``--work`` once and reused by later runs, or ``--index`` names
one already built. Each question needs two to four articles; a null question needs an answer the articles do not
hold. Figures, overall and by question type (``answerable`` = every type but null):

- ``answered``: share of answerable questions not abstained (goal ≥ 0.85).
- ``evidence_quoted``: share of the gold evidence facts (each an exact sentence of one gold article), over all the
  facts of the answerable questions, that the answer's cited excerpts hold (goal ≥ 0.65);
  ``questions_all_evidence_quoted``: share of answerable questions with every one of their facts quoted. A fact is
  quoted when, after normalising both (lower case, no punctuation, no articles: ``assistant.answer.metrics``), a
  cited excerpt contains it, or it contains the citation's quoted sentence (its span, when that has at least
  four words), or at least 80% of the fact's distinct words are in the excerpt (``metrics.fact_quoted``). An
  abstention quotes nothing (its citations are the closest excerpts found, not support).
- ``yes_no_right``: over the questions whose gold answer is "yes" or "no" (case-insensitive), share whose verdict
  is the gold one. The verdict is the direct answer's text when its kind is "yes/no" or its text is Yes or No; no
  verdict (none shown, another kind, an abstention) counts as wrong. ``yes_no_given`` is the share with a verdict;
  ``always_yes`` is what answering "yes" to every one of them would score (goal ≥ 0.70; always yes is about 0.61).
- ``entity_right``: over the answerable questions whose gold answer is not yes/no (an entity or phrase: "Sam
  Bankman-Fried", "Consistent"), share whose direct answer matches the gold: either contains the other as whole
  normalised words, or their token F1 (strict or lenient: number words, country names) is at least ``ENTITY_F1``
  (goal ≥ 0.50). ``entity_in_text``: the gold answer is in the answer's text (not counted when abstained).
- ``null_declined``: share of the null questions abstained (goal ≥ 0.90).
- ``latency_ms``: p50 and p95 of ``answer.timings["total"]`` (one warm-up question asked first, not counted).

``--cross-validate`` tunes what answers across articles (``assistant.answer.across``: the support a part's sentence
needs, ``PART_SUPPORT``, and how close a second article of the same outlet must come to be quoted too,
``SECOND_QUOTE_MARGIN``) on part of the questions and reports the figures on the rest: every question is asked once
per setting of ``GRID``; on each fold's training questions the setting with the best ``objective`` (the mean of
answered, evidence quoted, yes/no right and entity right, with null declined at its goal or the setting ruled out)
is chosen (of settings within ``TOLERANCE`` of the best, the one asking the most support), and the held-out
questions' rows at that setting make the cross-validated figures. Two ways of folding:
by question id parity (2 folds) and leaving one question type out (4 folds). The figures of the setting chosen on
all the questions ("tuned") are printed beside them.

Prints the table on stdout and progress on stderr; ``--save`` writes the figures as JSON, ``--dump`` one row per
question (the facts quoted or not among them) to read the failures. Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.answer.metrics import contains, lenient_f1, normalize, token_f1
from bench.harness import (
    MULTIHOP_RAG,
    add_save_option,
    ensure_index,
    fmt,
    has_data,
    load_jsonl,
    percentile,
    save_figures,
    write_jsonl,
)

ENTITY_F1 = 0.5  # token F1 with the gold at which a direct answer counts as right (as RIGHT_F1 in the metrics)
YES_NO = ("yes", "no")
TYPES = ("inference_query", "comparison_query", "temporal_query", "null_query")
NULL = "null_query"


# -- matching (pure: tests/test_multihop_bench.py) -------------------------------------------------------------------
def fact_quoted(fact: str, excerpt: str, quote: str = "") -> bool:
    """Whether one cited excerpt (with its quoted span ``quote``) quotes ``fact``: the one rule `assistant eval`
    uses too (:func:`assistant.answer.metrics.fact_quoted`)."""
    from assistant.answer.metrics import fact_quoted as quoted

    return quoted(fact, excerpt, quote)


def facts_quoted(facts: Sequence[str], cited: Sequence[tuple[str, str]]) -> list[bool]:
    """For each fact, whether any of the ``cited`` (excerpt, quote) pairs quotes it."""
    return [any(fact_quoted(fact, excerpt, quote) for excerpt, quote in cited) for fact in facts]


def gold_yes_no(answers: Iterable[str]) -> str | None:
    """ "yes" or "no" when the gold answer is one of them (case and punctuation ignored), else None."""
    for answer in answers:
        said = normalize(answer)
        if said in YES_NO:
            return said
    return None


def verdict(short_text: str | None, short_kind: str | None) -> str | None:
    """The yes/no verdict of a direct answer: its text when its kind is "yes/no" or its text is Yes or No."""
    if not short_text:
        return None
    said = normalize(short_text)
    if said in YES_NO:
        return said
    if short_kind == "yes/no":  # a yes/no answer whose text starts with its verdict ("Yes, ...")
        first = said.split()[0] if said else ""
        return first if first in YES_NO else None
    return None


def yes_no_right(given: str | None, gold: str) -> bool:
    """A verdict is right when it is the gold one; no verdict is wrong."""
    return given is not None and given == gold


def entity_right(short_text: str | None, answers: Sequence[str]) -> bool:
    """Whether a direct answer matches a gold entity: containment either way (whole normalised words), or token F1
    (strict or lenient) of at least ``ENTITY_F1``. No direct answer is wrong."""
    if not short_text or not normalize(short_text):
        return False
    if contains(short_text, answers) or any(contains(answer, [short_text]) for answer in answers):
        return True
    return max(token_f1(short_text, answers), lenient_f1(short_text, answers)) >= ENTITY_F1


# -- one question ----------------------------------------------------------------------------------------------------
def score(question: dict[str, Any], answer: Any) -> dict[str, Any]:
    """The dump row of one question: what was asked, what the assistant said, and how it scores."""
    short = answer.short_answer
    short_text, short_kind = (short.text, short.kind) if short else (None, None)
    shown = [(c.excerpt, c.quote) for c in answer.citations]  # an abstention's are the closest excerpts found
    facts = [e["fact"] for e in question.get("evidence", [])]
    quoted = facts_quoted(facts, [] if answer.abstained else shown)
    in_shown = facts_quoted(facts, shown)
    gold = list(question["answers"])
    yes_no = gold_yes_no(gold) if question["question_type"] != NULL else None
    given = verdict(short_text, short_kind)
    entity = not yes_no and question["question_type"] != NULL
    shown_ids = sorted({c.article_id for c in answer.citations})
    cited_ids = [] if answer.abstained else shown_ids
    return {
        "id": question["id"],
        "type": question["question_type"],
        "question": question["question"],
        "as_of": question.get("as_of"),
        "gold": gold,
        "gold_ids": question.get("gold_ids", []),
        "abstained": answer.abstained,
        "support": answer.support,
        "short_answer": short_text,
        "short_kind": short_kind,
        "short_method": getattr(short, "method", None),
        "verdict": given,
        "yes_no_gold": yes_no,
        "yes_no_right": yes_no_right(given, yes_no) if yes_no else None,
        "entity_right": entity_right(short_text, gold) if entity else None,
        "entity_in_text": (not answer.abstained and contains(answer.text, gold)) if entity else None,
        "facts": [  # in_shown: in the excerpts shown, an abstention's closest ones included
            {
                "doc_id": e["doc_id"],
                "quoted": q,
                "in_shown": s,
                "article_cited": e["doc_id"] in cited_ids,
                "fact": e["fact"],
            }
            for e, q, s in zip(question.get("evidence", []), quoted, in_shown, strict=True)
        ],
        "cited_ids": cited_ids,
        "shown_ids": shown_ids,
        "text": answer.text,
        "ms": answer.timings.get("total"),
    }


# -- figures ---------------------------------------------------------------------------------------------------------
def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the module's docstring over ``rows`` (one type's, or all)."""
    answerable = [r for r in rows if r["type"] != NULL]
    nulls = [r for r in rows if r["type"] == NULL]
    facts = [f["quoted"] for r in answerable for f in r["facts"]]
    yes_no = [r for r in answerable if r["yes_no_gold"]]
    entity = [r for r in answerable if not r["yes_no_gold"]]
    ms = [r["ms"] for r in rows if r["ms"] is not None]
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "answered": _share([not r["abstained"] for r in answerable]),
        "facts": len(facts),
        "evidence_quoted": _share(facts),
        "questions_all_evidence_quoted": _share([all(f["quoted"] for f in r["facts"]) for r in answerable]),
        "fact_article_cited": _share([f["article_cited"] for r in answerable for f in r["facts"]]),
        "yes_no_questions": len(yes_no),
        "yes_no_right": _share([r["yes_no_right"] for r in yes_no]),
        "yes_no_given": _share([r["verdict"] is not None for r in yes_no]),
        "always_yes": _share([r["yes_no_gold"] == "yes" for r in yes_no]),
        "entity_questions": len(entity),
        "entity_right": _share([r["entity_right"] for r in entity]),
        "entity_in_text": _share([r["entity_in_text"] for r in entity]),
        "short_answer_given": _share([r["short_answer"] is not None for r in answerable]),
        "null_questions": len(nulls),
        "null_declined": _share([r["abstained"] for r in nulls]),
        "latency_ms": {"p50": statistics.median(ms) if ms else None, "p95": percentile(ms, 0.95) if ms else None},
    }


def figures_of(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Overall and by question type (types with no question left out, as after ``--limit``)."""
    by_type = {kind: summary([r for r in rows if r["type"] == kind]) for kind in TYPES}
    return {"overall": summary(rows), "by_type": {k: v for k, v in by_type.items() if v["questions"]}}


GOALS = {"answered": 0.85, "evidence_quoted": 0.65, "yes_no_right": 0.70, "entity_right": 0.50, "null_declined": 0.90}
COLUMNS = (
    ("questions", "questions"),
    ("answered", "answered"),
    ("evidence_quoted", "evidence quoted"),
    ("questions_all_evidence_quoted", "all evidence quoted"),
    ("yes_no_right", "yes/no right"),
    ("yes_no_given", "yes/no given"),
    ("always_yes", "always yes"),
    ("entity_right", "entity right"),
    ("entity_in_text", "entity in text"),
    ("null_declined", "null declined"),
)


def table(figures: dict[str, Any]) -> str:
    """One row overall and one per type; the goals in the header; p50 / p95 ms last."""
    head = [name + (f" (≥ {GOALS[key]:.2f})" if key in GOALS else "") for key, name in COLUMNS]
    lines = ["| set | " + " | ".join(head) + " | p50 / p95 ms |", "|---" * (len(COLUMNS) + 2) + "|"]
    for label, f in [("overall", figures["overall"]), *figures["by_type"].items()]:
        cells = [fmt(f[key]) if key != "questions" else str(f[key]) for key, _ in COLUMNS]
        ms = f["latency_ms"]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fmt(ms['p50'])} / {fmt(ms['p95'])} |")
    return "\n".join(lines)


# -- cross-validation (pure: tests/test_multi_article.py) ------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """What is tuned: ``AcrossArticles(support=..., second_margin=...)``."""

    support: float
    second_margin: float


GRID = tuple(Setting(s, m) for s, m in itertools.product((0.1, 0.15, 0.2, 0.25, 0.3), (0.0, 0.03)))
_SCORED = ("answered", "evidence_quoted", "yes_no_right", "entity_right")
TOLERANCE = 0.005  # objectives this close are a tie: about one question's worth of one figure


def objective(figures: dict[str, Any]) -> float:
    """How good a setting's figures are: the mean of the answerable figures, -1 when null questions are not declined
    at their goal (a setting that answers what the articles do not hold is no candidate)."""
    if figures["null_declined"] is not None and figures["null_declined"] < GOALS["null_declined"]:
        return -1.0
    values = [figures[key] for key in _SCORED if figures[key] is not None]
    return sum(values) / len(values) if values else 0.0


def best_setting(runs: dict[Setting, list[dict[str, Any]]], keep: Callable[[dict[str, Any]], bool]) -> Setting:
    """The setting whose rows for the questions ``keep`` selects score best; of those within ``TOLERANCE`` of the
    best, the one asking the most support (the figures do not tell them apart: decline rather than answer)."""
    scores = {setting: objective(summary([r for r in runs[setting] if keep(r)])) for setting in runs}
    best = max(scores.values())
    close = [setting for setting in runs if scores[setting] >= best - TOLERANCE]
    return max(close, key=lambda setting: (setting.support, scores[setting]))


def _parity(row: dict[str, Any]) -> int:
    digits = re.sub(r"\D", "", row["id"])
    return int(digits) % 2 if digits else 0


Fold = Callable[[dict[str, Any]], bool]


def _parity_is(side: int) -> Fold:
    return lambda row: _parity(row) == side


def _type_is(kind: str) -> Fold:
    return lambda row: bool(row["type"] == kind)


def folds() -> dict[str, list[tuple[str, Fold]]]:
    """The ways of folding the questions: (name, is-held-out) per fold."""
    parity = [(f"id {side}", _parity_is(side)) for side in (0, 1)]
    types = [(kind, _type_is(kind)) for kind in TYPES]
    return {"id_parity": parity, "question_type": types}


def _not(fold: Fold) -> Fold:
    return lambda row: not fold(row)


def cross_validate(runs: dict[Setting, list[dict[str, Any]]]) -> dict[str, Any]:
    """The tuned figures (the setting chosen on every question) and, per way of folding, the held-out figures."""
    tuned = best_setting(runs, lambda r: True)
    result: dict[str, Any] = {
        "grid": [asdict(s) for s in runs],
        "objective": {f"{s.support}/{s.second_margin}": objective(summary(rows)) for s, rows in runs.items()},
        "tuned": {"setting": asdict(tuned), "figures": figures_of(runs[tuned])},
    }
    for name, ways in folds().items():
        held: list[dict[str, Any]] = []
        chosen = {}
        for fold, out in ways:
            setting = best_setting(runs, _not(out))
            chosen[fold] = asdict(setting)
            held.extend(r for r in runs[setting] if out(r))
        result[name] = {"chosen": chosen, "figures": figures_of(held)}
    return result


# -- running ---------------------------------------------------------------------------------------------------------
def ask_all(assistant: Any, questions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every question asked as of its ``as_of``, progress on stderr."""
    rows = []
    started = time.perf_counter()
    for done, question in enumerate(questions, 1):
        rows.append(score(question, assistant.ask(question["question"], as_of=question["as_of"])))
        if done % 10 == 0 or done == len(questions):
            elapsed = time.perf_counter() - started
            print(f"asked {done}/{len(questions)} ({elapsed:.0f} s)", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=MULTIHOP_RAG.folder)
    parser.add_argument("--work", type=Path, help="Where the index is built and kept (default: a temporary dir).")
    parser.add_argument("--index", type=Path, help="An index of the MultiHop-RAG corpus already built, to reuse.")
    parser.add_argument("--limit", type=int, help="Ask only the first N questions (a quick run).")
    add_save_option(parser)
    parser.add_argument("--dump", type=Path, help="Write one JSON line per question here (to read the failures).")
    parser.add_argument(
        "--cross-validate", action="store_true", help="Tune the answers across articles on part, report the rest."
    )
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # the skip notice goes with the progress, not the figures
        present = has_data(args.data, MULTIHOP_RAG)
    if not present:
        return 0

    from assistant.answer.across import AcrossArticles
    from assistant.answer.assistant import Assistant
    from assistant.embed.factory import load_embedder
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    embedder = load_embedder(settings.model, batch_size=settings.batch_size, query_threads=settings.query_threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="multihop-bench-"))
    index = args.index or ensure_index([args.data / "corpus.jsonl"], work / "multihop_rag", embedder, settings)
    questions = load_jsonl(args.data / "queries_dev.jsonl")[: args.limit]
    with Assistant.open(index, embedder=embedder, settings=settings) as assistant:
        if questions:  # warm-up: the first question pays for lazy loading (models), not counted
            assistant.ask(questions[0]["question"], as_of=questions[0]["as_of"])
        rows = ask_all(assistant, questions)
        runs: dict[Setting, list[dict[str, Any]]] = {}
        for setting in GRID if args.cross_validate else ():
            print(f"setting {setting}", file=sys.stderr)
            assistant.across = AcrossArticles(
                assistant.retriever, assistant.extractive, support=setting.support, second_margin=setting.second_margin
            )
            runs[setting] = ask_all(assistant, questions)
    figures = figures_of(rows)
    figures["index"] = str(index)
    if args.limit:
        figures["limit"] = args.limit
    print(table(figures))
    if runs:
        figures["cross_validation"] = validation = cross_validate(runs)
        print(f"\ntuned on all the questions: {validation['tuned']['setting']}")
        print(table(validation["tuned"]["figures"]))
        for name in folds():
            print(f"\ncross-validated, folds by {name.replace('_', ' ')}: chosen {validation[name]['chosen']}")
            print(table(validation[name]["figures"]))
    save_figures(args.save, figures)
    if args.dump:
        args.dump.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.dump, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`assistant eval`: a user's own check that an index still answers their standard questions.

Questions come as JSON Lines, one object a line::

    {"question": "How much did Alibaba invest in AI?", "answer": "23 billion yuan", "gold": ["corpus/alibaba.txt"],
     "as_of": "2025-03-01"}

``answer`` (a string or a list of accepted strings), ``gold`` (article ids or URLs, a string or a list), ``as_of``
and ``absent`` (true when the articles do not answer it, so the assistant should abstain) are optional. A question
that needs several articles may give ``evidence`` as a list of ``{"doc_id": ..., "fact": "the sentence"}``: the ids
count as gold articles, and the share of facts the answer's cited excerpts quote is reported (evidence recall). Each
question is asked as a user would ask it; retrieval is scored on the distinct articles of a deeper search for the
same standalone query. Metrics are those of :mod:`.metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..retrieve.filters import Filters
from .metrics import (
    RIGHT_F1,
    contains,
    exact_match,
    fact_quoted,
    lenient_f1,
    rank_of,
    recall_at,
    reciprocal_rank,
    token_f1,
)

__all__ = ["EvalQuestion", "evaluate", "load_questions", "summarise"]

RECALL_AT = (1, 5, 10)
_DEPTH = 10  # articles ranked per question for recall@k and MRR@10
_PASSAGES_PER_ARTICLE = 4  # passages searched per article ranked: the retriever keeps at most 2 per article


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    answers: tuple[str, ...] = ()
    gold: tuple[str, ...] = ()
    as_of: str | None = None
    absent: bool = False
    id: str | None = None
    facts: tuple[str, ...] = ()  # evidence sentences the answer should quote (a question needing several articles)


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Questions from a JSON Lines file; a bad line is an InputError naming the file, line and field."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read questions: {exc}", path=path) from exc
    questions = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", path=path, line=number) from exc
        if not isinstance(item, dict):
            raise InputError("each line must be a JSON object", path=path, line=number)
        question = item.get("question")
        if not isinstance(question, str) or not question.strip():
            raise InputError("needs a non-empty 'question' string", path=path, line=number, field="question")
        as_of = item.get("as_of")
        if as_of is not None and not isinstance(as_of, str):
            raise InputError("must be a date string (YYYY-MM-DD)", path=path, line=number, field="as_of")
        absent = item.get("absent", False)
        if not isinstance(absent, bool):
            raise InputError("must be true or false", path=path, line=number, field="absent")
        ids, facts = _evidence(item, path, number)
        questions.append(
            EvalQuestion(
                question=question,
                answers=_strings(item, "answer", path, number, also="answers"),
                gold=_strings(item, "gold", path, number, also="gold_ids") + ids,
                as_of=as_of,
                absent=absent,
                id=str(item["id"]) if "id" in item else None,
                facts=facts,
            )
        )
    if not questions:
        raise InputError("no questions in the file", path=path)
    return questions


def _evidence(item: dict[str, Any], path: Path, line: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(article ids, facts) of ``evidence``: article ids or URLs, or ``{"doc_id", "fact"}`` objects."""
    value = item.get("evidence")
    if value is None or isinstance(value, str) or all(isinstance(v, str) for v in value or []):
        return _strings({"evidence": value}, "evidence", path, line, also="evidence"), ()
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get("doc_id"), str) and isinstance(v.get("fact", ""), str) for v in value
    ):
        raise InputError(
            "must be article ids, or objects with a 'doc_id' and a 'fact' string",
            path=path,
            line=line,
            field="evidence",
        )
    return tuple(v["doc_id"] for v in value), tuple(v["fact"] for v in value if v.get("fact"))


def _strings(item: dict[str, Any], key: str, path: Path, line: int, also: str) -> tuple[str, ...]:
    value = item.get(key, item.get(also))
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("must be a string or a list of strings", path=path, line=line, field=key)
    return tuple(v for v in value if v.strip())


def evaluate(
    assistant: Any,
    questions: Sequence[EvalQuestion],
    *,
    progress: Callable[[int, int], None] | None = None,
    answerer: str | None = None,
    gold_sets: Sequence[set[str]] | None = None,
) -> list[dict[str, Any]]:
    """Ask every question and score it; one row per question (see :func:`summarise` for the figures).

    ``gold_sets`` replaces each question's gold articles (a benchmark may widen them to stored copies).
    """
    rows = []
    for position, item in enumerate(questions):
        answer = assistant.ask(item.question, as_of=item.as_of, answerer=answerer)
        gold = gold_sets[position] if gold_sets is not None else set(item.gold)
        ranked: list[str] = []
        if gold:
            hits = assistant.retriever.search_pinned(
                assistant.retriever.reader_for(answer.generation),
                answer.query,
                Filters(as_of=item.as_of, k=_DEPTH * _PASSAGES_PER_ARTICLE),
            )
            ranked = list(dict.fromkeys(hit.article_id for hit in hits))
            # A gold URL names its article: the article's id counts as gold too.
            gold = gold | {hit.article_id for hit in hits if hit.url and _url(hit.url) in {_url(g) for g in gold}}
        cited = " ".join(c.excerpt for c in answer.citations) if not answer.abstained else ""
        short = answer.short_answer.text if answer.short_answer else None
        row: dict[str, Any] = {
            "id": item.id,
            "question": item.question,
            "answers": list(item.answers),
            "absent": item.absent,
            "abstained": answer.abstained,
            "support": answer.support,
            "short_answer": short,
            "text": answer.text,
            "ms": answer.timings.get("total"),
        }
        if item.answers:
            row["in_text"] = not answer.abstained and contains(answer.text, item.answers)
            row["in_cited"] = contains(cited, item.answers)
            row["short_f1"] = token_f1(short, item.answers)
            row["short_em"] = exact_match(short, item.answers)
            row["short_f1_lenient"] = lenient_f1(short, item.answers)
        if item.facts:
            quoted = list(answer.citations) if not answer.abstained else []
            row["facts_quoted"] = sum(
                any(fact_quoted(fact, c.excerpt, c.quote) for c in quoted) for fact in item.facts
            ) / len(item.facts)
        if gold:
            row["gold_rank"] = rank_of(ranked, gold)
            row.update({f"recall@{k}": recall_at(ranked, gold, k) for k in RECALL_AT})
            row["rr@10"] = reciprocal_rank(ranked, gold, _DEPTH)
        rows.append(row)
        if progress is not None:
            progress(position + 1, len(questions))
    return rows


def _url(value: str) -> str:
    return value.strip().rstrip("/").lower()


def _precision(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Of the short answers shown, the share that is right (token F1 ≥ RIGHT_F1), strictly and leniently."""
    shown = [r for r in rows if r["short_answer"] is not None]
    if not shown:
        return {"short_answer_precision": None, "short_answer_precision_lenient": None}
    return {
        "short_answer_precision": round(sum(r["short_f1"] >= RIGHT_F1 for r in shown) / len(shown), 4),
        "short_answer_precision_lenient": round(sum(r["short_f1_lenient"] >= RIGHT_F1 for r in shown) / len(shown), 4),
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures over ``rows``: retrieval recall@k and MRR@10, answer metrics, abstentions."""

    def mean(key: str, among: Sequence[dict[str, Any]]) -> float | None:
        values = [float(r[key]) for r in among if key in r]
        return round(sum(values) / len(values), 4) if values else None

    answerable = [r for r in rows if not r["absent"]]
    absent = [r for r in rows if r["absent"]]
    out: dict[str, Any] = {"questions": len(rows)}
    retrieval = [r for r in rows if "rr@10" in r]
    out["retrieval"] = {
        "questions": len(retrieval),
        **{f"recall@{k}": mean(f"recall@{k}", retrieval) for k in RECALL_AT},
    }
    out["retrieval"]["mrr@10"] = mean("rr@10", retrieval)
    with_gold = [r for r in answerable if "in_text" in r]
    out["answers"] = {
        "questions": len(with_gold),
        "gold_in_answer": mean("in_text", with_gold),
        "gold_in_cited": mean("in_cited", with_gold),
        "short_answer_f1": mean("short_f1", with_gold),
        "short_answer_em": mean("short_em", with_gold),
        "short_answer_given": round(sum(r["short_answer"] is not None for r in with_gold) / len(with_gold), 4)
        if with_gold
        else None,
        "short_answer_f1_lenient": mean("short_f1_lenient", with_gold),
        **_precision(with_gold),
    }
    with_facts = [r for r in answerable if "facts_quoted" in r]
    if with_facts:
        out["answers"]["evidence_recall"] = mean("facts_quoted", with_facts)
    out["abstentions"] = {
        "answerable": len(answerable),
        "answerable_answered": round(1 - sum(r["abstained"] for r in answerable) / len(answerable), 4)
        if answerable
        else None,
        "absent": len(absent),
        "absent_abstained": round(sum(r["abstained"] for r in absent) / len(absent), 4) if absent else None,
    }
    return out

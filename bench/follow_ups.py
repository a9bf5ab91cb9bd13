"""Follow-up questions over RealTime QA: is each rewrite a question that stands alone and names the right subject?

    python -m bench.follow_ups [--set bench/follow_up_questions_heldout.jsonl] [--data ../shared/bench/realtimeqa]
                               [--asked RTQA_INDEX] [--save F]

``bench/follow_up_questions.jsonl`` (the default ``--set``) holds 42 follow-ups written for this benchmark (pronouns,
ellipsis, ordinals, switches), each after a RealTime QA dev question named by its id, with the subject the rewrite
must name. The rewrite rules were tuned while reading it, so its figure is a tuned one.

``bench/follow_up_questions_heldout.jsonl`` is the held-out set: 58 follow-ups after other dev questions (or the same
ones, asked differently), written as a reader would after the earlier question and its gold answer, after the rules
were tuned and before the rewriter was ever run on them, and never tuned on: no follow-up was edited to pass and no
rule reads any of their words. Its honest figure is the first run's, before any rule changed (0.690 names the right
subject); the general rules fixed after reading those rewrites make the later figure partly a tuned one. Besides the
kinds above it holds ``standalone`` questions that are not follow-ups at all: one counts as right only when it is
left unchanged.

For each follow-up, the earlier question, its gold answer (as the bold direct answer a reader saw) and the sentence of
its gold article that states it (the quoted answer) are read from the data folder at run time, never copied here.
Each follow-up is rewritten as the assistant rewrites it (:func:`assistant.answer.conversation.condense`), and the
rewrite is classed by its form:

- ``question``: one question, rewritten to stand alone;
- ``carried``: the follow-up with the carried-over names in brackets (no confident rewrite, said plainly);
- ``two questions``: the follow-up and the earlier question side by side (what the assistant searches when it
  cannot rewrite; not a well-formed question);
- ``unchanged``: the follow-up as it was.

With ``--asked``, the earlier question is asked of a RealTime QA index instead, and the follow-up is rewritten
against the assistant's real answer (its bold answer, or none when the reader held it back): what a user gets.

Printed: every rewrite (to be read: a garbled rewrite is found by reading), the share naming the right subject,
and the forms, by kind of follow-up. Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.harness import REALTIMEQA, REPO, add_save_option, has_data, load_jsonl, save_figures

FOLLOW_UPS = REPO / "bench" / "follow_up_questions.jsonl"


def answer_sentence(question: dict[str, Any], articles: dict[str, dict[str, Any]]) -> str:
    """The first sentence of a gold article stating the gold answer; the answer alone when none does verbatim."""
    from assistant.text.sentences import sentence_spans

    answer = question["answers"][0].strip('“”"')
    for article_id in question["evidence"]:
        text = articles.get(article_id, {}).get("text", "")
        for start, end in sentence_spans(text):
            if answer.lower()[:12] in text[start:end].lower():
                return text[start:end]
    return answer


def form(rewrite: str, follow_up: str) -> str:
    if rewrite == follow_up:
        return "unchanged"
    if rewrite.startswith(follow_up) and rewrite.endswith(")"):
        return "carried"
    if rewrite.count("?") > 1:
        return "two questions"
    return "question"


def right(item: dict[str, Any], rewrite: str) -> bool:
    """The rewrite names every subject; a standalone question (no follow-up at all) is also left as it was."""
    named = all(subject.lower() in rewrite.lower() for subject in item["subject"])
    return named and (item["kind"] != "standalone" or rewrite == item["follow_up"])


def gold_turn(earlier: dict[str, Any], articles: dict[str, dict[str, Any]]) -> Any:
    """The earlier exchange as if the assistant had answered right: the gold answer in bold, its sentence quoted."""
    from assistant.answer.conversation import Turn

    said = answer_sentence(earlier, articles)
    shown = earlier["answers"][0]  # the bold answer a reader saw: a right one (this measures the rewrite)
    return Turn(earlier["question"], earlier["question"], said, (said,), shown)


def asked_turn(assistant: Any, earlier: dict[str, Any]) -> Any:
    """The earlier exchange as the assistant really answers it (as of the question's date): its bold answer, or
    none when the reader held it back, and its quotes."""
    from assistant.answer.conversation import as_turns

    return as_turns([assistant.ask(earlier["question"], as_of=earlier.get("question_date"))])[0]


def run(data: Path, follow_ups: Path = FOLLOW_UPS, asked: Path | None = None) -> dict[str, Any]:
    from assistant.answer.conversation import condense

    questions = {q["id"]: q for q in load_jsonl(data / "queries_dev.jsonl")}
    articles = {a["id"]: a for a in load_jsonl(data / "corpus.jsonl")}
    assistant = _open(asked) if asked else None
    rows = []
    for item in load_jsonl(follow_ups):
        earlier = questions[item["rtqa"]]
        turn = asked_turn(assistant, earlier) if assistant else gold_turn(earlier, articles)
        rewrite = condense(item["follow_up"], [turn])
        form_ = form(rewrite, item["follow_up"])
        rows.append(
            {**item, "rewrite": rewrite, "named": right(item, rewrite), "form": form_, "bold": bool(turn.short)}
        )
    if assistant:
        assistant.close()
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(row)
    bold = [r for r in rows if r["bold"]]
    return {
        "set": str(follow_ups),
        "earlier_answers": "asked of " + str(asked) if asked else "gold",
        "follow_ups": len(rows),
        "named": sum(r["named"] for r in rows) / len(rows),
        "after_a_bold_answer": {"n": len(bold), "named": sum(r["named"] for r in bold) / max(1, len(bold))},
        "after_none": {
            "n": len(rows) - len(bold),
            "named": sum(r["named"] for r in rows if not r["bold"]) / max(1, len(rows) - len(bold)),
        },
        "forms": dict(Counter(r["form"] for r in rows)),
        "by_kind": {
            kind: {"n": len(group), "named": sum(r["named"] for r in group) / len(group)}
            for kind, group in sorted(by_kind.items())
        },
        "rows": rows,
    }


def _open(index: Path) -> Any:
    from assistant.answer.assistant import Assistant
    from assistant.embed.factory import load_embedder
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    embedder = load_embedder(settings.model, batch_size=settings.batch_size, query_threads=settings.query_threads)
    return Assistant.open(index, embedder=embedder, settings=settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument(
        "--set",
        type=Path,
        default=FOLLOW_UPS,
        help="the follow-ups to rewrite (default: the tuned set; bench/follow_up_questions_heldout.jsonl is held out)",
    )
    parser.add_argument(
        "--asked",
        type=Path,
        metavar="INDEX",
        help="ask each earlier question of this RealTime QA index and rewrite against the real answer (its bold "
        "answer or none, its quotes) instead of the gold one",
    )
    add_save_option(parser)
    args = parser.parse_args()
    if not has_data(args.data, REALTIMEQA):
        return
    figures = run(args.data, args.set, args.asked)
    for row in figures["rows"]:
        mark = "ok " if row["named"] else "MISS"
        print(f"{mark} {row['id']} [{row['kind']}, {row['form']}] {row['follow_up']}\n       → {row['rewrite']}")
    named = figures["named"]
    print(f"\n{figures['set']}: {figures['follow_ups']} follow-ups; the rewrite names the right subject: {named:.3f}")
    print("forms: " + json.dumps(figures["forms"]))
    after, none = figures["after_a_bold_answer"], figures["after_none"]
    print(
        f"after a bold answer: {after['n']}, named {after['named']:.3f}; after none: {none['n']}, {none['named']:.3f}"
    )
    print("| kind | follow-ups | names the subject |\n|---|---|---|")
    for kind, group in figures["by_kind"].items():
        print(f"| {kind} | {group['n']} | {group['named']:.3f} |")
    save_figures(args.save, figures)


if __name__ == "__main__":
    main()

"""Real pages: questions whose answers are on saved news pages and feeds, graded right / partly / wrong.

    python -m bench.real_pages [--mirror ../.mirror] [--work DIR] [--questions bench/real_pages_questions.jsonl]

The material is read from the git mirrors the ``fetch`` tool leaves beside the repository (``../.mirror``), never
copied into the repository: the article-extraction benchmark's 181 pages (``html/*.html.gz``, read gzipped as the
benchmark ships them), trafilatura's 110 saved pages (``tests/cache``) and feedparser's feeds without a declared
encoding (``tests/illformed/chardet``). All of them are indexed together, so each question competes with every
other page. Skips cleanly (prints ``skip:``, exit 0) when a mirror is absent. ``bench.answer_quality`` runs the
same set beside its RealTime QA figures (``--only real``), and measures search and ask latency with and without a
busy process on one core (``--only latency``).

Grading, per question (``answers``: what a right answer states; ``page``: where it is):
- right: the answer's lead sentence (the one it puts first, citation [1]) states one of the answers and is quoted
  from the page (``page``: part of the file name; ``a|b`` when several pages carry the story);
- partly: it is not, but a later sentence of the answer or one of its cited excerpts holds an answer, or the answer
  cites the page (the reader is one click away);
- wrong: anything else, abstentions included.
A question with ``follow_up_of`` is asked with the answer to that question as history, as the chat does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from assistant.answer.metrics import contains  # the product's own answer matching
from bench.harness import MIRROR, REAL_PAGES_QUESTIONS, ensure_index, load_jsonl, write_jsonl

# (mirror folder, paths inside the repository, name of the folder they are indexed from)
SOURCES = (
    ("scrapinghub+article-extraction-benchmark", ("html",), "aeb"),
    ("adbar+trafilatura", ("tests/cache",), "trafilatura"),
    ("kurtmckee+feedparser", ("tests/illformed/chardet",), "feedparser"),
)
GRADES = ("right", "partly", "wrong")


def extract(mirror: Path, work: Path) -> list[Path] | None:
    """Folders holding the material, extracted from the mirrors' newest commit; None when a mirror is absent."""
    folders = []
    for name, paths, label in SOURCES:
        git_dir = mirror / name / "repo"
        if not git_dir.is_dir():
            print(f"skip: no mirror of {name.replace('+', '/')} in {mirror}", file=sys.stderr)
            return None
        target = work / "material" / label
        if not target.is_dir():
            target.mkdir(parents=True)
            archive = subprocess.run(
                ["git", f"--git-dir={git_dir}", "archive", "HEAD", *paths], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        folders.append(target)
    return folders


def grade(question: dict[str, Any], answer: Any) -> str:
    if answer.abstained:
        return "wrong"
    answers, pages = question["answers"], question["page"].split("|")  # a story several pages carry
    on_page = any(page in _origin(c) for c in answer.citations for page in pages)
    lead = answer.citations[0] if answer.citations else None
    if lead is not None and any(page in _origin(lead) for page in pages) and contains(lead.quote, answers):
        return "right"
    cited = " ".join(c.excerpt for c in answer.citations)
    if on_page or contains(cited, answers) or contains(answer.text, answers):
        return "partly"
    return "wrong"


_ORIGINS: dict[str, str] = {}


def _origin(citation: Any) -> str:
    return _ORIGINS.get(citation.article_id, "")


def ask_all(assistant: Any, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask every question (follow-ups with their first turn as history); one row per question, with its grade."""
    reader = assistant.retriever.reader
    _ORIGINS.update({row[0]: row[1] or "" for row in reader.query("SELECT id, origin FROM articles")})
    answers: dict[str, Any] = {}
    rows = []
    for question in questions:
        history = [answers[question["follow_up_of"]]] if question.get("follow_up_of") else []
        answer = assistant.ask(question["question"], history=history, as_of=question.get("as_of"))
        answers[question["id"]] = answer
        rows.append(
            {
                "id": question["id"],
                "question": question["question"],
                "query": answer.query,
                "grade": grade(question, answer),
                "abstained": answer.abstained,
                "notice": answer.notice,
                "answer": answer.text,
                "ms": answer.timings["total"],
            }
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {g: sum(r["grade"] == g for r in rows) for g in GRADES} | {"questions": len(rows)}


def run(mirror: Path, work: Path, questions_file: Path, embedder: Any, settings: Any) -> list[dict[str, Any]] | None:
    """Rows for every question, or None when the material is absent."""
    from assistant.answer.assistant import Assistant

    folders = extract(mirror, work)
    if folders is None:
        return None
    index = ensure_index(folders, work / "index-real", embedder, settings)
    with Assistant.open(index, embedder=embedder, settings=settings) as assistant:
        return ask_all(assistant, load_jsonl(questions_file))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--work", type=Path, help="Where material and index go (kept, reused by later runs).")
    parser.add_argument("--questions", type=Path, default=REAL_PAGES_QUESTIONS)
    parser.add_argument("--dump", type=Path, help="Write every answer as JSON lines here.")
    args = parser.parse_args()
    from assistant.embed.factory import embedder_from_settings
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    work = args.work or Path(tempfile.mkdtemp(prefix="real-pages-"))
    rows = run(args.mirror, work, args.questions, embedder_from_settings(settings), settings)
    if rows is None:
        return 0
    for row in rows:
        print(f"{row['grade']:>6}  {row['id']:<22} {row['question']}")
    print(json.dumps(summary(rows)))
    if args.dump:
        write_jsonl(args.dump, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``assistant search``, ``ask`` and ``eval``: passages, answers with their sources, and figures on your questions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import InputError
from ..settings import get_settings
from .options import emit, errors, filter_options, index_option, json_option

if TYPE_CHECKING:
    from ..answer.conversation import Turn


@click.command("search")
@click.argument("question")
@click.option("-k", "--k", "k", type=click.IntRange(1, 200), default=None, help="Passages to return (default 8).")
@filter_options
@index_option
@json_option
@errors
def search(
    question: str,
    k: int | None,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    as_of: str | None,
    index_dir: Path | None,
    as_json: bool,
) -> None:
    """Print the passages that best answer QUESTION."""
    from ..retrieve.filters import Filters
    from ..retrieve.retriever import Retriever

    settings = get_settings(index_dir=index_dir)
    filters = Filters.of(as_of=as_of, since=since, until=until, sources=sources, k=k)
    with Retriever.open(settings.index_dir, settings=settings) as retriever:
        hits = retriever.search(question, filters=filters)
        generation = retriever.generation
    if as_json:
        emit({"query": question, "generation": generation, "hits": [hit.to_dict() for hit in hits]})
        return
    if not hits:
        click.echo("no passages match (check --since/--until/--source/--as-of)")
    for rank, hit in enumerate(hits, 1):
        meta = " · ".join(part for part in (hit.source, hit.date) if part)
        click.echo(f"[{rank}] {hit.title}" + (f" ({meta})" if meta else ""))
        click.echo(f"    score {hit.score:.4f} · chars {hit.start}–{hit.end} · {hit.article_id}")
        click.echo("    " + hit.text.replace("\n", "\n    "))
        click.echo()


@click.command("ask")
@click.argument("question")
@click.option("--llm", "use_llm", is_flag=True, help="Answer with the OpenAI-compatible endpoint in the settings.")
@click.option("--llm-url", default=None, help="Endpoint base URL, e.g. http://127.0.0.1:8080/v1 (implies --llm).")
@click.option("--llm-model", default=None, help="Model name to request from the endpoint.")
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Earlier turns for a follow-up: JSON (a list, or lines) of `ask --json` outputs or {question, text}.",
)
@click.option("-k", "--k", "k", type=click.IntRange(1, 200), default=None, help="Passages to retrieve (default 8).")
@click.option(
    "--timeline/--no-timeline",
    default=None,
    help="Answer with a dated timeline of the story (default: when the question asks about a story).",
)
@click.option(
    "--generation", type=click.IntRange(1), default=None, help="Answer from this index generation, while it is kept."
)
@filter_options
@index_option
@json_option
@errors
def ask(
    question: str,
    use_llm: bool,
    llm_url: str | None,
    llm_model: str | None,
    history_file: Path | None,
    k: int | None,
    timeline: bool | None,
    generation: int | None,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
    as_of: str | None,
    index_dir: Path | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the indexed articles: the direct answer first, then the quoted evidence, the
    coverage, and numbered sources you can check."""
    from ..answer.assistant import Assistant
    from ..retrieve.filters import Filters

    settings = get_settings(index_dir=index_dir, llm_base_url=llm_url, llm_model=llm_model)
    filters = Filters.of(as_of=as_of, since=since, until=until, sources=sources, k=k)
    answerer = "llm" if (use_llm or llm_url) else "extractive"
    history = _read_history(history_file) if history_file else []
    with Assistant.open(settings.index_dir, settings=settings, answerer=answerer) as assistant:
        stream = assistant.stream(
            question,
            history,
            filters=filters,
            timeline=timeline,
            generation=generation,
        )
        if as_json:
            emit(stream.answer.to_dict())
            return
        if answerer == "llm":  # a model's tokens are worth seeing as they come; its short answer follows them
            for piece in stream:
                click.echo(piece, nl=False)
            click.echo()
        answer = stream.answer
    if answer.short_answer is not None:
        short = answer.short_answer
        if answerer == "llm":
            click.echo()
        click.echo(click.style(short.text, bold=True) + f" [{short.citation}]")
        click.echo()
    elif answer.held_back_line:
        click.echo(answer.held_back_line)
        click.echo()
    if answerer != "llm":
        click.echo(answer.text)
    if answer.notice:
        click.echo(f"note: {answer.notice}", err=True)
    click.echo()
    if answer.coverage is not None:
        click.echo(answer.coverage.line)
        click.echo()
    click.echo("Closest passages:" if answer.abstained else "Sources:")
    for citation in answer.citations:
        meta = " · ".join(part for part in (citation.source, citation.date) if part)
        flag = "" if citation.supported else "  (does not support the sentence citing it)"
        click.echo(f"[{citation.number}] {citation.title}" + (f" ({meta})" if meta else "") + flag)
        if citation.url:
            click.echo(f"    {citation.url}")
        click.echo(f"    “{citation.quote}”")
    for sentence in answer.unsupported:
        click.echo(f"unsupported by the excerpts: {sentence}", err=True)


@click.command("eval")
@click.argument(
    "questions_file", metavar="QUESTIONS.jsonl", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--llm-url", default=None, help="Answer with this OpenAI-compatible endpoint instead.")
@index_option
@json_option
@errors
def evaluate(questions_file: Path, llm_url: str | None, index_dir: Path | None, as_json: bool) -> None:
    """Ask every question of QUESTIONS.jsonl and score the answers: retrieval recall@k and MRR, gold answer in
    the answer and in the cited excerpts, short-answer F1, abstentions.

    One JSON object a line: question, and optionally answer (string or list), gold (article ids or URLs),
    as_of (YYYY-MM-DD), absent (true: the articles do not answer it).
    """
    from tqdm import tqdm

    from ..answer.assistant import Assistant
    from ..answer.evaluation import evaluate as run
    from ..answer.evaluation import load_questions, summarise

    questions = load_questions(questions_file)
    settings = get_settings(index_dir=index_dir, llm_base_url=llm_url)
    answerer = "llm" if llm_url else "extractive"
    bar = tqdm(total=len(questions), desc="questions", unit="q", file=sys.stderr, disable=not settings.progress)

    def advance(done: int, total: int) -> None:
        bar.update(done - bar.n)

    with Assistant.open(settings.index_dir, settings=settings, answerer=answerer) as assistant, bar:
        rows = run(assistant, questions, progress=advance)
        generation = assistant.retriever.generation
    figures = {"index": str(settings.index_dir), "generation": generation, **summarise(rows)}
    if as_json:
        emit({**figures, "rows": rows})
        return
    click.echo(f"{figures['questions']} questions on {settings.index_dir} (generation {generation})")
    for section in ("retrieval", "answers", "abstentions"):
        values = ", ".join(f"{key} {_figure(value)}" for key, value in figures[section].items())
        click.echo(f"{section + ':':13}{values}")


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _read_history(path: Path) -> list[Turn]:
    """Turns from a JSON list or JSON lines: `ask --json` outputs (their direct answer and quotes kept for the
    follow-up to read), or objects with question and text/answer."""
    from ..answer.conversation import Turn

    raw = path.read_text(encoding="utf-8").strip()
    try:
        whole = json.loads(raw)
        items = whole if isinstance(whole, list) else [whole]
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(raw.splitlines(), 1):
            try:
                items.extend([json.loads(line)] if line.strip() else [])
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON: {exc.msg}", path=path, line=number) from exc
    turns: list[Turn] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise InputError("each turn needs a 'question' string", path=path, line=number, field="question")
        answered = not item.get("abstained")
        short = item.get("short_answer") if answered else None
        listed = item.get("citations")
        cited: list[Any] = listed if answered and isinstance(listed, list) else []
        turns.append(
            Turn(
                item["question"],
                str(item.get("query") or item["question"]),
                str(item.get("text") or item.get("answer") or ""),
                tuple(str(c.get("quote") or "") for c in cited if isinstance(c, dict)),
                str(short.get("text") or "") if isinstance(short, dict) else "",
            )
        )
    return turns

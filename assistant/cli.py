"""The ``assistant`` command: build, update and inspect an index, search it, ask it, and evaluate it on your questions.

Data goes to stdout (``--json`` for machines), progress and logs to stderr. Errors from the library become a
one-line message and the exit code listed in :mod:`assistant.errors`; a disk that fills up while the index is
written exits with ``DISK_FULL_EXIT`` (12).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import EXIT_CODES, AssistantError, ConfigError, InputError, exit_code
from .settings import get_settings

if TYPE_CHECKING:
    from .index.update import IndexSummary

# Not an AssistantError: the library reports a full disk as the OSError it is (the index writer names the index
# folder in it), so callers can match on errno.
DISK_FULL_EXIT = 12

index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory (default: ASSISTANT_INDEX_DIR or index/).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--since, --until, --source and --as-of: which articles a question may be answered from."""
    for option in reversed(
        [
            click.option("--since", default=None, help="Only articles published on or after (YYYY[-MM[-DD]])."),
            click.option("--until", default=None, help="Only articles published on or before (YYYY[-MM[-DD]])."),
            click.option("--source", "sources", multiple=True, help="Only this outlet (repeatable)."),
            click.option("--as-of", "as_of", default=None, help="Ask as of this day: later articles are excluded."),
        ]
    ):
        func = option(func)
    return func


def _errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AssistantError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exit_code(exc))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = exc.filename or kwargs.get("index_dir") or "the index folder"
            click.echo(
                f"error: disk full while writing the index in {where}: [Errno {exc.errno}] {exc.strerror}; "
                "the previous index is unchanged",
                err=True,
            )
            sys.exit(DISK_FULL_EXIT)

    return wrapper


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-vv for debug).")
@click.version_option(package_name="newsqa-assistant")
def cli(verbose: int) -> None:
    """Ask questions of news articles and get answers you can check, offline."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@cli.group()
def index() -> None:
    """Build, update, inspect and check the index."""


def _print_summary(summary: IndexSummary, as_json: bool, index_dir: Path) -> None:
    if as_json:
        _emit(summary.to_dict())
        return
    counts = summary.counts()
    state = f"generation {summary.generation}" if summary.published else "no change"
    click.echo(
        f"{index_dir}: {state} — {summary.articles} articles, {summary.chunks} chunks "
        f"({summary.embedded_chunks} chunks embedded in {summary.seconds:.1f}s)"
    )
    click.echo("  " + ", ".join(f"{name} {value}" for name, value in counts.items()))
    for skipped in summary.skipped:
        click.echo(f"  skipped {skipped.describe()}")


def _run_update(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool, **options: Any) -> None:
    from .index.update import update_index

    settings = get_settings(index_dir=index_dir)
    inputs = list(paths) or [settings.corpus_dir]
    summary = update_index(inputs, settings.index_dir, settings=settings, **options)
    _print_summary(summary, as_json, settings.index_dir)


@index.command("build")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@json_option
@_errors
def index_build(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool) -> None:
    """Index PATHS (files, folders, globs; default: the corpus folder) from scratch.

    The previous index keeps answering until the new one is complete.
    """
    _run_update(paths, index_dir, as_json, rebuild=True)


@index.command("update")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--keep-missing", is_flag=True, help="Keep articles whose files are gone.")
@index_option
@json_option
@_errors
def index_update(paths: tuple[Path, ...], keep_missing: bool, index_dir: Path | None, as_json: bool) -> None:
    """Embed new and changed articles from PATHS; drop those whose files are gone. Creates the index if needed."""
    _run_update(paths, index_dir, as_json, prune=not keep_missing)


@index.command("remove")
@click.argument("ids", nargs=-1, required=True)
@index_option
@json_option
@_errors
def index_remove(ids: tuple[str, ...], index_dir: Path | None, as_json: bool) -> None:
    """Remove articles by id (see `assistant index info --articles`)."""
    from .index.update import remove_articles

    settings = get_settings(index_dir=index_dir)
    summary = remove_articles(list(ids), settings.index_dir, settings=settings)
    _print_summary(summary, as_json, settings.index_dir)
    if not summary.removed:
        sys.exit(EXIT_CODES[InputError])


@index.command("info")
@click.option("--articles", "list_articles", is_flag=True, help="Also list every article.")
@index_option
@json_option
@_errors
def index_info(list_articles: bool, index_dir: Path | None, as_json: bool) -> None:
    """Articles, chunks, dates, sources, model, generation and size of the index."""
    from .index.info import describe_index

    settings = get_settings(index_dir=index_dir)
    info = describe_index(settings.index_dir, with_articles=list_articles)
    if as_json:
        _emit(info)
        return
    click.echo(f"index:       {info['path']} (generation {info['generation']}, created {info['created_at']})")
    click.echo(f"articles:    {info['articles']}")
    click.echo(f"chunks:      {info['chunks']}")
    dates = info["date_range"]
    click.echo(f"dates:       {dates['first'] or '-'} … {dates['last'] or '-'} ({dates['undated']} undated)")
    click.echo("sources:     " + (", ".join(f"{s['source']} ({s['articles']})" for s in info["sources"]) or "-"))
    click.echo(f"model:       {info['model']['identity']} (dimension {info['model']['dimension']})")
    chunker = info["chunker"]
    click.echo(f"chunker:     {chunker['chunk_size']} chars, overlap {chunker['chunk_overlap']}")
    click.echo(f"size:        {info['bytes'] / 1e6:.1f} MB on disk")
    for article in info.get("article_list", []):
        click.echo(f"  {article['id']}\t{article['date'] or '-'}\t{article['source'] or '-'}\t{article['title']}")


@index.command("verify")
@index_option
@json_option
@_errors
def index_verify(index_dir: Path | None, as_json: bool) -> None:
    """Check checksums, SQLite integrity and that vectors and chunks agree. Exits 6 on any problem."""
    from .index.integrity import check_index

    settings = get_settings(index_dir=index_dir)
    manifest, problems = check_index(settings.index_dir)
    if as_json:
        _emit({"ok": not problems, "generation": manifest and manifest.get("generation"), "problems": problems})
    elif problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
    else:
        assert manifest is not None
        click.echo(
            f"ok: generation {manifest['generation']}, {manifest['counts']['articles']} articles, "
            f"{manifest['counts']['chunks']} chunks, checksums match"
        )
    if problems:
        sys.exit(6)


@cli.command("search")
@click.argument("question")
@click.option("-k", "--k", "k", type=click.IntRange(1, 200), default=None, help="Passages to return (default 8).")
@filter_options
@index_option
@json_option
@_errors
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
    from .retrieve.retriever import Retriever

    settings = get_settings(index_dir=index_dir)
    with Retriever.open(settings.index_dir, settings=settings) as retriever:
        hits = retriever.search(question, k, since=since, until=until, sources=sources or None, as_of=as_of)
        generation = retriever.generation
    if as_json:
        _emit({"query": question, "generation": generation, "hits": [hit.to_dict() for hit in hits]})
        return
    if not hits:
        click.echo("no passages match (check --since/--until/--source/--as-of)")
    for rank, hit in enumerate(hits, 1):
        meta = " · ".join(part for part in (hit.source, hit.date) if part)
        click.echo(f"[{rank}] {hit.title}" + (f" ({meta})" if meta else ""))
        click.echo(f"    score {hit.score:.4f} · chars {hit.start}–{hit.end} · {hit.article_id}")
        click.echo("    " + hit.text.replace("\n", "\n    "))
        click.echo()


@cli.command("ask")
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
@_errors
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
    from .answer.assistant import Assistant

    settings = get_settings(index_dir=index_dir, llm_base_url=llm_url, llm_model=llm_model)
    answerer = "llm" if (use_llm or llm_url) else "extractive"
    history = _read_history(history_file) if history_file else []
    with Assistant.open(settings.index_dir, settings=settings, answerer=answerer) as assistant:
        stream = assistant.stream(
            question,
            history,
            as_of=as_of,
            since=since,
            until=until,
            sources=sources or None,
            k=k,
            timeline=timeline,
            generation=generation,
        )
        if as_json:
            _emit(stream.answer.to_dict())
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


@cli.command("eval")
@click.argument(
    "questions_file", metavar="QUESTIONS.jsonl", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--llm-url", default=None, help="Answer with this OpenAI-compatible endpoint instead.")
@index_option
@json_option
@_errors
def evaluate(questions_file: Path, llm_url: str | None, index_dir: Path | None, as_json: bool) -> None:
    """Ask every question of QUESTIONS.jsonl and score the answers: retrieval recall@k and MRR, gold answer in
    the answer and in the cited excerpts, short-answer F1, abstentions.

    One JSON object a line: question, and optionally answer (string or list), gold (article ids or URLs),
    as_of (YYYY-MM-DD), absent (true: the articles do not answer it).
    """
    from tqdm import tqdm

    from .answer.assistant import Assistant
    from .answer.evaluation import evaluate as run
    from .answer.evaluation import load_questions, summarise

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
        _emit({**figures, "rows": rows})
        return
    click.echo(f"{figures['questions']} questions on {settings.index_dir} (generation {generation})")
    for section in ("retrieval", "answers", "abstentions"):
        values = ", ".join(f"{key} {_figure(value)}" for key, value in figures[section].items())
        click.echo(f"{section + ':':13}{values}")


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _read_history(path: Path) -> list[dict[str, Any]] | list[tuple[str, str]]:
    """Turns from a JSON list or JSON lines: `ask --json` outputs, or objects with question and text/answer."""
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
    turns: list[tuple[str, str]] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise InputError("each turn needs a 'question' string", path=path, line=number, field="question")
        turns.append((item.get("query") or item["question"], str(item.get("text") or item.get("answer") or "")))
    return turns


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface; others need ASSISTANT_UI_AUTH.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Articles to build the index from when there is none (default: corpus/).",
)
@index_option
@_errors
def serve(host: str, port: int, corpus_dir: Path | None, index_dir: Path | None) -> None:
    """Open the chat page in the browser at http://HOST:PORT (building the index on first start)."""
    try:
        from assistant_ui.app import serve as run
    except ImportError as exc:
        raise ConfigError(f"the chat page needs gradio and the assistant_ui package: pip install -e . ({exc})") from exc
    run(get_settings(index_dir=index_dir, corpus_dir=corpus_dir), host=host, port=port)


def main() -> None:
    cli(prog_name="assistant")


if __name__ == "__main__":
    main()

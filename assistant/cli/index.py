"""``assistant index``: build, update, remove from, describe and check the index."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..documents import Skipped
from ..errors import EXIT_CODES, InputError
from ..settings import get_settings
from .options import emit, errors, index_option, json_option

if TYPE_CHECKING:
    from ..indexing.summary import IndexSummary
    from ..watch.records import WatchedQuestion


@click.group()
def index() -> None:
    """Build, update, inspect and check the index."""


def _print_summary(summary: IndexSummary, as_json: bool, index_dir: Path) -> None:
    changed = _watched_changes(index_dir) if summary.published else []
    if as_json:
        emit({**summary.to_dict(), "watched_changed": [question.to_dict() for question in changed]})
        return
    counts = summary.counts()
    state = f"generation {summary.generation}" if summary.published else "no change"
    click.echo(
        f"{index_dir}: {state} — {summary.articles} articles, {summary.chunks} chunks "
        f"({summary.embedded_chunks} chunks embedded in {summary.seconds:.1f}s)"
    )
    click.echo("  " + ", ".join(f"{name} {value}" for name, value in counts.items()))
    for line in Skipped.summarised(summary.skipped):
        click.echo(f"  skipped {line}")
    for line in Skipped.summarised(summary.warnings):
        click.echo(f"  warning {line}")
    if summary.kept_out:
        click.echo(
            f"  kept out {len(summary.kept_out)} article(s) removed with `assistant index remove` "
            "(listed by `assistant index info`; name the file itself in an update to add it back)"
        )
    for question in changed:
        click.echo(f"watched question [{question.id}] changed: {question.question}")
        for change in question.changes:
            click.echo(f"  {change}")


def _watched_changes(index_dir: Path) -> list[WatchedQuestion]:
    """The watched questions whose answer this update changed (asked again only when some are watched)."""
    from ..watch.state import WatchState, watch_folder
    from ..watch.watcher import Watcher

    settings = get_settings(index_dir=index_dir)
    if not WatchState.exists(watch_folder(index_dir, settings)):
        return []
    with Watcher(index_dir, settings=settings) as watcher:
        return watcher.recheck()


def _run_update(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool, **options: Any) -> None:
    from ..indexing.update import update_index

    settings = get_settings(index_dir=index_dir)
    inputs = list(paths) or [settings.corpus_dir]
    summary = update_index(inputs, settings.index_dir, settings=settings, **options)
    _print_summary(summary, as_json, settings.index_dir)


ray_option = click.option(
    "--ray",
    "ray",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Read, chunk and embed on a Ray cluster: ADDRESS (host:port), else RAY_ADDRESS, else a local Ray instance.",
)


@index.command("build")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@ray_option
@index_option
@json_option
@errors
def index_build(paths: tuple[Path, ...], ray: str | None, index_dir: Path | None, as_json: bool) -> None:
    """Index PATHS (files, folders, globs; default: the corpus folder) from scratch.

    The previous index keeps answering until the new one is complete.
    """
    _run_update(paths, index_dir, as_json, rebuild=True, ray=ray)


@index.command("update")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--keep-missing", is_flag=True, help="Keep articles whose files are gone.")
@ray_option
@index_option
@json_option
@errors
def index_update(
    paths: tuple[Path, ...], keep_missing: bool, ray: str | None, index_dir: Path | None, as_json: bool
) -> None:
    """Embed new and changed articles from PATHS; drop those whose files are gone. Creates the index if needed."""
    _run_update(paths, index_dir, as_json, prune=not keep_missing, ray=ray)


@index.command("remove")
@click.argument("ids", nargs=-1, required=True, metavar="ID|URL|PATH...")
@index_option
@json_option
@errors
def index_remove(ids: tuple[str, ...], index_dir: Path | None, as_json: bool) -> None:
    """Remove articles by id, URL or file path (ids: `assistant index info --articles`).

    The index remembers them: updating their folder does not bring them back (naming the file itself does).
    """
    from ..indexing.update import remove_articles

    settings = get_settings(index_dir=index_dir)
    summary = remove_articles(list(ids), settings.index_dir, settings=settings)
    _print_summary(summary, as_json, settings.index_dir)
    if not summary.removed:
        sys.exit(EXIT_CODES[InputError])


@index.command("optimize")
@index_option
@json_option
@errors
def index_optimize(index_dir: Path | None, as_json: bool) -> None:
    """Merge the index's segments into one and drop removed passages for good (same generation, same answers)."""
    from ..indexing.update import optimize_index

    settings = get_settings(index_dir=index_dir)
    summary = optimize_index(settings.index_dir, settings=settings)
    if as_json:
        emit(summary.to_dict())
        return
    from ..index.location import milvus_address

    merges = f"{summary.merges} merge{'s' if summary.merges != 1 else ''}"
    done = (
        "; Milvus asked to compact its segments ("
        if milvus_address(settings.index_dir)
        else f" in one segment ({merges}, "
    )
    click.echo(
        f"{settings.index_dir}: generation {summary.generation} — {summary.articles} articles, {summary.chunks} "
        f"chunks{done}{summary.seconds:.1f}s)"
    )


@index.command("info")
@click.option("--articles", "list_articles", is_flag=True, help="Also list every article.")
@index_option
@json_option
@errors
def index_info(list_articles: bool, index_dir: Path | None, as_json: bool) -> None:
    """Articles, chunks, dates, sources, model, generation and size of the index."""
    from ..index.store import describe_index

    settings = get_settings(index_dir=index_dir)
    info = describe_index(settings.index_dir, with_articles=list_articles, settings=settings)
    if as_json:
        body = asdict(info)
        if info.article_list is None:
            body.pop("article_list")
        emit(body)
        return
    dates = info.date_range
    click.echo(f"index:       {info.path} (generation {info.generation}, created {info.created_at})")
    click.echo(f"articles:    {info.articles}")
    click.echo(f"chunks:      {info.chunks}")
    click.echo(f"dates:       {dates.first or '-'} … {dates.last or '-'} ({dates.undated} undated)")
    click.echo("sources:     " + (", ".join(f"{s.source} ({s.articles})" for s in info.sources) or "-"))
    click.echo(f"model:       {info.model.identity} (dimension {info.model.dimension})")
    click.echo(f"chunker:     {info.chunker.chunk_size} chars, overlap {info.chunker.chunk_overlap}")
    click.echo(f"segments:    {info.segments if info.segments is not None else 'managed by Milvus'}")
    click.echo(f"size:        {info.bytes / 1e6:.1f} MB on disk" if info.bytes else "size:        on the server")
    if info.removed:
        click.echo(f"removed:     {len(info.removed)} (kept out of updates until their file is named itself)")
        for item in info.removed:
            click.echo(f"  {item.id}\tremoved {item.removed_at[:10]}\t{item.title or '-'}")
    for article in info.article_list or ():
        click.echo(f"  {article.id}\t{article.date or '-'}\t{article.source or '-'}\t{article.title}")


@index.command("verify")
@index_option
@json_option
@errors
def index_verify(index_dir: Path | None, as_json: bool) -> None:
    """Check checksums, SQLite integrity and that vectors and chunks agree. Exits 6 on any problem."""
    from ..index.store import backend_for

    settings = get_settings(index_dir=index_dir)
    checked = backend_for(settings.index_dir, settings).check()
    commit, problems = checked.commit, checked.problems
    if as_json:
        emit({"ok": not problems, "generation": commit and commit.generation, "problems": list(problems)})
    elif problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
    else:
        assert commit is not None
        click.echo(
            f"ok: generation {commit.generation}, {commit.counts.articles} articles, {commit.counts.chunks} chunks, "
            "checksums match"
        )
    if problems:
        sys.exit(6)

"""Building and updating an index: read articles, chunk, embed only what changed, publish a new generation."""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..documents import Article, Skipped
from ..errors import ConfigError, IndexNotFoundError, NothingIndexedError
from ..ingest.discovery import discover
from ..ingest.duplicates import DuplicateFilter, newest_versions
from ..ingest.loading import load_file, path_id
from ..settings import Settings, get_settings
from .chunking import SPLITTER_NAME, chunk_article, embedding_text
from .embedding import Embedder, embedder_from_settings
from .layout import check_model, current_generation, read_manifest
from .writer import IndexWriter

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Articles embedded per group: bounds memory on big corpora while keeping model batches full.
_GROUP = 256

ProgressCallback = Callable[[int, int, int, int], None]
"""Called with (articles done, articles to embed, chunks done, chunks to embed)."""


@dataclass
class IndexSummary:
    """What a build, update or removal did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)  # indexed, but something in it was ignored
    kept_out: list[str] = field(default_factory=list)  # found in the inputs, but removed with `index remove`
    embedded_chunks: int = 0
    articles: int = 0
    chunks: int = 0
    generation: int | None = None
    published: bool = False
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
        }

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["counts"] = self.counts()
        for name in ("skipped", "warnings"):
            body[name] = [{"origin": s.origin, "line": s.line, "reason": s.reason} for s in getattr(self, name)]
        return body


def model_record(embedder: Embedder) -> dict[str, Any]:
    return {"name": embedder.name, "identity": embedder.identity, "dimension": int(embedder.dimension)}


def chunker_record(settings: Settings) -> dict[str, Any]:
    return {
        "splitter": SPLITTER_NAME,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "embeds_title": True,
    }


def _path_ids(rows: dict[str, Any]) -> dict[str, str]:
    """The id of each indexed (or removed) file whose id is its path ("odd/enc/a.txt" for .../odd/enc/a.txt)."""
    ids: dict[str, str] = {}
    for article_id, row in rows.items():
        file = row["file"]
        if file and (Path(file).name == article_id or Path(file).as_posix().endswith("/" + article_id)):
            ids[file] = article_id
    return ids


def _in_scope(file: str, inputs: Sequence[str | Path]) -> bool:
    """Whether an indexed file was covered by this update's inputs, so its absence means it is gone."""
    path = Path(file)
    for raw in inputs:
        target = Path(raw).expanduser()
        if glob.has_magic(str(raw)):
            # Stored paths are resolved; the pattern may run through a symlinked folder, so try both spellings.
            patterns = (os.path.abspath(target), str(target.resolve().parent / target.name))
            if any(fnmatch.fnmatch(str(path), pattern) for pattern in patterns):
                return True
            continue
        resolved = target.resolve()
        if path == resolved or (target.is_dir() and path.is_relative_to(resolved)):
            return True
    return False


class _Run:
    """One writer session: classify inputs against the index, embed what changed, publish."""

    def __init__(
        self,
        writer: IndexWriter,
        embedder: Embedder,
        settings: Settings,
        summary: IndexSummary,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.writer = writer
        self.embedder = embedder
        self.settings = settings
        self.summary = summary
        self.on_progress = on_progress

    def apply(self, inputs: Sequence[str | Path], *, prune: bool) -> bool:
        """Returns whether anything was read successfully."""
        pairs, skipped = discover(inputs)
        self.summary.skipped.extend(skipped)
        loaded: list[tuple[Article, str, str]] = []
        clean_files: set[str] = set()
        existing = self.writer.articles()
        kept_ids = _path_ids({**self.writer.removed(), **existing})
        files = self._progress(pairs, "reading", "file")
        for folder, path in files:
            articles, problems = load_file(
                path, folder, max_bytes=self.settings.max_file_bytes, warnings=self.summary.warnings
            )
            self.summary.skipped.extend(problems)
            file = str(path.resolve())
            if not problems:
                clean_files.add(file)
            anchor = path_id(path, folder)
            # A file indexed before keeps its id, whichever parent folder is named this time.
            known = kept_ids.get(file)
            loaded.extend(
                (dataclasses.replace(a, id=known) if known and a.id == anchor else a, file, str(folder.resolve()))
                for a in articles
            )
        files.close()
        newest, superseded = newest_versions([article for article, _, _ in loaded])
        self.summary.skipped.extend(superseded)
        kept = {id(article) for article in newest}
        loaded = [entry for entry in loaded if id(entry[0]) in kept]
        loaded = self._without_removed(loaded, inputs)
        loaded_ids = {article.id for article, _, _ in loaded}
        gone: list[str] = []
        if prune:
            # Gone means: covered by these inputs, and its file vanished or was read cleanly without it.
            # A file that failed to read keeps its articles: bad input never loses indexed data.
            gone = [
                article_id
                for article_id, row in existing.items()
                if article_id not in loaded_ids
                and row["file"]
                and _in_scope(row["file"], inputs)
                and (not Path(row["file"]).exists() or row["file"] in clean_files)
            ]
        # Built after pruning, so a renamed file is re-indexed under its new id instead of skipped as a copy.
        duplicates = DuplicateFilter(
            {row["copy_hash"]: article_id for article_id, row in existing.items() if article_id not in gone}
        )
        todo: list[tuple[Article, str, str]] = []
        for article, file, root in loaded:
            if (refusal := duplicates.refusal(article)) is not None:
                self.summary.skipped.append(refusal)
                continue
            old = existing.get(article.id)
            duplicates.admit(article, replaces=old["copy_hash"] if old is not None else None)
            if old is not None and old["content_hash"] == article.content_hash:
                self.summary.unchanged += 1
                continue
            (self.summary.changed if old is not None else self.summary.added).append(article.id)
            todo.append((article, file, root))
        self.writer.remove(gone)
        self.summary.removed.extend(gone)
        self._embed(todo)
        return bool(loaded) or bool(self.summary.kept_out)

    def _without_removed(
        self, loaded: list[tuple[Article, str, str]], inputs: Sequence[str | Path]
    ) -> list[tuple[Article, str, str]]:
        """Articles removed with ``index remove`` stay out, unless their file is named itself (not its folder)."""
        removed = self.writer.removed()
        if not removed:
            return loaded
        named = {str(Path(raw).resolve()) for raw in inputs if Path(raw).is_file()}
        back = [article.id for article, file, _ in loaded if article.id in removed and file in named]
        self.writer.forget_removed(back)
        self.summary.kept_out.extend(a.id for a, file, _ in loaded if a.id in removed and file not in named)
        return [entry for entry in loaded if entry[0].id not in removed or entry[1] in named]

    def _progress(self, items: Sequence[_T], desc: str, unit: str) -> tqdm[_T]:
        from tqdm import tqdm

        return tqdm(
            items,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            leave=False,
            disable=not self.settings.progress or len(items) < 2,
        )

    def _embed(self, todo: list[tuple[Article, str, str]]) -> None:
        from tqdm import tqdm

        planned = [
            (
                a,
                chunk_article(a, size=self.settings.chunk_size, overlap=self.settings.chunk_overlap),
                file,
                root,
            )
            for a, file, root in todo
        ]
        total_chunks = sum(len(chunks) for _, chunks, _, _ in planned)
        bar = tqdm(
            total=total_chunks,
            desc="embedding",
            unit="chunk",
            file=sys.stderr,
            disable=not self.settings.progress or total_chunks == 0,
        )
        done_chunks = 0
        try:
            for offset in range(0, len(planned), _GROUP):
                group = planned[offset : offset + _GROUP]
                texts = [embedding_text(a.title, c.text) for a, chunks, _, _ in group for c in chunks]
                vectors = self.embedder.embed(texts)
                if vectors.shape[1:] != (self.embedder.dimension,):
                    raise ConfigError(f"embedder returned vectors of shape {vectors.shape}")
                cursor = 0
                for article, chunks, file, root in group:
                    self.writer.remove([article.id])
                    self.writer.add(article, chunks, vectors[cursor : cursor + len(chunks)], file=file, root=root)
                    cursor += len(chunks)
                done_chunks += len(texts)
                bar.update(len(texts))
                bar.set_postfix(articles=f"{min(offset + _GROUP, len(planned))}/{len(planned)}")
                if self.on_progress:
                    self.on_progress(min(offset + _GROUP, len(planned)), len(planned), done_chunks, total_chunks)
        finally:
            bar.close()
        self.summary.embedded_chunks += done_chunks


def _check_compatible(manifest: dict[str, Any], directory: Path, embedder: Embedder, settings: Settings) -> None:
    check_model(manifest, embedder.identity, directory)
    old = {k: manifest["chunker"].get(k) for k in ("chunk_size", "chunk_overlap")}
    new = {k: chunker_record(settings)[k] for k in old}
    if old != new:
        raise ConfigError(f"the index was chunked with {old}, settings say {new}: rebuild with `assistant index build`")


def update_index(
    inputs: Sequence[str | Path],
    index_dir: str | Path | None = None,
    *,
    rebuild: bool = False,
    prune: bool = True,
    embedder: Embedder | None = None,
    settings: Settings | None = None,
    on_progress: ProgressCallback | None = None,
) -> IndexSummary:
    """Bring the index in line with ``inputs``: embed new and changed articles, drop those whose files are gone.

    With ``rebuild`` the new generation starts empty (the old one stays live until it is complete).
    Creates the index when there is none.
    """
    settings = settings or get_settings()
    index_dir = Path(index_dir) if index_dir is not None else settings.index_dir
    started = time.perf_counter()
    embedder = embedder or embedder_from_settings(settings)
    summary = IndexSummary()
    with IndexWriter(
        index_dir,
        model=model_record(embedder),
        chunker=chunker_record(settings),
        fresh=rebuild,
        keep_generations=settings.keep_generations,
    ) as writer:
        starting_empty = rebuild or writer.base_manifest is None
        if writer.base_manifest is not None:
            _check_compatible(writer.base_manifest, index_dir, embedder, settings)
        run = _Run(writer, embedder, settings, summary, on_progress)
        any_read = run.apply(inputs, prune=prune)
        if starting_empty and not any_read:
            raise NothingIndexedError(
                "no article could be indexed; nothing was written. Problems: "
                + ("; ".join(s.describe() for s in summary.skipped[:20]) or "no input files")
            )
        writer.roots |= {str(Path(p).resolve()) for p in inputs if Path(p).is_dir()}
        # base_manifest is None only when starting empty; naming it lets mypy see the else branch has one.
        if writer.base_manifest is None or starting_empty or summary.added or summary.changed or summary.removed:
            manifest = writer.commit()
            summary.published = True
        else:
            manifest = writer.base_manifest
    summary.generation = int(manifest["generation"])
    summary.articles = manifest["counts"]["articles"]
    summary.chunks = manifest["counts"]["chunks"]
    summary.seconds = time.perf_counter() - started
    logger.info("index %s: %s", index_dir, summary.counts())
    return summary


def build_index(inputs: Sequence[str | Path], index_dir: str | Path | None = None, **options: Any) -> IndexSummary:
    """A fresh index of exactly ``inputs``, published atomically over any previous one."""
    return update_index(inputs, index_dir, rebuild=True, **options)


def _targets(target: str, existing: dict[str, Any]) -> list[str]:
    """The ids ``target`` names: an article id, an article's URL, or a file (every article read from it)."""
    if target in existing:
        return [target]
    by_url = [article_id for article_id, row in existing.items() if row["url"] and row["url"] == target.strip()]
    if by_url:
        return by_url
    file = str(Path(target).expanduser().resolve())
    return [article_id for article_id, row in existing.items() if row["file"] == file]


def remove_articles(
    article_ids: Sequence[str],
    index_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
) -> IndexSummary:
    """Remove articles named by id, URL or file path; unknown ones are reported as skipped.

    Removals are remembered in the index: an update of their folder keeps them out (listed in ``kept_out``)
    until their file is named itself in an update. ``index info`` lists them.
    """
    settings = settings or get_settings()
    index_dir = Path(index_dir) if index_dir is not None else settings.index_dir
    started = time.perf_counter()
    manifest = read_manifest(current_generation(index_dir))
    summary = IndexSummary()
    with IndexWriter(
        index_dir,
        model=manifest["model"],
        chunker=manifest["chunker"],
        keep_generations=settings.keep_generations,
    ) as writer:
        if writer.base_generation == 0:
            raise IndexNotFoundError(f"no index in {index_dir}")
        existing = writer.articles()
        removed = writer.removed()
        for target in article_ids:
            ids = [article_id for article_id in _targets(target, existing) if article_id not in summary.removed]
            if ids:
                writer.remove(ids)
                writer.remember_removed(existing[article_id] for article_id in ids)
                summary.removed.extend(ids)
            elif target in removed:
                when = removed[target]["removed_at"][:10]
                summary.skipped.append(Skipped(target, f"no article with this id in the index (removed {when})"))
            else:
                summary.skipped.append(Skipped(target, "no article with this id, URL or file in the index"))
        if summary.removed:
            manifest = writer.commit()
            summary.published = True
    summary.generation = int(manifest["generation"])
    summary.articles = manifest["counts"]["articles"]
    summary.chunks = manifest["counts"]["chunks"]
    summary.seconds = time.perf_counter() - started
    return summary

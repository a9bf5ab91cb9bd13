"""Building and updating an index: read articles, chunk, embed only what changed, publish a new generation."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..documents import Article, Skipped
from ..embed.base import Embedder
from ..embed.factory import embedder_from_settings
from ..errors import ConfigError, IndexNotFoundError, NothingIndexedError
from ..index.records import check_model
from ..index.store import StoreWriter, location_of, open_writer, require_index
from ..ingest.discovery import discover
from ..ingest.duplicates import DuplicateFilter
from ..settings import Settings, get_settings
from .chunking import SPLITTER_NAME, embedding_text
from .intake import FileRead, Item, chunked_articles

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Admitted:
    """What the duplicate filter reads of an article it admitted (its id and copy hash), kept to replay it."""

    id: str
    copy_hash: str


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
    merges: int = 0
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
    """One writer session: read and chunk inputs (in a thread), classify them against the index, embed, publish.

    Reading, cleaning and chunking run in a producer thread while this one embeds and writes, so the model never
    waits for the next batch of passages (it releases the GIL while it computes).
    """

    def __init__(
        self,
        writer: StoreWriter,
        embedder: Embedder,
        settings: Settings,
        summary: IndexSummary,
        on_progress: ProgressCallback | None,
        ray: str | None = None,
    ) -> None:
        self.writer = writer
        self.embedder = embedder
        self.settings = settings
        self.summary = summary
        self.on_progress = on_progress
        self.ray = ray  # distributed ingestion: a Ray address ("" for RAY_ADDRESS or a local instance)
        self._batch: list[Item] = []
        self._todo = [0, 0]  # articles and chunks to embed, as far as known
        self._done = [0, 0]
        self._embedding: tqdm[Any] | None = None

    def apply(self, inputs: Sequence[str | Path], *, prune: bool) -> bool:
        """Returns whether anything was read successfully."""
        pairs, skipped = discover(inputs)
        self.summary.skipped.extend(skipped)
        existing = self.writer.articles()
        in_scope = {i for i, row in existing.items() if prune and row["file"] and _in_scope(row["file"], inputs)}
        # Gone means: covered by these inputs, and its file vanished or was read cleanly without it. A vanished file
        # is known now; a file read without it only at the end. A file that failed to read keeps its articles:
        # bad input never loses indexed data.
        vanished = {i for i in in_scope if not Path(existing[i]["file"]).exists()}
        maybe_gone = {existing[i]["copy_hash"]: i for i in in_scope - vanished}
        # Built without the vanished, so a renamed file is re-indexed under its new id instead of skipped as a copy.
        initial = {row["copy_hash"]: i for i, row in existing.items() if i not in vanished}
        duplicates = DuplicateFilter(initial)
        admitted: list[tuple[_Admitted, str | None]] = []  # what the filter saw, to replay it (not the texts)
        deferred: list[Item] = []
        removed = self.writer.removed()
        # Articles removed with `index remove` stay out, unless their file is named itself (not its folder).
        named = {str(Path(raw).resolve()) for raw in inputs if Path(raw).is_file()}
        kept_ids = _path_ids({**removed, **existing})
        waiting_ids: set[str] = set()
        waiting_copies: set[str] = set()
        loaded_ids: set[str] = set()
        clean_files: set[str] = set()
        any_read = False
        for item in self._read(pairs, clean_files, kept_ids, existing):
            article = item.article
            any_read = True
            if article.id in removed:
                if item.file not in named:
                    self.summary.kept_out.append(article.id)
                    continue
                self.writer.forget([article.id])
            loaded_ids.add(article.id)
            twin = maybe_gone.get(article.copy_hash)
            if (
                (twin is not None and twin != article.id)
                or article.id in waiting_ids
                or article.copy_hash in waiting_copies
            ):
                # A copy of an article that may turn out gone: decided at the end, with everything that depends on it.
                deferred.append(item)
                waiting_ids.add(article.id)
                waiting_copies.add(article.copy_hash)
                continue
            self._consider(item, existing, duplicates, admitted)
        gone = vanished | {i for i in in_scope - vanished if i not in loaded_ids and existing[i]["file"] in clean_files}
        if deferred:
            duplicates = DuplicateFilter({h: i for h, i in initial.items() if i not in gone})
            for seen, replaces in admitted:
                duplicates.admit(cast(Article, seen), replaces=replaces)
            for item in deferred:
                self._consider(item, existing, duplicates, admitted)
        self._embed()
        if self._embedding is not None:
            self._embedding.close()
        self.writer.remove(sorted(gone))
        self.summary.removed.extend(sorted(gone))
        return any_read or bool(self.summary.kept_out)

    def _consider(
        self,
        item: Item,
        existing: dict[str, Any],
        duplicates: DuplicateFilter,
        admitted: list[tuple[_Admitted, str | None]],
    ) -> None:
        article = item.article
        if (refusal := duplicates.refusal(article)) is not None:
            self.summary.skipped.append(refusal)
            return
        old = existing.get(article.id)
        replaces = old["copy_hash"] if old is not None else None
        duplicates.admit(article, replaces=replaces)
        admitted.append((_Admitted(article.id, article.copy_hash), replaces))
        if old is not None and old["content_hash"] == article.content_hash:
            self.summary.unchanged += 1
            return
        (self.summary.changed if old is not None else self.summary.added).append(article.id)
        self._batch.append(item)
        self._todo[0] += 1
        self._todo[1] += len(item.chunks)
        if len(self._batch) >= _GROUP:
            self._embed()

    def _read(
        self,
        pairs: Sequence[tuple[Path, Path]],
        clean_files: set[str],
        kept_ids: dict[str, str],
        existing: dict[str, Any],
    ) -> Iterator[Item]:
        """Articles with their chunks, file and root (see :func:`chunked_articles`), with a progress bar by file.

        On Ray (``self.ray``), the cluster reads, chunks and embeds, all but the articles the index holds unchanged
        (``existing``, by id), and this process writes what it sends back.
        """
        bar = self._bar(len(pairs), "reading", "file")
        if self.ray is not None:
            from .distributed import ray_articles

            known = {article_id: row["content_hash"] for article_id, row in existing.items()}
            # The cluster loads the model the settings name: refused there if it is not the one this run embeds with.
            events = ray_articles(
                pairs, self.settings, kept_ids, known, address=self.ray, identity=self.embedder.identity
            )
        else:
            events = chunked_articles(pairs, self.settings, kept_ids, 4 * _GROUP)
        try:
            for event in events:
                if not isinstance(event, FileRead):
                    yield event
                    continue
                self.summary.skipped.extend([*event.problems, *event.superseded])
                self.summary.warnings.extend(event.warnings)
                if not event.problems:
                    clean_files.add(event.file)
                bar.update(1)
        finally:
            bar.close()

    def _bar(self, total: int, desc: str, unit: str) -> tqdm[Any]:
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            leave=False,
            disable=not self.settings.progress or (total < 2 and desc != "embedding"),
        )

    def _embed(self) -> None:
        """Embed the waiting articles' chunks and write them (a changed article replaces its old version)."""
        group, self._batch = self._batch, []
        if not group:
            return
        texts = [embedding_text(i.article.title, c.text) for i in group if i.vectors is None for c in i.chunks]
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, self.embedder.dimension), np.float32)
        embedded = sum(len(i.chunks) for i in group)
        del texts  # a copy of every passage: not kept while the writer holds them too
        cursor = 0
        for item in group:
            given = item.vectors
            if given is None:
                given = vectors[cursor : cursor + len(item.chunks)]
                cursor += len(item.chunks)
            if given.shape != (len(item.chunks), self.embedder.dimension):
                raise ConfigError(f"embedder returned vectors of shape {given.shape} for {len(item.chunks)} chunks")
            self.writer.remove([item.article.id])
            self.writer.add(item.article, item.chunks, given, file=item.file, root=item.root)
        if self._embedding is None:
            self._embedding = self._bar(0, "embedding", "chunk")
            self._embedding.total = None
        self._embedding.update(embedded)
        self._done[0] += len(group)
        self._done[1] += embedded
        self.summary.embedded_chunks += embedded
        if self.on_progress:
            self.on_progress(self._done[0], self._todo[0], self._done[1], self._todo[1])


def _check_compatible(manifest: dict[str, Any], directory: str | Path, embedder: Embedder, settings: Settings) -> None:
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
    ray: str | None = None,
) -> IndexSummary:
    """Bring the index in line with ``inputs``: embed new and changed articles, drop those whose files are gone.

    With ``rebuild`` the new generation starts empty (the old one stays live until it is complete).
    Creates the index when there is none. ``ray`` reads, chunks and embeds on a Ray cluster: its address, or ""
    for ``RAY_ADDRESS`` or else a Ray instance started for this run (the ``scale`` extra).
    """
    settings = settings or get_settings()
    index_dir = location_of(index_dir, settings)
    started = time.perf_counter()
    embedder = embedder or embedder_from_settings(settings)
    summary = IndexSummary()
    with open_writer(
        index_dir, model=model_record(embedder), chunker=chunker_record(settings), fresh=rebuild, settings=settings
    ) as writer:
        starting_empty = rebuild or writer.base_manifest is None
        if writer.base_manifest is not None:
            _check_compatible(writer.base_manifest, index_dir, embedder, settings)
        run = _Run(writer, embedder, settings, summary, on_progress, ray)
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
            # Published first: the cost to publication is the change's; merging (when the policy asks) comes after.
            summary.merges = writer.merge() if settings.merge_after_write else 0
        else:
            manifest = writer.base_manifest
    _finish(summary, manifest, started)
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
    index_dir = location_of(index_dir, settings)
    started = time.perf_counter()
    require_index(index_dir)
    summary = IndexSummary()
    with open_writer(index_dir, model={}, chunker={}, settings=settings) as writer:
        manifest = writer.base_manifest
        if manifest is None:
            raise IndexNotFoundError(f"no index in {index_dir}")
        existing = writer.articles()
        removed = writer.removed()
        for target in article_ids:
            ids = [article_id for article_id in _targets(target, existing) if article_id not in summary.removed]
            if ids:
                writer.remove(ids)
                writer.remember(existing[article_id] for article_id in ids)
                summary.removed.extend(ids)
            elif target in removed:
                when = removed[target]["removed_at"][:10]
                summary.skipped.append(Skipped(target, f"no article with this id in the index (removed {when})"))
            else:
                summary.skipped.append(Skipped(target, "no article with this id, URL or file in the index"))
        if summary.removed:
            manifest = writer.commit()
            summary.published = True
            summary.merges = writer.merge() if settings.merge_after_write else 0
    _finish(summary, manifest, started)
    return summary


def optimize_index(index_dir: str | Path | None = None, *, settings: Settings | None = None) -> IndexSummary:
    """Merge every segment of the live generation into one, without its tombstoned passages (no new generation)."""
    settings = settings or get_settings()
    index_dir = location_of(index_dir, settings)
    started = time.perf_counter()
    require_index(index_dir)
    summary = IndexSummary()
    with open_writer(index_dir, model={}, chunker={}, settings=settings) as writer:
        if writer.base_manifest is None:
            raise IndexNotFoundError(f"no index in {index_dir}")
        summary.merges = writer.merge(full=True)
        manifest = writer.base_manifest
    _finish(summary, manifest, started)
    return summary


def _finish(summary: IndexSummary, manifest: dict[str, Any], started: float) -> None:
    summary.generation = int(manifest["generation"])
    summary.articles = manifest["counts"]["articles"]
    summary.chunks = manifest["counts"]["chunks"]
    summary.seconds = time.perf_counter() - started

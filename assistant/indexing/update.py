"""Building and updating an index: read articles, chunk, embed only what changed, publish a new generation.

``update_index``, ``build_index``, ``remove_articles`` and ``optimize_index`` are the entry points; one ``_Run`` is
one writer session (reading in a thread, deciding with :mod:`.reconcile`, embedding, writing).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..documents import Skipped
from ..embed.base import Embedder
from ..embed.factory import embedder_from_settings
from ..errors import ConfigError, IndexNotFoundError, NothingIndexedError
from ..index.records import ArticleRecord, ChunkerRecord, Commit, ModelRecord
from ..index.store import Backend, StoreWriter, backend_for
from ..ingest.discovery import discover
from ..settings import Settings, get_settings
from .chunking import SPLITTER_NAME, embedding_text
from .intake import FileRead, Item, chunked_articles
from .reconcile import Kind, Reconciler, Verdict, scope_of
from .summary import IndexSummary, ProgressCallback

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)


# Articles embedded per group: bounds memory on big corpora while keeping model batches full.
_GROUP = 256


def model_record(embedder: Embedder) -> ModelRecord:
    return ModelRecord(embedder.name, embedder.identity, int(embedder.dimension))


def chunker_record(settings: Settings) -> ChunkerRecord:
    return ChunkerRecord(SPLITTER_NAME, settings.chunk_size, settings.chunk_overlap, embeds_title=True)


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
        """Read the inputs, decide for each article what to do (:mod:`.reconcile`), embed and write what changed,
        remove what is gone. Returns whether anything was read successfully."""
        pairs, skipped = discover(inputs)
        self.summary.skipped.extend(skipped)
        existing, removed = self.writer.articles(), self.writer.removed()
        reconciler = Reconciler(existing, removed, scope_of(existing, removed, inputs, prune=prune))
        clean_files: set[str] = set()
        any_read = False
        for item in self._read(pairs, clean_files, reconciler.scope.path_ids, existing):
            any_read = True
            self._act(item, reconciler.consider(item))
        gone = reconciler.gone(clean_files)
        for item, verdict in reconciler.settle(gone):
            self._act(item, verdict)
        self._embed()
        if self._embedding is not None:
            self._embedding.close()
        self.writer.remove(sorted(gone))
        self.summary.removed.extend(sorted(gone))
        return any_read or bool(self.summary.kept_out)

    def _act(self, item: Item, verdict: Verdict) -> None:
        """Do what the reconciliation decided for one article: count it, or queue it to be embedded and written."""
        article = item.article
        if verdict.forgets_removal:
            self.writer.forget([article.id])
        if verdict.kind is Kind.KEPT_OUT:
            self.summary.kept_out.append(article.id)
        elif verdict.kind is Kind.REFUSED and verdict.refusal is not None:
            self.summary.skipped.append(verdict.refusal)
        elif verdict.kind is Kind.UNCHANGED:
            self.summary.unchanged += 1
        elif verdict.writes:
            (self.summary.changed if verdict.kind is Kind.CHANGED else self.summary.added).append(article.id)
            self._batch.append(item)
            self._todo[0] += 1
            self._todo[1] += len(item.chunks)
            if len(self._batch) >= _GROUP:
                self._embed()

    def _read(
        self,
        pairs: Sequence[tuple[Path, Path]],
        clean_files: set[str],
        kept_ids: Mapping[str, str],
        existing: Mapping[str, ArticleRecord],
    ) -> Iterator[Item]:
        """Articles with their chunks, file and root (see :func:`chunked_articles`), with a progress bar by file.

        On Ray (``self.ray``), the cluster reads, chunks and embeds, all but the articles the index holds unchanged
        (``existing``, by id), and this process writes what it sends back.
        """
        bar = self._bar(len(pairs), "reading", "file")
        if self.ray is not None:
            from .distributed import ray_articles

            known = {article_id: article.content_hash for article_id, article in existing.items()}
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
    backend = backend_for(index_dir, settings)
    started = time.perf_counter()
    embedder = embedder or embedder_from_settings(settings)
    summary = IndexSummary()
    chunker = chunker_record(settings)
    with backend.writer(model=model_record(embedder), chunker=chunker, fresh=rebuild) as writer:
        if writer.base is not None:
            writer.base.check_model(embedder.identity, backend.location)
            writer.base.check_chunker(chunker)
        any_read = _Run(writer, embedder, settings, summary, on_progress, ray).apply(inputs, prune=prune)
        if writer.base is None and not any_read:
            raise NothingIndexedError(
                "no article could be indexed; nothing was written. Problems: "
                + ("; ".join(s.describe() for s in summary.skipped[:20]) or "no input files")
            )
        writer.roots |= {str(Path(p).resolve()) for p in inputs if Path(p).is_dir()}
        if writer.base is None or summary.added or summary.changed or summary.removed:
            commit = writer.commit()
            summary.published = True
            # Published first: the cost to publication is the change's; merging (when the policy asks) comes after.
            summary.merges = writer.merge() if settings.merge_after_write else 0
        else:
            commit = writer.base
    summary.finish(commit, time.perf_counter() - started)
    logger.info("index %s: %s", backend.location, summary.counts())
    return summary


def build_index(inputs: Sequence[str | Path], index_dir: str | Path | None = None, **options: Any) -> IndexSummary:
    """A fresh index of exactly ``inputs``, published atomically over any previous one."""
    return update_index(inputs, index_dir, rebuild=True, **options)


@contextlib.contextmanager
def _existing(backend: Backend) -> Iterator[tuple[StoreWriter, Commit]]:
    """The writer of an index that must be there already (a removal, a merge), with its live commit."""
    backend.require()
    with backend.writer(model=None, chunker=None) as writer:
        if writer.base is None:
            raise IndexNotFoundError(f"no index in {backend.location}")
        yield writer, writer.base


def _targets(target: str, existing: Mapping[str, ArticleRecord]) -> list[str]:
    """The ids ``target`` names: an article id, an article's URL, or a file (every article read from it)."""
    if target in existing:
        return [target]
    by_url = [article_id for article_id, article in existing.items() if article.url and article.url == target.strip()]
    if by_url:
        return by_url
    file = str(Path(target).expanduser().resolve())
    return [article_id for article_id, article in existing.items() if article.file == file]


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
    started = time.perf_counter()
    summary = IndexSummary()
    with _existing(backend_for(index_dir, settings)) as (writer, commit):
        existing, removed = writer.articles(), writer.removed()
        for target in article_ids:
            ids = [article_id for article_id in _targets(target, existing) if article_id not in summary.removed]
            if ids:
                writer.remove(ids)
                writer.remember(existing[article_id] for article_id in ids)
                summary.removed.extend(ids)
            elif target in removed:
                when = removed[target].removed_at[:10]
                summary.skipped.append(Skipped(target, f"no article with this id in the index (removed {when})"))
            else:
                summary.skipped.append(Skipped(target, "no article with this id, URL or file in the index"))
        if summary.removed:
            commit = writer.commit()
            summary.published = True
            summary.merges = writer.merge() if settings.merge_after_write else 0
    summary.finish(commit, time.perf_counter() - started)
    return summary


def optimize_index(index_dir: str | Path | None = None, *, settings: Settings | None = None) -> IndexSummary:
    """Merge every segment of the live generation into one, without its tombstoned passages (no new generation)."""
    settings = settings or get_settings()
    started = time.perf_counter()
    summary = IndexSummary()
    with _existing(backend_for(index_dir, settings)) as (writer, commit):
        summary.merges = writer.merge(full=True)
    summary.finish(commit, time.perf_counter() - started)
    return summary

"""Merges: a tiered policy keeps the segment count bounded; the writer publishes what a merge writes.

Policy (Lucene's tiered/log merge idea): a segment's *level* is ``floor(log_F(live rows / floor))`` (``F`` the merge
factor, segments under ``floor`` rows count as ``floor``); whenever a level holds ``F`` segments, its ``F`` smallest
are merged into one, a level up. A segment whose rows are mostly tombstoned is rewritten on its own. So an index
of ``N`` passages has at most about ``(F - 1) log_F(N / floor)`` segments, and each passage is rewritten about
``log_F(N / floor)`` times over its life: the cost of merging, per passage written, grows with the log of the size.

A merge runs after its writer has published: it plans, writes the merged segment, and hands it to the writer, which
publishes it as a new commit of the *same* generation (the same articles, in fewer segments;
:meth:`.writer.IndexWriter.publish_merged`); the inputs stay on disk while an older kept generation names them. A
merge killed at any moment leaves files no commit names, which the next writer removes.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ...errors import IndexCorruptError
from ..writing import moment
from . import ann
from .layout import SEGMENTS
from .postings import POSTING, TERM, merged_postings
from .segments import ROW, ArrayFile, Segment, file_name, live_rows, open_segment, segment_name, write_array

if TYPE_CHECKING:
    from ...settings import Settings
    from ..records import Commit

logger = logging.getLogger(__name__)

_BLOCK = 65536  # rows of vectors copied at a time
_POSTINGS_PER_BUCKET = 4_000_000  # postings sorted at a time


def plan(sizes: list[tuple[int, int]], factor: int, floor: int) -> list[int] | None:
    """Indexes of the segments to merge next, from (live rows, all rows) per segment; None when none need it."""
    for at, (live, total) in enumerate(sizes):
        if total and live * 2 < total:
            return [at]
    levels: dict[int, list[int]] = {}
    for at, (live, _) in enumerate(sizes):
        level = int(math.log(max(live, floor) / floor, factor) + 1e-9)
        levels.setdefault(level, []).append(at)
    for level in sorted(levels):
        members = levels[level]
        if len(members) >= factor:
            return sorted(sorted(members, key=lambda at: (sizes[at][0], at))[:factor])
    return None


class Writer(Protocol):
    """What a merge needs of the writer that publishes it (:class:`.writer.IndexWriter`)."""

    store: Path | None
    segments: list[dict[str, Any]]
    base_generation: int
    settings: Settings
    written: list[Path]  # files of this write, removed if it does not publish

    @property
    def db(self) -> sqlite3.Connection: ...

    @property
    def dimension(self) -> int: ...

    def reserve_segment(self) -> int: ...

    def publish_merged(self, segments: list[dict[str, Any]]) -> Commit: ...

    def abort_merge(self) -> None: ...


def merge_after(writer: Writer, *, full: bool = False) -> int:
    """Merge as the policy asks (everything into one segment when ``full``); returns how many merges ran.

    After an update has published, a merge that fails (a full disk, say) is logged and left to the next writer:
    the update stands. Optimizing (``full``) reports the failure.
    """
    if full:
        return run(writer, full=True)
    try:
        return run(writer)
    except Exception as exc:
        logger.warning("merging segments failed, the next update will try again: %s", exc)
        writer.abort_merge()
        return 0


def run(writer: Writer, *, full: bool = False) -> int:
    """Merge as the policy asks (everything into one segment when ``full``); returns how many merges ran."""
    merges = 0
    while True:
        segments = _open(writer)
        dead = _dead(writer.db, writer.base_generation)
        sizes = [(s.count - _dead_count(s, dead), s.count) for s in segments]
        if full:
            chosen = list(range(len(sizes))) if len(sizes) > 1 or (sizes and sizes[0][0] < sizes[0][1]) else None
        else:
            chosen = plan(sizes, writer.settings.merge_factor, writer.settings.merge_floor_rows)
        if not chosen:
            return merges
        try:
            for at in chosen:
                segments[at].verify()
        except IndexCorruptError as exc:
            logger.error("not merging: %s; `assistant index verify` lists the damage, a rebuild repairs it", exc)
            return merges
        logger.info("merging %d segments (%d rows)", len(chosen), sum(sizes[at][0] for at in chosen))
        record = merge([segments[at] for at in chosen], dead, writer)
        logger.debug("merged segment %s written, not yet committed", record["name"], extra=moment("merge-written"))
        kept = [writer.segments[at] for at in range(len(segments)) if at not in chosen]
        writer.publish_merged([*kept, *([record] if record["rows"] else [])])
        logger.info("merged into %s (%d rows)", record["name"], record["rows"])
        merges += 1
        if full:
            return merges


def _open(writer: Writer) -> list[Segment]:
    assert writer.store is not None
    return [open_segment(writer.store / SEGMENTS, r, writer.dimension) for r in writer.segments]


def _dead(db: sqlite3.Connection, generation: int) -> np.ndarray:
    rows = db.execute("SELECT uid FROM articles WHERE removed_gen IS NOT NULL AND removed_gen <= ?", (generation,))
    return np.array([row[0] for row in rows], dtype=np.int64)


def _dead_count(segment: Segment, dead: np.ndarray) -> int:
    live = live_rows(segment, dead)
    return 0 if live is None else segment.count - int(np.count_nonzero(live))


def merge(inputs: list[Segment], dead: np.ndarray, writer: Writer) -> dict[str, Any]:
    """Write one segment holding the rows of ``inputs`` that the current generation sees, sorted by chunk id."""
    assert writer.store is not None
    folder = writer.store / SEGMENTS
    name = segment_name(writer.reserve_segment())
    writer.written.extend(folder / file_name(name, kind) for kind in ("rows", "vectors", "terms", "postings", "ann"))
    lives = [live_rows(s, dead) for s in inputs]
    kept = [np.arange(s.count) if live is None else np.flatnonzero(live) for s, live in zip(inputs, lives, strict=True)]
    ids = np.concatenate([s.ids[k] for s, k in zip(inputs, kept, strict=True)])
    source = np.concatenate([np.full(len(k), at, dtype=np.int64) for at, k in enumerate(kept)])
    position = np.concatenate(kept).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    source, position = source[order], position[order]
    rows = np.empty(len(order), dtype=ROW)
    targets = []
    for at, segment in enumerate(inputs):
        mine = source == at
        rows["id"][mine] = segment.ids[position[mine]]
        rows["uid"][mine] = segment.uids[position[mine]]
        rows["article"][mine] = segment.articles[position[mine]]
        rows["hash"][mine] = segment.hashes[position[mine]]
        rows["source"][mine] = segment.sources[position[mine]]
        rows["length"][mine] = segment.lengths[position[mine]].astype(np.uint32)
        target = np.full(segment.count, -1, dtype=np.int64)
        target[position[mine]] = np.flatnonzero(mine)
        targets.append(target)
    files: dict[str, Any] = {"rows": write_array(folder / file_name(name, "rows"), rows)}
    dimension = writer.dimension
    vectors = ArrayFile(folder / file_name(name, "vectors"), np.dtype(np.float32), (len(rows), dimension))
    try:
        for start in range(0, len(rows), _BLOCK):
            block = np.empty((min(_BLOCK, len(rows) - start), dimension), dtype=np.float32)
            for at, segment in enumerate(inputs):
                mine = source[start : start + _BLOCK] == at
                if mine.any():
                    block[mine] = segment.vectors[position[start : start + _BLOCK][mine]]
            vectors.write(block)
        files["vectors"] = vectors.close()
    finally:
        vectors.discard()
    files.update(_merge_postings(folder, name, inputs, targets))
    template = max((s for s in inputs if s.ann is not None), key=lambda s: s.count, default=None)
    built = ann.builder(writer.settings.ann_min_rows, template.ann if template else None)(
        folder / file_name(name, "vectors")
    )
    kind = None
    if built is not None:
        from .segments import write_bytes

        kind, data = built
        files["ann"] = write_bytes(folder / file_name(name, "ann"), data)
    return {"name": name, "rows": len(rows), "ann": kind, "files": files}


def _merge_postings(folder: Path, name: str, inputs: list[Segment], targets: list[np.ndarray]) -> dict[str, Any]:
    total = sum(
        int(np.count_nonzero(target[s.postings.postings["doc"]] >= 0))
        for s, target in zip(inputs, targets, strict=True)
    )
    buckets = max(1, total // _POSTINGS_PER_BUCKET)
    out = ArrayFile(folder / file_name(name, "postings"), POSTING, (total,))
    hashes, counts = [], []
    try:
        parts = [(s.postings, target) for s, target in zip(inputs, targets, strict=True)]
        for term_hashes, term_counts, postings in merged_postings(parts, buckets):
            out.write(postings)
            hashes.append(term_hashes)
            counts.append(term_counts)
        record = out.close()
    finally:
        out.discard()
    all_counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    terms = np.empty(len(all_counts) + 1, dtype=TERM)
    terms["hash"][:-1] = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    terms["start"][:-1] = np.cumsum(all_counts) - all_counts
    terms[-1] = (np.iinfo(np.uint64).max, total)
    return {"postings": record, "terms": write_array(folder / file_name(name, "terms"), terms)}

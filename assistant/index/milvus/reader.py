"""Reading a Milvus index: the published generation, searched by meaning and by words inside Milvus.

A generation is what its commit (a row of the meta collection) makes visible: rows added by generations from the
commit's ``floor`` up to its own, less the articles it is still deleting. Milvus keeps only the live generation,
so a permalink to an older one says it is gone. Filters (dates as chunk-id ranges, outlets) run inside Milvus's
search, before it truncates, as the local store's do.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ...errors import IndexCorruptError, IndexNotFoundError
from ...settings import Settings
from ..candidates import Candidates, Window
from ..ids import DAY_SHIFT
from ..location import MilvusAddress, disk_usage
from ..records import (
    ChunkRow,
    Commit,
    DateRange,
    IndexDescription,
    ListedArticle,
    Removal,
    SourceCount,
    generation_gone,
)
from .connection import ARTICLES, CHUNKS, META, NAMED, SCHEMA_VERSION, Connection, listed
from .versions import REMOVED, SOURCE, counted_stems, meta_values, term_counts

__all__ = ["MilvusReader", "read_commit", "signed", "visible"]

logger = logging.getLogger(__name__)

_ROW_FIELDS = ["uid", "chunk_id", "article_id", "ordinal", "start", "end", "text", "title", "date", "source", "url"]


def signed(value: int) -> int:
    """An unsigned 64-bit checksum as the signed integer Milvus stores."""
    return value - (1 << 64) if value >= 1 << 63 else value


def read_commit(connection: Connection) -> dict[str, Any] | None:
    rows = connection.query(META, 'key == "commit"', ["value"], limit=1)
    if not rows:
        return None
    try:
        return dict(json.loads(rows[0]["value"]))
    except ValueError as exc:
        raise IndexCorruptError(f"{connection.address}: the commit is unreadable ({exc})") from exc


def visible(commit: dict[str, Any], article_field: str = "article_uid") -> str:
    """The filter for the rows of ``commit``'s generation (``article_field`` names the article uid's column)."""
    expr = f"gen >= {int(commit.get('floor', 0))} and gen <= {int(commit['generation'])}"
    dropping = [int(uid) for uid in commit.get("dropping", [])]
    return f"{expr} and {article_field} not in {dropping}" if dropping else expr


class MilvusReader:
    """The live generation of a Milvus index. Safe to share between threads."""

    def __init__(self, connection: Connection, body: dict[str, Any]) -> None:
        self.connection = connection
        self.address = connection.address
        self.body = body  # the commit as stored: its collections, uids, floor and pending deletes
        self.commit = Commit.from_body(body, self.address)
        self.generation = self.commit.generation
        self.chunk_count = self.commit.counts.chunks
        commit = body
        self._visible = visible(commit)
        self._upper = int(commit.get("next_uid", 1))  # every row's uid is below it
        self._frequencies: dict[str, int] = {}
        self._sources: dict[str, tuple[int, int]] | None = None

    @classmethod
    def open(cls, address: MilvusAddress, settings: Settings, *, generation: int | None = None) -> MilvusReader:
        connection = Connection(address, settings)
        try:
            if not connection.exists():
                raise IndexNotFoundError(
                    f"no index at {address} (no collections {address.collection}_*): build one with "
                    f"`assistant index build --index {address}`"
                )
            connection.load(META)
            commit = read_commit(connection)
            if commit is None:
                raise IndexNotFoundError(f"no index at {address}: nothing was published there yet")
            connection.use(commit.get("collections"))
            connection.load(*NAMED)
            if commit.get("schema_version") != SCHEMA_VERSION:
                raise IndexCorruptError(
                    f"{address} holds an index of schema {commit.get('schema_version')}, this version reads "
                    f"{SCHEMA_VERSION}: rebuild it with `assistant index build --index {address}`"
                )
            if generation is not None and generation != int(commit["generation"]):
                raise generation_gone(str(address), generation, [int(commit["generation"])])
            return cls(connection, commit)
        except BaseException:
            connection.close()
            raise

    def is_latest(self) -> bool:
        commit = read_commit(self.connection)
        return commit is not None and commit == self.body

    def verify(self) -> None:
        """Milvus checks its own storage; what this reader checks is each row it shows (:meth:`chunk_rows`)."""

    def close(self) -> None:
        self.connection.close()

    # -- outlets ---------------------------------------------------------------------------------------------
    def _outlets(self) -> dict[str, tuple[int, int]]:
        """Each outlet's (code, live articles)."""
        if self._sources is None:
            found = meta_values(self.connection, SOURCE, self.generation)
            self._sources = {name: (int(v["code"]), int(v["articles"])) for name, v in found.items()}
        return self._sources

    def sources(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, (_, articles) in self._outlets().items() if articles > 0))

    def source_codes(self, names: Iterable[str]) -> tuple[int, ...]:
        """The codes the passages keep for these outlets."""
        outlets = self._outlets()
        return tuple(outlets[name][0] for name in sorted(set(names)) if name in outlets)

    # -- searching -------------------------------------------------------------------------------------------
    def _filter(self, window: Window) -> str:
        span = f"(chunk_id >= {window.low} and chunk_id < {window.high})"
        if window.undated and window.low > 0:
            span = f"({span} or chunk_id < {1 << DAY_SHIFT})"
        expr = f"{self._visible} and {span}"
        if window.sources is not None:
            codes = list(self.source_codes(window.sources)) or [-2]  # no code is -2: an empty list matches none
            expr += f" and source_code in {codes}"
        return expr

    def dense(self, vector: np.ndarray, n: int, window: Window) -> Candidates:
        query = [float(x) for x in np.asarray(vector, dtype=np.float32)]
        return _candidates(self.connection.search("vector", query, n, self._filter(window), "IP"), n)

    def lexical(self, words: list[str], n: int, window: Window) -> Candidates:
        from ..analyzer import analyze

        terms = [term for word in words for term in analyze(word)]
        if not terms:
            return _candidates([], n)
        found = self.connection.search("sparse", " ".join(dict.fromkeys(terms)), n, self._filter(window), "BM25")
        return _candidates(found, n, magnitude=True)

    # -- rows ------------------------------------------------------------------------------------------------
    def chunk_rows(self, ids: Iterable[int], where: Mapping[int, tuple[int, int]] | None = None) -> dict[int, ChunkRow]:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        if not wanted:
            return {}
        known = [where[i][1] for i in wanted if where and i in where]
        unknown = [i for i in wanted if not (where and i in where)]
        found: list[dict[str, Any]] = []
        for offset in range(0, max(len(known), len(unknown)), 500):
            if known[offset : offset + 500]:
                expr = f"uid in {known[offset : offset + 500]}"
                found += self.connection.query(CHUNKS, expr, [*_ROW_FIELDS, "hash"], limit=500)
            if unknown[offset : offset + 500]:
                expr = f"{self._visible} and chunk_id in {unknown[offset : offset + 500]}"
                found += self.connection.query(CHUNKS, expr, [*_ROW_FIELDS, "hash"], limit=500)
        rows: dict[int, ChunkRow] = {}
        for record in found:
            row = _row(record)
            if signed(row.checksum()) != int(record["hash"]):
                raise IndexCorruptError(
                    f"{self.address}: chunk {row.id} of {row.article_id!r} does not match its checksum"
                )
            rows[row.id] = row
        return rows

    def first_chunks(self, article_ids: Iterable[str]) -> list[int]:
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return []
        expr = f"{self._visible} and ordinal == 0 and article_id in {listed(wanted)}"
        return [int(row["chunk_id"]) for row in self.connection.query(CHUNKS, expr, ["chunk_id"], limit=len(wanted))]

    def stem_frequencies(self, stems: Iterable[str]) -> dict[str, int]:
        # Kept per stem by the writer (Milvus counts matches only by reading every matching row); cached per reader.
        wanted = {stem for stem in stems if stem}
        missing = sorted(wanted - set(self._frequencies))
        self._frequencies.update(term_counts(self.connection, missing, self.generation))
        return {stem: self._frequencies[stem] for stem in wanted if self._frequencies[stem]}

    # -- for people ------------------------------------------------------------------------------------------
    def describe(self, *, with_articles: bool = False) -> IndexDescription:
        """What ``assistant index info`` shows, in the terms the local store's description uses."""
        fields = ["id", "title", "date", "day", "source", "url", "origin"]
        articles = [row for batch in self._articles(fields) for row in batch]
        dates = sorted(row["date"] for row in articles if row["date"])
        counts = sorted(((-articles_, name) for name, (_, articles_) in self._outlets().items() if articles_ > 0))
        removed = meta_values(self.connection, REMOVED, self.generation).values()
        listed = None
        if with_articles:
            listed = tuple(
                ListedArticle(row["id"], row["title"], row["date"] or None, row["source"] or None, row["url"] or None,
                              row["origin"] or None)
                for row in sorted(articles, key=lambda row: (-int(row["day"]), row["id"]))
            )  # fmt: skip
        return IndexDescription(
            path=str(self.address),
            generation=self.generation,
            segments=None,
            created_at=self.commit.created_at,
            articles=self.commit.counts.articles,
            chunks=self.chunk_count,
            date_range=DateRange(
                dates[0] if dates else None, dates[-1] if dates else None, sum(1 for row in articles if not row["date"])
            ),
            sources=tuple(SourceCount(name, -count) for count, name in counts),
            model=self.commit.model,
            chunker=self.commit.chunker,
            roots=self.commit.roots,
            bytes=disk_usage(self.address.uri) if self.address.lite else 0,
            removed=tuple(
                sorted(
                    (
                        Removal(i["id"], i.get("title"), i.get("file"), i.get("origin"), i["removed_at"])
                        for i in removed
                    ),
                    key=lambda item: (item.removed_at, item.id),
                )
            ),
            article_list=listed,
        )

    def _articles(self, fields: list[str]) -> Iterable[list[dict[str, Any]]]:
        return self.connection.batches(ARTICLES, visible(self.body, "uid"), fields, self._upper)

    def problems(self) -> list[str]:
        """What ``assistant index verify`` finds: rows against their checksums, articles against their passages, the
        counts against the commit, and what the writer keeps beside the rows (outlets' article counts, passages per
        stem, remembered removals) against the rows this generation shows."""
        problems: list[str] = []
        articles: dict[int, tuple[int, str, str]] = {}  # uid -> (chunks, id, source)
        for batch in self._articles(["uid", "id", "chunks", "source"]):
            articles.update({int(row["uid"]): (int(row["chunks"]), row["id"], row["source"]) for row in batch})
        seen: Counter[int] = Counter()
        stems: Counter[str] = Counter()
        rows = 0
        fields = [*_ROW_FIELDS, "hash", "article_uid", "words"]
        for batch in self.connection.batches(CHUNKS, self._visible, fields, self._upper):
            for record in batch:
                rows += 1
                row = _row(record)
                if signed(row.checksum()) != int(record["hash"]):
                    problems.append(f"chunk {row.id} of {row.article_id!r} does not match its checksum")
                article = int(record["article_uid"])
                if article not in articles:
                    problems.append(f"chunk {row.id} belongs to no live article ({row.article_id!r})")
                seen[article] += 1
                stems.update(set(record["words"].split()))
        problems += [
            f"article uid {uid} should have {count} chunks, Milvus holds {seen.get(uid, 0)}"
            for uid, (count, _, _) in articles.items()
            if seen.get(uid, 0) != count
        ]
        counts = self.commit.counts
        if rows != counts.chunks or len(articles) != counts.articles:
            problems.append(
                f"the commit counts {counts.articles} articles and {counts.chunks} chunks, Milvus holds "
                f"{len(articles)} and {rows}"
            )
        problems += self._side_problems(articles, stems)
        return [f"{self.address}: {problem}" for problem in problems[:100]]

    def _side_problems(self, articles: dict[int, tuple[int, str, str]], stems: Counter[str]) -> list[str]:
        problems: list[str] = []
        per_source = Counter(source for _, _, source in articles.values() if source)
        listed_sources = {name: count for name, (_, count) in self._outlets().items() if count}
        if listed_sources != dict(per_source):
            wrong = sorted(set(listed_sources.items()) ^ set(per_source.items()))[:5]
            problems.append(f"the outlets' article counts do not match the articles (e.g. {wrong})")
        counted = self.stem_frequencies(stems)
        if wrong_stems := sorted(stem for stem in stems if counted.get(stem, 0) != stems[stem])[:5]:
            problems.append(
                "the passages-per-stem counts do not match the passages: "
                + ", ".join(f"{stem} {counted.get(stem, 0)} for {stems[stem]}" for stem in wrong_stems)
            )
        if (kept := counted_stems(self.connection, self.generation)) != len(stems):
            problems.append(f"{kept} stems are counted, the passages have {len(stems)}")
        live = {article_id for _, article_id, _ in articles.values()}
        remembered = meta_values(self.connection, REMOVED, self.generation)
        if back := sorted(set(remembered) & live)[:5]:
            problems.append(f"articles remembered as removed are live: {back}")
        return problems


def _row(record: dict[str, Any]) -> ChunkRow:
    return ChunkRow(
        id=int(record["chunk_id"]),
        article_id=record["article_id"],
        ordinal=int(record["ordinal"]),
        start=int(record["start"]),
        end=int(record["end"]),
        text=record["text"],
        title=record["title"],
        date=record["date"] or None,
        source=record["source"] or None,
        url=record["url"] or None,
    )


def _candidates(hits: list[dict[str, Any]], n: int, *, magnitude: bool = False) -> Candidates:
    """Milvus's hits as the local store's candidates: ties broken by chunk id; the row's primary key is its place.

    Milvus Lite reports BM25 as a negative distance, a server as a positive score: ``magnitude`` reads either.
    """
    if not hits:
        empty = np.zeros(0, np.int64)
        return Candidates(empty, np.zeros(0), empty, empty, empty)
    ids = np.array([hit["entity"]["chunk_id"] for hit in hits], dtype=np.int64)
    scores = np.array([hit["distance"] for hit in hits], dtype=np.float64)
    scores = np.abs(scores) if magnitude else scores
    articles = np.array([hit["entity"]["article_uid"] for hit in hits], dtype=np.int64)
    uids = np.array([hit.get("id", hit.get("uid")) for hit in hits], dtype=np.int64)
    order = np.lexsort((ids, -scores))[:n]
    return Candidates(ids[order], scores[order], articles[order], np.zeros(len(order), np.int64), uids[order])

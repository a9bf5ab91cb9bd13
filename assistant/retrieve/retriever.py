"""Hybrid, time-aware passage retrieval: FAISS (dense) and FTS5 (BM25) fused, filtered, recency-weighted."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..documents import Hit
from ..errors import ConfigError
from ..index.chunking import DAY_SHIFT
from ..index.embedding import Embedder, embedder_from_settings, is_multilingual
from ..index.layout import MANIFEST, check_model, current_generation
from ..index.reader import ChunkRow, IndexReader
from ..settings import Settings, get_settings
from ..text.cleaning import clean_question
from ..text.languages import ENGLISH, content_terms, question_language
from ..text.terms import query_terms
from .filters import Allowed, allowed_chunks
from .timeframes import DateLike, parse_day, window_from_question

logger = logging.getLogger(__name__)

# An undated article ranks like one a half-life old, or like the dated candidates' middle one when that is lower (an
# archive of old news is all at the floor): kept, neither boosted nor buried.
_UNDATED_RECENCY = 0.5
# The dense ranking's weight for a question an English-only model cannot read (see Retriever.leans_on_words).
_FOREIGN_DENSE = 0.25
_PINNED_READERS = 2  # older generations kept open for permalinks


def fts_query(question: str, terms: list[str] | None = None) -> str | None:
    """An FTS5 OR-query of the question's content words, each quoted so no user text is FTS syntax."""
    terms = query_terms(question) if terms is None else terms
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms) or None


class Retriever:
    """Search an index from Python::

    retriever = Retriever.open("index")
    for hit in retriever.search("How much did Alibaba invest in AI?", k=5):
        print(hit.title, hit.text)
    """

    def __init__(self, reader: IndexReader, embedder: Embedder, settings: Settings, directory: Path) -> None:
        check_model(reader.manifest, embedder.identity, directory)
        self.reader = reader
        self.embedder = embedder
        self.settings = settings
        self.directory = directory
        self._swap = threading.Lock()
        self._older: dict[int, IndexReader] = {}  # generations a permalink pinned, while they are kept

    @classmethod
    def open(
        cls,
        index_dir: str | Path | None = None,
        *,
        embedder: Embedder | None = None,
        settings: Settings | None = None,
    ) -> Retriever:
        settings = settings or get_settings()
        directory = Path(index_dir) if index_dir is not None else settings.index_dir
        reader = IndexReader.open(directory)
        try:
            embedder = embedder or embedder_from_settings(settings)
            return cls(reader, embedder, settings, directory)
        except BaseException:
            reader.close()
            raise

    @property
    def generation(self) -> int:
        return self.reader.generation

    def refresh(self) -> bool:
        """Switch to the newest generation if a writer published one; True when it changed."""
        with self._swap:  # one refresh opens (and verifies) a new generation; the others wait and then see it
            if current_generation(self.directory).name == self.reader.path.name:
                return False
            # The old reader is left to the garbage collector: searches in flight still hold it.
            self.reader = IndexReader.open(self.directory)
        return True

    def reader_for(self, generation: int | None = None) -> IndexReader:
        """The reader of index ``generation`` (the live one when None): a permalink re-asks on the generation it
        was answered from. GenerationGoneError when that generation is no longer kept."""
        reader = self.reader
        if generation is None or generation == reader.generation:
            return reader
        with self._swap:
            older = self._older.get(generation)
            if older is not None and not (older.path / MANIFEST).is_file():
                self._older.pop(generation)  # pruned since it was opened: say so rather than answer from a ghost
                older = None
            if older is None:
                older = IndexReader.open(self.directory, number=generation)
                check_model(older.manifest, self.embedder.identity, self.directory)
                self._older[generation] = older
                while len(self._older) > _PINNED_READERS:  # the oldest opened goes; searches holding it finish
                    self._older.pop(next(iter(self._older)))
        return older

    def close(self) -> None:
        self.reader.close()
        for older in self._older.values():
            older.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sources(self) -> tuple[str, ...]:
        """The outlets the current generation holds articles from, sorted: what ``sources=`` can filter on."""
        return self.reader.table.source_names

    # -- search -----------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        since: DateLike = None,
        until: DateLike = None,
        sources: Iterable[str] | None = None,
        as_of: DateLike = None,
        vector: np.ndarray | None = None,
        lexical: bool | None = None,
    ) -> list[Hit]:
        """Top-k passages for ``query``.

        ``as_of`` (default today) is the day the question is asked: later articles are excluded and the
        recency prior counts age from it. ``since``/``until`` are an explicit window (which turns the prior off);
        ``sources`` keeps only those outlets. Undated articles are kept. ``vector`` is the query's embedding
        when the caller already has it. ``lexical`` ranks mostly by BM25 (default: when the question is not in
        English and the model only understands English, see :meth:`leans_on_words`). Every hit of one search
        comes from the same index generation.
        """
        return self.search_pinned(
            self.reader,
            query,
            k,
            since=since,
            until=until,
            sources=sources,
            as_of=as_of,
            vector=vector,
            lexical=lexical,
        )

    def leans_on_words(self, question: str) -> bool:
        """Whether to answer ``question`` mostly from word matches: it is not English and the model only knows English.

        BM25 matches words in any language; an English-only model's vectors for another language are close to
        noise, so they weigh little then.
        """
        return not is_multilingual(self.embedder, self.settings) and question_language(question) != ENGLISH

    def search_pinned(
        self,
        reader: IndexReader,
        query: str,
        k: int | None = None,
        *,
        since: DateLike = None,
        until: DateLike = None,
        sources: Iterable[str] | None = None,
        as_of: DateLike = None,
        vector: np.ndarray | None = None,
        lexical: bool | None = None,
        recency: float = 1.0,
    ) -> list[Hit]:
        """:meth:`search` on the generation ``reader`` holds (``retriever.reader`` when it was taken).

        A caller that reads more of the index after searching (the answerer scores sentences with its vocabulary)
        takes ``retriever.reader`` once and passes it here, so every part of its work sees one generation even if
        an update is swapped in meanwhile. ``recency`` scales the recency prior's half-life (a timeline wants a
        story's older reports too: 3 triples it); 0 turns the prior off. ``lexical`` leans on the question's words
        rather than the dense ranking (None: when the question is in a language the model cannot read).
        """
        query = clean_question(query or "")  # the same cleaning a question gets before it is answered
        if not query:
            raise ConfigError("the question is empty")
        k = k or self.settings.k
        if k < 1:
            raise ConfigError("k must be at least 1")
        as_of_day = parse_day(as_of, name="as_of", end=True) or dt.date.today()
        since_day = parse_day(since, name="since")
        until_day = parse_day(until, name="until", end=True)
        source_list = sorted({s for s in sources or () if s})
        explicit_window = since_day is not None or until_day is not None
        lexical = self.leans_on_words(query) if lexical is None else lexical
        dense_factor = _FOREIGN_DENSE if lexical else 1.0
        if vector is None:
            vector = self.embedder.embed([query])[0]
        hits: list[Hit] = []
        narrowed = None if explicit_window else window_from_question(query, as_of_day)
        if narrowed is not None:
            # "this week" asks for recent news, but an undated article cannot be shown to be old: it stays in.
            hits = self._search(
                reader,
                query,
                vector,
                k,
                narrowed,
                until_day,
                source_list,
                as_of_day,
                recency > 0,
                dense_factor,
                keep_undated=True,
                half_life=self.settings.recency_half_life_days * recency,
            )
        if all(hit.date is None for hit in hits):  # a phrase window with no dated news must not hide the answer
            hits = self._search(
                reader,
                query,
                vector,
                k,
                since_day,
                until_day,
                source_list,
                as_of_day,
                recency > 0 and not explicit_window,
                dense_factor,
                half_life=self.settings.recency_half_life_days * recency,
            )
        return hits

    def leads(self, reader: IndexReader, hits: list[Hit], articles: int = 2) -> list[Hit]:
        """The opening passage of each of the ``articles`` best-ranked articles, where the hits lack it.

        News states its main fact first ("…began shutting off power Wednesday to some 375,000 people…"), in a
        passage that often shares fewer words with a question than the later ones that repeat the story's terms;
        the answerer weighs these beside the hits. Each has its article's best score.
        """
        best: dict[str, Hit] = {}
        has_lead: set[str] = set()
        for hit in hits:
            best.setdefault(hit.article_id, hit)
            if hit.start == 0:
                has_lead.add(hit.article_id)
        wanted = [article for article in list(best)[:articles] if article not in has_lead]
        leads: list[Hit] = []
        for article in wanted:
            ids = [
                row[0] for row in reader.query("SELECT id FROM chunks WHERE article_id = ? AND ordinal = 0", (article,))
            ]
            for row in reader.chunk_rows(ids).values():
                top = best[article]
                leads.append(self._hit(row, top.score, top.recency, None, None, reader.generation))
        return leads

    def _search(
        self,
        reader: IndexReader,
        query: str,
        vector: np.ndarray,
        k: int,
        since: dt.date | None,
        until: dt.date | None,
        sources: list[str],
        as_of: dt.date,
        recency: bool,
        dense_factor: float = 1.0,
        keep_undated: bool = False,
        half_life: float | None = None,
    ) -> list[Hit]:
        allowed = allowed_chunks(reader.table, since, until, sources, as_of, keep_undated)
        if allowed.count == 0:
            return []
        n = self.settings.candidates
        dense = self._dense(reader, vector, n, allowed)
        bm25 = self._bm25(reader, query, n, allowed, lexical=dense_factor < 1)
        fused: dict[int, float] = {}
        dense_weight = self.settings.dense_weight * dense_factor
        for weight, ranking in ((dense_weight, dense), (self.settings.bm25_weight, bm25)):
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (self.settings.rrf_k + rank + 1)
        if not fused:
            return []
        # Everything up to the final k runs on in-memory columns; only the chosen passages are read from SQLite.
        ids = np.fromiter(fused, dtype=np.int64, count=len(fused))
        articles = reader.table.articles[np.searchsorted(reader.table.ids, ids)]
        half_life = self.settings.recency_half_life_days if half_life is None else half_life
        priors = self._recency(ids, as_of, half_life if recency else 0.0)
        scores = np.fromiter(fused.values(), dtype=np.float64, count=len(fused)) * priors
        order = np.lexsort((ids, -scores))
        # At most a few passages per article, so one long article cannot crowd out the others; when there are
        # no others left, the remaining slots go to the best of the held-back passages.
        per_article: dict[int, int] = {}
        chosen: list[int] = []
        held_back: list[int] = []
        for position in order.tolist():
            article = int(articles[position])
            if per_article.get(article, 0) < self.settings.max_chunks_per_article:
                per_article[article] = per_article.get(article, 0) + 1
                chosen.append(position)
                if len(chosen) >= k:
                    break
            else:
                held_back.append(position)
        if len(chosen) < k:
            chosen = sorted(chosen + held_back[: k - len(chosen)], key=lambda p: (-scores[p], ids[p]))
        rows = reader.chunk_rows(int(ids[p]) for p in chosen)
        return [
            self._hit(
                rows[int(ids[p])],
                float(scores[p]),
                float(priors[p]),
                dense.get(int(ids[p])),
                bm25.get(int(ids[p])),
                reader.generation,
            )
            for p in chosen
        ]

    def _dense(self, reader: IndexReader, vector: np.ndarray, n: int, allowed: Allowed) -> dict[int, float]:
        import faiss

        search_params = None
        if not allowed.everything:
            # Filtering inside FAISS ranks only allowed chunks, instead of truncating first and filtering after.
            selector: faiss.IDSelector
            if allowed.mask is not None:
                selector = faiss.IDSelectorBatch(reader.table.ids[allowed.mask])
            else:
                selector = faiss.IDSelectorRange(allowed.low, allowed.high)
            # faiss's wrapper sets fields given as keywords; its stub declares an __init__ without arguments.
            search_params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, ids = reader.vectors.search(vector.reshape(1, -1), min(n, allowed.count), params=search_params)
        return {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}

    def _bm25(
        self, reader: IndexReader, query: str, n: int, allowed: Allowed, lexical: bool = False
    ) -> dict[int, float]:
        # A question in another language searches with its content words, not its language's function words.
        terms = content_terms(query, question_language(query)) if lexical else query_terms(query)
        match = fts_query(query, reader.selective_terms(terms, self.settings.bm25_max_df, self.settings.bm25_max_terms))
        if match is None:
            return {}
        # Chunk ids sort by publication day, so the date window is a rowid range FTS5 applies while matching.
        # bm25() is lower-is-better; title hits weigh double, since a title states what the article is about.
        sql = (
            "SELECT rowid, -bm25(chunks_fts, 1.0, 2.0) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ? AND rowid >= ? AND rowid < ? ORDER BY score DESC"
        )
        params = (match, allowed.low, allowed.high)
        if allowed.mask is None:
            rows = reader.query(sql + " LIMIT ?", (*params, n))
        else:
            # Sources are checked after matching: rank a few times more than needed, or every match when the
            # filter leaves too few of those, so the filter never meets an already truncated list.
            limit = 4 * n
            rows = reader.query(sql + " LIMIT ?", (*params, limit))
            kept = self._keep(reader, rows, allowed.mask)
            if len(kept) < n and len(rows) == limit:
                kept = self._keep(reader, reader.query(sql, params), allowed.mask)
            rows = kept
        return {int(row[0]): float(row[1]) for row in rows[:n]}

    @staticmethod
    def _keep(reader: IndexReader, rows: list[sqlite3.Row], mask: np.ndarray) -> list[sqlite3.Row]:
        if not rows:
            return rows
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        keep = mask[np.searchsorted(reader.table.ids, ids)]
        return [row for row, ok in zip(rows, keep, strict=True) if ok]

    def _recency(self, ids: np.ndarray, as_of: dt.date, half_life: float) -> np.ndarray:
        """Multipliers for chunk ids: ``0.5 ** (age / half_life)``, floored; undated articles get a middle one.

        Middle, not fixed: asked today about news from years ago, every dated article is at the floor, and a fixed
        0.5 put undated pages (an "about us" page, a shop) five times above every article.
        """
        if half_life <= 0:
            return np.ones(len(ids))
        days = ids >> DAY_SHIFT  # chunk ids carry their article's publication day
        age = np.maximum(0, as_of.toordinal() - days)
        priors = np.maximum(self.settings.recency_floor, 0.5 ** (age / half_life))
        dated = priors[days != 0]
        undated = min(_UNDATED_RECENCY, float(np.median(dated))) if len(dated) else _UNDATED_RECENCY
        return np.where(days == 0, undated, priors)

    def _hit(
        self, row: ChunkRow, score: float, prior: float, dense: float | None, bm25: float | None, generation: int
    ) -> Hit:
        return Hit(
            chunk_id=row.id,
            text=row.text,
            start=row.start,
            end=row.end,
            article_id=row.article_id,
            title=row.title,
            date=row.date,
            source=row.source,
            url=row.url,
            score=score,
            dense=dense,
            bm25=bm25,
            recency=prior,
            generation=generation,
        )

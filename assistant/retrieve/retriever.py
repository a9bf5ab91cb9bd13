"""Hybrid, time-aware passage retrieval: dense and BM25 rankings over the index's segments, fused, filtered, dated."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..documents import Hit
from ..embed.base import Embedder
from ..embed.factory import embedder_from_settings, is_multilingual
from ..errors import ConfigError
from ..index.candidates import Candidates, Window
from ..index.ids import DAY_SHIFT
from ..index.records import ChunkRow
from ..index.store import StoreReader, backend_for
from ..settings import Settings, get_settings
from ..text.cleaning import clean_question
from ..text.languages import ENGLISH, content_terms, question_language
from ..text.terms import query_terms
from .filters import Filters, window_of
from .threads import one_thread
from .timeframes import DateLike, parse_day, window_from_question
from .words import selective_terms

logger = logging.getLogger(__name__)

# An undated article ranks like one a half-life old, or like the dated candidates' middle one when that is lower (an
# archive of old news is all at the floor): kept, neither boosted nor buried.
_UNDATED_RECENCY = 0.5
# The dense ranking's weight for a question an English-only model cannot read (see Retriever.leans_on_words).
_FOREIGN_DENSE = 0.25
_PINNED_READERS = 2  # older generations kept open for permalinks


class Retriever:
    """Search an index from Python::

    retriever = Retriever.open("index")       # or "milvus-lite:news.db", "milvus://host:19530/news"
    for hit in retriever.search("How much did Alibaba invest in AI?", k=5):
        print(hit.title, hit.text)
    """

    def __init__(self, reader: StoreReader, embedder: Embedder, settings: Settings, directory: str | Path) -> None:
        reader.commit.check_model(embedder.identity, directory)
        self.reader = reader
        self.embedder = embedder
        self.settings = settings
        self.directory = directory  # the index's location: a folder, or a Milvus address
        self.backend = backend_for(directory, settings)
        self._swap = threading.Lock()
        self._older: dict[int, StoreReader] = {}  # generations a permalink pinned, while they are kept

    @classmethod
    def open(
        cls,
        index_dir: str | Path | None = None,
        *,
        embedder: Embedder | None = None,
        settings: Settings | None = None,
    ) -> Retriever:
        settings = settings or get_settings()
        backend = backend_for(index_dir, settings)
        reader = backend.reader()
        try:
            embedder = embedder or embedder_from_settings(settings)
            return cls(reader, embedder, settings, backend.location)
        except BaseException:
            reader.close()
            raise

    @property
    def generation(self) -> int:
        return self.reader.generation

    def refresh(self) -> bool:
        """Switch to what a writer published since (a new generation, or the same one merged); True when it changed.

        The new generation's segments are checked before it answers anything: a damaged one raises
        IndexCorruptError and this retriever keeps answering from the generation it has.
        """
        with self._swap:  # one refresh opens (and verifies) a new generation; the others wait and then see it
            if self.reader.is_latest():
                return False
            # The old reader is left to the garbage collector: searches in flight still hold it.
            self.reader = self._checked(self.backend.reader())
        return True

    def reader_for(self, generation: int | None = None) -> StoreReader:
        """The reader of index ``generation`` (the live one when None): a permalink re-asks on the generation it
        was answered from. GenerationGoneError when that generation is no longer kept."""
        reader = self.reader
        if generation is None or generation == reader.generation:
            return reader
        with self._swap:
            older = self._older.get(generation)
            if older is not None and generation not in self.backend.kept_generations():
                self._older.pop(generation)  # pruned since it was opened: say so rather than answer from a ghost
                older = None
            if older is None:
                older = self._checked(self.backend.reader(generation))
                self._older[generation] = older
                while len(self._older) > _PINNED_READERS:  # the oldest opened goes; searches holding it finish
                    self._older.pop(next(iter(self._older)))
        return older

    def _checked(self, reader: StoreReader) -> StoreReader:
        try:
            reader.commit.check_model(self.embedder.identity, self.directory)
            reader.verify()
        except BaseException:
            reader.close()
            raise
        return reader

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
        return self.reader.sources()

    # -- search -----------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        filters: Filters | None = None,
        since: DateLike = None,
        until: DateLike = None,
        sources: Iterable[str] | None = None,
        as_of: DateLike = None,
        vector: np.ndarray | None = None,
        lexical: bool | None = None,
    ) -> list[Hit]:
        """Top-k passages for ``query``, within ``filters`` (or the same given one by one).

        ``as_of`` (default today) is the day the question is asked: later articles are excluded and the
        recency prior counts age from it. ``since``/``until`` are an explicit window (which turns the prior off);
        ``sources`` keeps only those outlets. Undated articles are kept. ``vector`` is the query's embedding
        when the caller already has it. ``lexical`` ranks mostly by BM25 (default: when the question is not in
        English and the model only understands English, see :meth:`leans_on_words`). Every hit of one search
        comes from the same index generation.
        """
        filters = Filters.given(filters, as_of=as_of, since=since, until=until, sources=sources, k=k)
        return self.search_pinned(self.reader, query, filters, vector=vector, lexical=lexical)

    def leans_on_words(self, question: str) -> bool:
        """Whether to answer ``question`` mostly from word matches: it is not English and the model only knows English.

        BM25 matches words in any language; an English-only model's vectors for another language are close to
        noise, so they weigh little then.
        """
        return not is_multilingual(self.embedder, self.settings) and question_language(question) != ENGLISH

    def search_pinned(
        self,
        reader: StoreReader,
        query: str,
        filters: Filters,
        *,
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
        k = filters.k or self.settings.k
        if k < 1:
            raise ConfigError("k must be at least 1")
        as_of_day = parse_day(filters.as_of, name="as_of", end=True) or dt.date.today()
        since_day = parse_day(filters.since, name="since")
        until_day = parse_day(filters.until, name="until", end=True)
        source_list = list(filters.sources or ())
        explicit_window = since_day is not None or until_day is not None
        lexical = self.leans_on_words(query) if lexical is None else lexical
        dense_factor = _FOREIGN_DENSE if lexical else 1.0
        if vector is None:
            vector = self.embedder.embed([query])[0]
        # BLAS and FAISS on one thread: see one_thread.
        with one_thread():
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

    def leads(self, reader: StoreReader, hits: list[Hit], articles: int = 2) -> list[Hit]:
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
        rows = reader.chunk_rows(reader.first_chunks(wanted)) if wanted else {}
        by_article = {row.article_id: row for row in rows.values()}
        for article in wanted:
            if (row := by_article.get(article)) is not None:
                top = best[article]
                leads.append(self._hit(row, top.score, top.recency, None, None, reader.generation))
        return leads

    def _search(
        self,
        reader: StoreReader,
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
        window = window_of(since, until, sources, as_of, keep_undated)
        n = self.settings.candidates
        dense = reader.dense(vector, n, window)
        bm25 = self._bm25(reader, query, n, window, lexical=dense_factor < 1)
        # Reciprocal-rank fusion on in-memory columns; only the chosen passages are read from SQLite. A chunk's
        # contributions add up in ranking order (dense first), as they always have.
        every = np.concatenate([dense.ids, bm25.ids])
        if not len(every):
            return []
        weights = (self.settings.dense_weight * dense_factor, self.settings.bm25_weight)
        contributions = np.concatenate(
            [w / (self.settings.rrf_k + np.arange(len(r)) + 1) for w, r in zip(weights, (dense, bm25), strict=True)]
        )
        ids, first, inverse = np.unique(every, return_index=True, return_inverse=True)
        fused = np.bincount(inverse, weights=contributions, minlength=len(ids))
        articles = np.concatenate([dense.articles, bm25.articles])[first]
        places = np.concatenate([np.stack([r.segments, r.positions], axis=1) for r in (dense, bm25)])[first]
        where = {int(i): (int(s), int(p)) for i, (s, p) in zip(ids.tolist(), places.tolist(), strict=True)}
        half_life = self.settings.recency_half_life_days if half_life is None else half_life
        priors = self._recency(ids, as_of, half_life if recency else 0.0)
        scores = fused * priors
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
        rows = reader.chunk_rows((int(ids[p]) for p in chosen), where=where)
        dense_scores, bm25_scores = dense.as_dict(), bm25.as_dict()
        return [
            self._hit(
                rows[int(ids[p])],
                float(scores[p]),
                float(priors[p]),
                dense_scores.get(int(ids[p])),
                bm25_scores.get(int(ids[p])),
                reader.generation,
            )
            for p in chosen
            if int(ids[p]) in rows  # a reader older than the kept generations may miss purged rows
        ]

    def _bm25(self, reader: StoreReader, query: str, n: int, window: Window, lexical: bool = False) -> Candidates:
        # A question in another language searches with its content words, not its language's function words.
        terms = content_terms(query, question_language(query)) if lexical else query_terms(query)
        words = selective_terms(reader, terms, self.settings.bm25_max_df, self.settings.bm25_max_terms)
        return reader.lexical(words, n, window)

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

"""The lexical half of a segment: terms as the index stems them, postings per term, and BM25 over a generation.

Words are analyzed as every backend analyzes them (:mod:`..analyzer`); each term is kept as its xxh3-64 hash. A
segment's postings list, per term, the rows holding it and a weighted frequency (hits in the text plus
``TITLE_WEIGHT`` times hits in the title), as FTS5's ``bm25(chunks_fts, 1.0, 2.0)`` counted them before. Scores
are BM25 (k1 1.2, b 0.75, FTS5's formula) with the statistics of the generation being searched: its live rows,
their lengths and how many of them hold each term, summed over its segments and without the tombstoned ones, so a
generation's scores do not change when later generations are written or segments merged.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from ..analyzer import TITLE_WEIGHT, analyze

__all__ = ["POSTING", "TERM", "Postings", "bm25", "document", "term_hash", "title_counts"]

K1, B = 1.2, 0.75
TERM = np.dtype([("hash", "<u8"), ("start", "<i8")])  # sorted by hash; a last row holds the end of the postings
POSTING = np.dtype([("doc", "<u4"), ("freq", "<u2")])  # sorted by (term, row)
_MAX_FREQ = np.iinfo(np.uint16).max


_HASHES: dict[str, int] = {}  # term -> hash, for the terms seen lately (an index's vocabulary repeats)


def term_hash(term: str) -> int:
    hashed = _HASHES.get(term)
    if hashed is None:
        import xxhash

        if len(_HASHES) > 1 << 21:  # bounded: a few hundred MB at most, however many terms pass through
            _HASHES.clear()
        hashed = _HASHES[term] = int(xxhash.xxh3_64_intdigest(term.encode("utf-8")))
    return hashed


def title_counts(title: str) -> Counter[str]:
    """A title's terms, each counted ``TITLE_WEIGHT`` times: computed once per article, added to each passage."""
    return Counter({term: TITLE_WEIGHT * count for term, count in Counter(analyze(title)).items()})


def document(title: Counter[str], text: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(term hashes, weighted frequencies, length in terms) of one passage, given its article's ``title_counts``."""
    counts: Counter[str] = Counter(analyze(text))
    length = counts.total() + title.total() // TITLE_WEIGHT
    counts.update(title)
    hashes = np.array([_HASHES.get(term) or term_hash(term) for term in counts], dtype=np.uint64)
    freqs = np.minimum(np.fromiter(counts.values(), dtype=np.int64, count=len(counts)), _MAX_FREQ).astype(np.uint16)
    return hashes, freqs, length


def build_postings(docs: np.ndarray, hashes: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(terms, postings) arrays from one posting per (row, term), in any order."""
    order = np.lexsort((docs, hashes))
    sorted_hashes = hashes[order]
    postings = np.empty(len(order), dtype=POSTING)
    postings["doc"] = docs[order]
    postings["freq"] = freqs[order]
    del order  # the largest temporary: freed before the term table is built
    starts = np.flatnonzero(np.r_[True, sorted_hashes[1:] != sorted_hashes[:-1]]) if len(postings) else np.zeros(0, int)
    terms = np.empty(len(starts) + 1, dtype=TERM)
    terms["hash"][:-1] = sorted_hashes[starts]
    terms["start"][:-1] = starts
    terms[-1] = (np.iinfo(np.uint64).max, len(postings))
    return terms, postings


class Postings:
    """A segment's term dictionary and postings (memory-mapped), looked up by term hash."""

    def __init__(self, terms: np.ndarray, postings: np.ndarray) -> None:
        self.hashes = np.ascontiguousarray(terms["hash"][:-1])
        self.starts = np.ascontiguousarray(terms["start"])
        self.postings = postings

    def __len__(self) -> int:
        return len(self.hashes)

    def lookup(self, hashed: int) -> tuple[int, int]:
        """[start, end) of a term's postings; an empty range when the segment does not hold it."""
        at = int(np.searchsorted(self.hashes, np.uint64(hashed)))
        if at < len(self.hashes) and int(self.hashes[at]) == hashed:
            return int(self.starts[at]), int(self.starts[at + 1])
        return 0, 0

    def term_range(self, low: int, high: int | None) -> tuple[int, int]:
        """Indexes [first, last) of the terms whose hash is in [low, high) (to the end when ``high`` is None)."""
        first = int(np.searchsorted(self.hashes, np.uint64(low)))
        last = len(self.hashes) if high is None else int(np.searchsorted(self.hashes, np.uint64(high)))
        return first, last


def merged_postings(
    parts: Sequence[tuple[Postings, np.ndarray]], buckets: int
) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Postings of several segments for a merged one, a slice of the hash space at a time (bounded memory).

    Each part is a segment's postings and where each of its rows goes in the merged segment (-1: dropped). Yields
    (term hashes, term counts, postings) for consecutive hash ranges, sorted as a segment stores them.
    """
    lows = [(2**64 * b) // buckets for b in range(buckets)]
    highs: list[int | None] = [*lows[1:], None]
    for low, high in zip(lows, highs, strict=True):
        hashes, docs, freqs = [], [], []
        for postings, target in parts:
            first, last = postings.term_range(low, high)
            if first == last:
                continue
            begin, end = int(postings.starts[first]), int(postings.starts[last])
            counts = np.diff(postings.starts[first : last + 1])
            slice_ = postings.postings[begin:end]
            moved = target[slice_["doc"]]
            keep = moved >= 0
            hashes.append(np.repeat(postings.hashes[first:last], counts)[keep])
            docs.append(moved[keep].astype(np.uint32))
            freqs.append(np.asarray(slice_["freq"])[keep])
        if not hashes:
            continue
        all_hashes = np.concatenate(hashes)
        terms, merged = build_postings(np.concatenate(docs), all_hashes, np.concatenate(freqs))
        yield terms["hash"][:-1], np.diff(terms["start"]), merged


Part = tuple[Postings, np.ndarray, "np.ndarray | None"]
"""A segment as BM25 sees it: its postings, each row's length term ``k1 (1 - b + b length / average length)``
(see :func:`length_norms`), and which rows are live (None: all)."""


def length_norms(lengths: np.ndarray, average_length: float) -> np.ndarray:
    """BM25's length normalisation of each row, for a generation's average length: computed once per reader."""
    return K1 * (1 - B + B * lengths / max(average_length, 1e-9))


def document_frequencies(parts: Sequence[Part], hashes: Sequence[int]) -> dict[int, int]:
    """Live rows holding each term, over a generation's segments."""
    counts = dict.fromkeys(hashes, 0)
    for postings, _, live in parts:
        for hashed in counts:
            start, end = postings.lookup(hashed)
            if live is None:
                counts[hashed] += end - start  # no tombstones: the postings' length, nothing read
            elif end > start:
                counts[hashed] += int(np.count_nonzero(live[postings.postings["doc"][start:end]]))
    return counts


Allowed = tuple[int, int, "np.ndarray | None"]
"""Rows of a segment a search may return: positions in [first, stop), where the mask (if any) is True."""


def _slice(part: Part, hashed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, frequencies) of a term's live postings in one segment, rows ascending."""
    postings, _, live = part
    start, end = postings.lookup(hashed)
    docs = np.asarray(postings.postings["doc"][start:end], dtype=np.int64)
    freqs = np.asarray(postings.postings["freq"][start:end], dtype=np.float64)
    if live is not None and len(docs):
        alive = live[docs]
        docs, freqs = docs[alive], freqs[alive]
    return docs, freqs


def _allowed(rows: np.ndarray, allowed: Allowed, size: int) -> np.ndarray | None:
    """Which of ``rows`` the window allows; None when it allows the whole segment."""
    first, stop, mask = allowed
    if mask is None and first <= 0 and stop >= size:
        return None
    keep = (rows >= first) & (rows < stop)
    return keep & mask[rows] if mask is not None else keep


def idfs(parts: Sequence[Part], hashes: Sequence[int], live_rows: int) -> list[float]:
    """BM25's idf of each term with the generation's own statistics, floored as FTS5 floors it."""
    frequency = document_frequencies(parts, hashes)
    found = []
    for hashed in hashes:
        df = frequency[hashed]
        value = math.log((live_rows - df + 0.5) / (df + 0.5)) if df else 0.0
        found.append(value if value > 0 else 1e-6)  # a very common term still counts a little
    return found


def bm25(
    parts: Sequence[Part], hashes: Sequence[int], live_rows: int, n: int, allowed: Sequence[Allowed]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``n`` best allowed rows by BM25 over a generation's segments, per segment: (rows, scores).

    MaxScore (Turtle and Flood): terms are taken rarest first, each over all its postings, until the terms left
    could not lift a row that holds none of the ones taken above the n-th best score so far (a term adds at most
    idf × (k1 + 1)); the terms left are then only looked up for the rows already found. The top ``n`` are exact,
    and their scores are summed in the order the terms were given, so a row scores the same in any segmentation.
    """
    hashes = list(dict.fromkeys(hashes))
    idf = idfs(parts, hashes, live_rows)
    order = sorted(range(len(hashes)), key=lambda t: -idf[t])
    bound = [idf[t] * (K1 + 1) for t in order]
    # Per segment, for selection only: the rows found so far (each once), their scores so far, and a state per
    # row (1: found, 2: among the best n so far); arrays over the segment, allocated lazily: untouched pages cost
    # nothing.
    found: list[list[np.ndarray]] = [[] for _ in parts]
    sums: list[np.ndarray] = [np.zeros(0) for _ in parts]
    state: list[np.ndarray] = [np.zeros(0, np.uint8) for _ in parts]
    top = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # (segment, row) of the best n so far
    threshold, count, taken = 0.0, 0, len(order)
    for at_term, term in enumerate(order):
        if count >= n and sum(bound[at_term:]) < threshold:
            taken = at_term  # the terms left only add to rows already found
            break
        segments, rows_at = [top[0]], [top[1]]
        for at, part in enumerate(parts):
            rows, freqs = _slice(part, hashes[term])
            keep = _allowed(rows, allowed[at], len(part[1]))
            if keep is not None:
                rows, freqs = rows[keep], freqs[keep]
            if not len(rows):
                continue
            if not len(sums[at]):
                sums[at] = np.zeros(len(part[1]))
                state[at] = np.zeros(len(part[1]), dtype=np.uint8)
            sums[at][rows] += idf[term] * freqs * (K1 + 1) / (freqs + part[1][rows])
            marks = state[at][rows]
            fresh = rows[(marks & 1) == 0]
            state[at][fresh] |= 1
            found[at].append(fresh)
            count += len(fresh)
            # Scores only grow: the best n now are among the best n before and the rows this term touched.
            rows = rows[(marks & 2) == 0]
            segments.append(np.full(len(rows), at, dtype=np.int64))
            rows_at.append(rows)
        candidates = (np.concatenate(segments), np.concatenate(rows_at))
        values = np.empty(len(candidates[0]))
        for at in range(len(parts)):
            mine = candidates[0] == at
            if mine.any():
                values[mine] = sums[at][candidates[1][mine]]
        chosen = np.argpartition(-values, n - 1)[:n] if len(values) > n else np.arange(len(values))
        for at in range(len(parts)):
            state[at][top[1][top[0] == at]] &= 1
        top = (candidates[0][chosen], candidates[1][chosen])
        for at in range(len(parts)):
            state[at][top[1][top[0] == at]] |= 2
        threshold = float(values[chosen].min()) if len(chosen) >= n else 0.0
    # The terms left, largest bound first, only for rows that can still reach the top: each one tightens the rest.
    rows_of = [np.concatenate(f) if f else np.zeros(0, np.int64) for f in found]
    for position in range(taken, len(order)):
        rest = sum(bound[position:])
        rows_of = [rows[sums[at][rows] + rest >= threshold] for at, rows in enumerate(rows_of)]
        term = order[position]
        for at, part in enumerate(parts):
            rows = rows_of[at]
            docs, freqs = _slice(part, hashes[term])
            if not len(rows) or not len(docs):
                continue
            where = np.minimum(np.searchsorted(docs, rows), len(docs) - 1)
            hit = docs[where] == rows
            f, hit_rows = freqs[where][hit], rows[hit]
            sums[at][hit_rows] += idf[term] * f * (K1 + 1) / (f + part[1][hit_rows])
        values = np.concatenate([sums[at][rows] for at, rows in enumerate(rows_of)])
        if len(values) >= n:
            threshold = max(threshold, float(np.partition(values, len(values) - n)[len(values) - n]))
    results = []
    for at, part in enumerate(parts):
        rows = rows_of[at]
        rows = rows[sums[at][rows] >= threshold] if len(rows) else rows
        # Each row scored again over every term, in the order given: the same sum in any segmentation.
        scores = np.zeros(len(rows))
        if len(rows):
            norms = part[1][rows]
            for term, hashed in enumerate(hashes):
                docs, freqs = _slice(part, hashed)
                if not len(docs):
                    continue
                where = np.minimum(np.searchsorted(docs, rows), len(docs) - 1)
                f = np.where(docs[where] == rows, freqs[where], 0.0)
                scores += idf[term] * f * (K1 + 1) / (f + norms)
        results.append((rows, scores))
    return results

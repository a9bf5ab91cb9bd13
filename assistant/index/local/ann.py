"""Dense search inside one segment: exact over a row range for small segments and narrow windows, IVF otherwise.

The kind of index follows FAISS's "Guidelines to choose an index" by segment size: below ``ann_min_rows`` a segment
has no index and is searched exactly (a matrix-vector product over its memory-mapped vectors); above it, an
``IVF{nlist},SQ8`` index (inverted lists over k-means cells, vectors stored as 8-bit codes: a quarter of the memory
of the floats) finds candidates, which are re-scored exactly from the float vectors. Rows are numbered by their
position in the segment, which is sorted by chunk id, so a date window is a position range: a window of at most
``exact_max_rows`` rows is searched exactly, a wider one through the IVF index with a range or bitmap selector (the
filter is applied while the lists are scanned, before any truncation), probing more cells the narrower it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ...arrays import mapped_array

if TYPE_CHECKING:
    import faiss

    from .segments import Segment

_TRAIN_PER_LIST = 48  # k-means sample per cell: FAISS warns below 39
_ADD_BLOCK = 65536


def lists_for(rows: int) -> int:
    """IVF cells for a segment of ``rows`` vectors: the power of two nearest to 2 sqrt(rows)."""
    return int(2 ** round(math.log2(max(1.0, 2 * math.sqrt(rows)))))


def builder(min_rows: int, template: Any = None) -> Callable[[Path], tuple[str, np.ndarray] | None]:
    """What builds the IVF index of a segment written to a vectors file (None below ``min_rows``).

    ``template`` is a trained index of the same number of cells (a merged segment's biggest input): its cells are
    reused instead of training k-means again, so a merge into a big segment costs adding the vectors only.
    """

    def build(path: Path) -> tuple[str, np.ndarray] | None:
        import faiss

        vectors = mapped_array(path)
        rows, dimension = vectors.shape
        if rows < min_rows:
            return None
        lists = lists_for(rows)
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dimension), dimension, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        if template is not None and getattr(template, "nlist", None) == lists and template.d == dimension:
            # The template is mapped (its lists are on disk): copy its cells and 8-bit ranges, not the index.
            trained = cast("faiss.IndexIVFScalarQuantizer", faiss.downcast_index(faiss.extract_index_ivf(template)))
            index.quantizer.add(trained.quantizer.reconstruct_n(0, lists))
            faiss.copy_array_to_vector(faiss.vector_to_array(trained.sq.trained), index.sq.trained)
            index.is_trained = True
        else:
            index.cp.niter = 10
            # Evenly spaced rows: a sample of every period (rows sort by day), the same one on every build.
            sample = np.linspace(0, rows - 1, min(rows, lists * _TRAIN_PER_LIST)).astype(np.int64)
            index.train(np.ascontiguousarray(vectors[sample]))
        for start in range(0, rows, _ADD_BLOCK):
            block = np.ascontiguousarray(vectors[start : start + _ADD_BLOCK])
            index.add_with_ids(block, np.arange(start, start + len(block), dtype=np.int64))
        return f"IVF{lists},SQ8", faiss.serialize_index(index)

    return build


def search(
    segment: Segment,
    query: np.ndarray,
    n: int,
    first: int,
    stop: int,
    mask: np.ndarray | None,
    *,
    exact_max_rows: int,
    probes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, scores) of the ``n`` best allowed rows: rows in [first, stop) where ``mask`` (if any) is True.

    Scores are exact inner products, computed in float64 and rounded, so a row scores the same in any segment.
    """
    count = stop - first if mask is None else int(np.count_nonzero(mask[first:stop]))
    if count <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if segment.ann is None or count <= exact_max_rows:
        if mask is None:
            positions = np.arange(first, stop, dtype=np.int64)
            scores = segment.vectors[first:stop] @ query
        else:
            positions = np.flatnonzero(mask[first:stop]) + first
            scores = segment.vectors[positions] @ query
        positions = positions[best(scores, segment.ids[positions], n)]
    else:
        positions = _ivf(segment.ann, query, min(count, 2 * n), first, stop, mask, count, probes)
    exact = (segment.vectors[positions].astype(np.float64) @ query.astype(np.float64)).astype(np.float32)
    order = np.lexsort((segment.ids[positions], -exact))[:n]
    return positions[order], exact[order]


def _ivf(
    index: faiss.Index, query: np.ndarray, k: int, first: int, stop: int, mask: np.ndarray | None, count: int,
    probes: int,
) -> np.ndarray:  # fmt: skip
    import faiss

    ivf = faiss.extract_index_ivf(index)
    # A window holding a share f of the segment finds about f of each probed cell's rows: probe 1/f as many cells.
    nprobe = min(ivf.nlist, math.ceil(probes * ivf.ntotal / count))
    bitmap = None
    if mask is None:
        selector: faiss.IDSelector = faiss.IDSelectorRange(first, stop)
    else:
        window = np.zeros(len(mask), dtype=bool)
        window[first:stop] = mask[first:stop]
        bitmap = np.packbits(window, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(window), faiss.swig_ptr(bitmap))
    # faiss's wrapper sets fields given as keywords; its stub declares an __init__ without arguments.
    params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)  # type: ignore[call-arg]
    _, ids = index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
    del bitmap  # kept alive until the search is done: the selector points into it
    found: np.ndarray = ids[0]
    return found[found >= 0].astype(np.int64)


def best(scores: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Indexes of the ``n`` highest scores, ties broken by the lower chunk id: the same passages however a
    generation is segmented (``argpartition`` alone would pick among equal scores at random)."""
    if len(scores) <= n:
        return np.arange(len(scores))
    kth = np.partition(scores, len(scores) - n)[len(scores) - n]
    above = np.flatnonzero(scores > kth)
    tied = np.flatnonzero(scores == kth)
    return np.concatenate([above, tied[np.argsort(ids[tied], kind="stable")][: n - len(above)]])

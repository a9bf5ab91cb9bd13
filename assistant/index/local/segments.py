"""Immutable segments: the passages of one write (or one merge) as memory-mapped arrays, checksummed.

A segment is a few ``.npy`` files (never pickle: plain arrays with numpy's header) and, when large, a FAISS index.
Each file's size and xxh3 checksum are in the commit that names the segment; the checksum is computed from the
bytes as they are written, checked against the mapped bytes before the segment is first searched (in the
background, from the moment a reader opens it), and again by ``assistant index verify``. Opening checks only that
every file is there with its recorded size and a readable header, so it costs the same at any index size.
"""

from __future__ import annotations

import io
import logging
import mmap
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ...arrays import read_header
from ...errors import IndexCorruptError
from .postings import POSTING, TERM, Postings, build_postings

if TYPE_CHECKING:
    import faiss

logger = logging.getLogger(__name__)

# One row per passage, in chunk-id order: the columns search needs without touching SQLite.
ROW = np.dtype(
    [("id", "<i8"), ("uid", "<i8"), ("article", "<i8"), ("hash", "<u8"), ("source", "<i4"), ("length", "<u4")]
)
KINDS = ("rows", "vectors", "terms", "postings")
ANN = "ann"
AnnBuilder = Callable[[Path], "tuple[str, np.ndarray] | None"]


def file_name(segment: str, kind: str) -> str:
    return f"{segment}.{kind}.faiss" if kind == ANN else f"{segment}.{kind}.npy"


def segment_name(number: int) -> str:
    return f"seg-{number:08d}"


def segment_number(file: str) -> int:
    """The number of the segment a file belongs to, or -1 when the name is not a segment file's."""
    head = file.split(".", 1)[0]
    digits = head.removeprefix("seg-")
    return int(digits) if head.startswith("seg-") and digits.isdigit() else -1


class ArrayFile:
    """An ``.npy`` file written block by block with plain writes (a full disk is an OSError, never a SIGBUS from a
    mapping), checksummed as it is written."""

    def __init__(self, path: Path, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        import xxhash

        self.path, self.dtype, self.shape = path, dtype, shape
        self.expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self.written = 0
        self._digest = xxhash.xxh3_64()
        self._handle: IO[bytes] = path.open("xb")
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        )
        self._handle.write(header.getvalue())
        self._digest.update(header.getvalue())

    def write(self, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=self.dtype).tobytes()
        self._handle.write(data)
        self._digest.update(data)
        self.written += len(data)

    def close(self) -> dict[str, Any]:
        """Flush, fsync and close; returns the file's record for the commit."""
        if self.written != self.expected:
            raise ValueError(f"{self.path}: wrote {self.written} bytes of {self.expected}")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        return {"bytes": self.path.stat().st_size, "xxh3": self._digest.hexdigest()}

    def discard(self) -> None:
        if not self._handle.closed:
            self._handle.close()


def write_array(path: Path, array: np.ndarray) -> dict[str, Any]:
    out = ArrayFile(path, array.dtype, array.shape)
    try:
        out.write(array)
        return out.close()
    finally:
        out.discard()


def write_bytes(path: Path, data: np.ndarray) -> dict[str, Any]:
    """A raw file (a serialized FAISS index), written, fsynced and checksummed like the arrays."""
    import xxhash

    raw = np.ascontiguousarray(data).tobytes()
    with path.open("xb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    return {"bytes": path.stat().st_size, "xxh3": xxhash.xxh3_64_hexdigest(raw)}


def _map(path: Path, record: dict[str, Any]) -> tuple[mmap.mmap, np.ndarray | None]:
    """The whole file mapped (what verification hashes) and, for ``.npy`` files, the array inside it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing") from None
    if size != record["bytes"]:
        raise IndexCorruptError(f"{path} has {size} bytes, the commit says {record['bytes']}")
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if path.suffix != ".npy":
            return mapped, None
        try:
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
            count = int(np.prod(shape, dtype=np.int64))
            if fortran or offset + count * dtype.itemsize != size:
                raise ValueError("header and size disagree")
            array = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(shape)
        except ValueError as exc:
            mapped.close()
            raise IndexCorruptError(f"{path} is not a readable array: {exc}") from exc
    return mapped, array


class Segment:
    """One segment of a commit, mapped and ready to search once :meth:`verify` has passed. Shared by readers."""

    def __init__(self, folder: Path, record: dict[str, Any], dimension: int) -> None:
        self.name: str = record["name"]
        self.count = int(record["rows"])
        self.record = record
        self.folder = folder
        self._maps: dict[str, mmap.mmap] = {}
        arrays: dict[str, np.ndarray] = {}
        kinds = [*KINDS, ANN] if record.get("ann") else list(KINDS)
        if set(record["files"]) != set(kinds):
            raise IndexCorruptError(f"segment {self.name}: the commit lists files {sorted(record['files'])}")
        for kind in kinds:
            mapped, array = _map(folder / file_name(self.name, kind), record["files"][kind])
            self._maps[kind] = mapped
            if array is not None:
                arrays[kind] = array
        rows, vectors = arrays["rows"], arrays["vectors"]
        terms, postings = arrays["terms"], arrays["postings"]
        if (
            rows.dtype != ROW
            or rows.shape != (self.count,)
            or vectors.dtype != np.float32
            or vectors.shape != (self.count, dimension)
            or terms.dtype != TERM
            or postings.dtype != POSTING
            or len(terms) < 1
            or int(terms["start"][-1]) != len(postings)
        ):
            raise IndexCorruptError(f"segment {self.name} in {folder}: its arrays do not fit together")
        self.ids = np.ascontiguousarray(rows["id"])
        self.uids = np.ascontiguousarray(rows["uid"])
        self.articles = np.ascontiguousarray(rows["article"])
        self.hashes = np.ascontiguousarray(rows["hash"])
        self.sources = np.ascontiguousarray(rows["source"])
        self.lengths = np.ascontiguousarray(rows["length"]).astype(np.float64)
        self.vectors = vectors
        self.postings = Postings(terms, postings)
        self.ann: faiss.Index | None = None
        if ANN in kinds:
            self.ann = _read_ann(folder / file_name(self.name, ANN))
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._verified = False

    def files(self) -> list[str]:
        return [file_name(self.name, kind) for kind in self.record["files"]]

    def check(self) -> list[str]:
        """Problems found by hashing every file's mapped bytes against the commit (empty when all match)."""
        import xxhash

        problems = []
        for kind, mapped in self._maps.items():
            if xxhash.xxh3_64_hexdigest(mapped) != self.record["files"][kind]["xxh3"]:
                problems.append(f"{self.folder / file_name(self.name, kind)} does not match its checksum")
        return problems

    def verify(self) -> None:
        """Check the checksums once per process (later calls wait for, then repeat, the first one's verdict)."""
        with self._lock:
            if not self._verified:
                problems = self.check()
                self._problem = "; ".join(problems) or None
                self._verified = True
                if problems:
                    logger.error("damaged segment: %s", self._problem)
        if self._problem:
            raise IndexCorruptError(self._problem)


def check_sizes(folder: Path, record: dict[str, Any]) -> list[str]:
    """Problems with a segment's files that a stat shows: missing, or not the size the commit records."""
    problems = []
    for kind, expected in record["files"].items():
        path = folder / file_name(record["name"], kind)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            problems.append(f"{path} is missing")
            continue
        if size != expected["bytes"]:
            problems.append(f"{path} has {size} bytes, the commit says {expected['bytes']}")
    return problems


def live_rows(segment: Segment, dead: np.ndarray) -> np.ndarray | None:
    """Which rows of ``segment`` hold articles not in ``dead`` (None when all do)."""
    if not len(dead) or not segment.count:
        return None
    inside = dead[(dead >= segment.articles.min()) & (dead <= segment.articles.max())]
    if not len(inside):
        return None
    live = ~np.isin(segment.articles, inside)
    return None if live.all() else live


def _read_ann(path: Path) -> faiss.Index:
    import faiss

    try:
        # Mapped, not read: opening costs the same at any size, and pages come in as searches need them.
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError as exc:
        raise IndexCorruptError(f"{path} is not a readable FAISS index: {exc}") from exc


@dataclass
class Pending:
    """Passages added by a writer and not yet in a segment file, in the order they came."""

    dimension: int

    def __post_init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, int, int]] = []
        self.vectors: list[np.ndarray] = []
        self.term_hashes: list[np.ndarray] = []
        self.term_freqs: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: tuple[int, int, int, int, int, int], vector: np.ndarray, terms: tuple[np.ndarray, ...]) -> None:
        """``row``: (chunk id, uid, article uid, row hash, source code, length)."""
        self.rows.append(row)
        self.vectors.append(vector)
        self.term_hashes.append(terms[0])
        self.term_freqs.append(terms[1])

    def write(self, folder: Path, name: str, ann: AnnBuilder | None = None) -> dict[str, Any]:
        """Write the pending passages as segment ``name`` (sorted by chunk id); returns its record for the commit."""
        rows = np.array(self.rows, dtype=ROW) if self.rows else np.zeros(0, dtype=ROW)
        order = np.argsort(rows["id"], kind="stable")
        rows = rows[order]
        vectors = np.empty((len(order), self.dimension), dtype=np.float32)
        for target, source in enumerate(order.tolist()):  # no full intermediate copy of the vectors
            vectors[target] = self.vectors[source]
        position = np.empty(len(order), dtype=np.uint32)
        position[order] = np.arange(len(order), dtype=np.uint32)
        counts = [len(h) for h in self.term_hashes]
        docs = np.repeat(position, counts) if counts else np.zeros(0, np.uint32)
        # Taken, not copied: a build's peak memory is this moment (a 50 MB article is 66k passages).
        hashes = np.concatenate(self.term_hashes) if counts else np.zeros(0, np.uint64)
        self.term_hashes.clear()
        freqs = np.concatenate(self.term_freqs) if counts else np.zeros(0, np.uint16)
        self.term_freqs.clear()
        self.vectors.clear()
        terms, postings = build_postings(docs, hashes, freqs)
        del docs, hashes, freqs
        return write_segment(folder, name, rows, [vectors], self.dimension, terms, postings, ann)


def write_segment(
    folder: Path,
    name: str,
    rows: np.ndarray,
    vector_blocks: Iterable[np.ndarray],
    dimension: int,
    terms: np.ndarray,
    postings: np.ndarray,
    ann: AnnBuilder | None = None,
) -> dict[str, Any]:
    """Write and fsync a segment's files; the vectors come in blocks so a merge never holds them all at once.

    ``ann`` builds the approximate index from the vectors file just written, or returns None for a small segment.
    """
    files: dict[str, Any] = {"rows": write_array(folder / file_name(name, "rows"), rows)}
    vectors = ArrayFile(folder / file_name(name, "vectors"), np.dtype(np.float32), (len(rows), dimension))
    try:
        for block in vector_blocks:
            vectors.write(block)
        files["vectors"] = vectors.close()
    finally:
        vectors.discard()
    files["terms"] = write_array(folder / file_name(name, "terms"), terms)
    files["postings"] = write_array(folder / file_name(name, "postings"), postings)
    kind = None
    if ann is not None and (built := ann(folder / file_name(name, "vectors"))) is not None:
        kind, data = built
        files[ANN] = write_bytes(folder / file_name(name, ANN), data)
    return {"name": name, "rows": len(rows), "ann": kind, "files": files}


# Segments are immutable: every reader in the process that names one shares its mapping and its verification.
_SEGMENTS: weakref.WeakValueDictionary[tuple[str, str, str], Segment] = weakref.WeakValueDictionary()
_SEGMENTS_LOCK = threading.Lock()


def open_segment(folder: Path, record: dict[str, Any], dimension: int) -> Segment:
    """The segment ``record`` names, mapped once per process: every reader (and merge) naming it shares the
    mapping and its verification. Segments are immutable."""
    # The files' identity is part of the key: a file changed on disk since (it never is, unless damaged) is mapped
    # and checked again rather than trusted from before.
    try:
        stats = [(folder / file_name(record["name"], kind)).stat() for kind in sorted(record["files"])]
        identity = repr([(s.st_ino, s.st_size, s.st_mtime_ns) for s in stats])
    except FileNotFoundError:
        identity = "missing"
    key = (str(folder), record["name"], identity + repr(sorted((k, v["xxh3"]) for k, v in record["files"].items())))
    with _SEGMENTS_LOCK:
        segment = _SEGMENTS.get(key)
        if segment is None:
            segment = Segment(folder, record, dimension)
            _SEGMENTS[key] = segment
        return segment

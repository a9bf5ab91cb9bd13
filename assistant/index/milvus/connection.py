"""A connection to a Milvus index: the client, its collections, and Milvus's errors as the library's.

An index is four collections named from one prefix: ``PREFIX_chunks`` (passages: vectors, BM25 words, offsets,
dates and outlets, the generation that added them), ``PREFIX_articles`` (one row per article), ``PREFIX_terms`` (how
many passages hold each stem) and ``PREFIX_meta`` (the commit, outlets, remembered removals). The commit names the
first three: a rebuild may write new ones (``PREFIX_chunks_gN``) while the old ones answer. Milvus Lite runs inside
this process (a gRPC server on loopback over a local folder, locked to one process); a server is reached at its URI,
with ``ASSISTANT_MILVUS_TOKEN``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ...errors import ConfigError, IndexCorruptError, StoreError, StoreUnavailableError
from ...settings import Settings
from ..location import MilvusAddress

__all__ = ["ARTICLES", "CHUNKS", "META", "NAMED", "SCHEMA_VERSION", "TERMS", "Connection", "fit", "listed", "quoted"]

logger = logging.getLogger(__name__)

CHUNKS, ARTICLES, TERMS, META = "chunks", "articles", "terms", "meta"
NAMED = (CHUNKS, ARTICLES, TERMS)  # the collections a commit names
SCHEMA_VERSION = 2  # 2: outlets, removals and word counts versioned (versions.py)
_TEXT = 65_535  # Milvus's longest VARCHAR, in bytes
_INSTALL = "the Milvus backend needs pymilvus and milvus-lite: pip install -e '.[scale]'"
# Milvus Lite's server for a folder is shared by every connection of the process, and stopped with the last one.
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def fit(value: str | None) -> str:
    """``value`` as a VARCHAR field holds it: "" for None, and cut to whole characters within the field's bytes
    (less room for a meta key's prefix). A news title or URL is far shorter; a hostile page's is not."""
    if not value:
        return ""
    data = value.encode("utf-8", "surrogatepass")
    room = _TEXT - 256
    return value if len(data) <= room else data[:room].decode("utf-8", "ignore")


def quoted(value: str) -> str:
    """A string literal of Milvus's filter expressions (which know no \\u escapes, so not JSON's)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def listed(values: Iterable[str]) -> str:
    return "[" + ", ".join(quoted(value) for value in values) + "]"


class Connection:
    """One client of a Milvus index. Not shared between writers; safe for concurrent searches."""

    def __init__(self, address: MilvusAddress, settings: Settings) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise ConfigError(_INSTALL) from None
        # pymilvus prints every failed call with a traceback to its own stderr handler; each of those errors
        # reaches the caller as a StoreError carrying the same message, so the printout is only noise.
        logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)
        self.address = address
        self.names = {kind: f"{address.collection}_{kind}" for kind in (*NAMED, META)}
        self._timeout = settings.milvus_timeout
        uri = _start_lite(address.uri) if address.lite else address.uri
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        try:
            with self.translated("connect"):
                self.client = MilvusClient(uri=uri, token=token, timeout=self._timeout)
        except BaseException:
            if address.lite:
                _stop_lite(address.uri)
            raise
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.client.close()
        if self.address.lite:
            _stop_lite(self.address.uri)

    # -- errors ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def translated(self, doing: str) -> Iterator[None]:
        """Milvus's and gRPC's exceptions as StoreError subclasses naming the index and what failed."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc, doing) from exc

    def _translate(self, exc: Exception, doing: str) -> StoreError:
        text = " ".join(str(exc).split())[:400]
        lowered = text.lower()
        if any(word in lowered for word in ("auth", "credential", "permission", "denied", "token")):
            return StoreUnavailableError(
                f"Milvus at {self.address} refused the credentials ({doing}): check ASSISTANT_MILVUS_TOKEN ({text})"
            )
        unreachable = ("connect", "unavailable", "timed out", "timeout", "deadline", "fail", "refused")
        if (
            isinstance(exc, OSError)
            or any(word in lowered for word in unreachable)
            or "Milvus" not in type(exc).__name__
        ):
            return StoreUnavailableError(
                f"cannot reach Milvus at {self.address} ({doing}): {text}; is the server running? (docs/scale.md: "
                "'A Milvus server')"
            )
        return StoreError(f"Milvus at {self.address} failed to {doing}: {text}")

    # -- collections -----------------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether an index is here: its meta collection (which names the others) is."""
        with self.translated("list collections"):
            if not self.client.has_collection(self.names[META]):
                return False
            fields = {field["name"] for field in self.client.describe_collection(self.names[META])["fields"]}
        if not {"key", "value"} <= fields:
            raise IndexCorruptError(
                f"{self.address}: the collection {self.names[META]} was not made by this assistant (its fields are "
                f"{sorted(fields)}); use another collection name"
            )
        return True

    def fields(self, kind: str) -> set[str]:
        with self.translated(f"describe {kind}"):
            return {field["name"] for field in self.client.describe_collection(self.names[kind])["fields"]}

    def recreate(self, kind: str) -> None:
        """Drop collection ``kind`` and make it anew in this version's schema (an older version's index, rebuilt)."""
        schema, index = _schemas(self.client, 2, exact=self.address.lite)[kind]
        with self.translated(f"make {kind} anew"):
            self.client.drop_collection(self.names[kind])
            self.client.create_collection(self.names[kind], schema=schema, consistency_level="Strong")
            self.client.create_index(self.names[kind], index, sync=False)
        self.load(kind)

    def use(self, collections: dict[str, str] | None) -> None:
        """Read and write the passages and articles in the collections a commit names (None: the default ones)."""
        prefix = self.address.collection
        self.names.update({kind: f"{prefix}_{kind}" for kind in NAMED} | (collections or {}))

    def create(self, dimension: int) -> None:
        """The collections in use, for vectors of ``dimension``; those already there are checked, not changed."""
        with self.translated("create the collections"):
            for kind, (schema, index) in _schemas(self.client, dimension, exact=self.address.lite).items():
                if not self.client.has_collection(self.names[kind]):
                    self.client.create_collection(self.names[kind], schema=schema, consistency_level="Strong")
                    # Not waited for: waiting asks for a timestamp, which Milvus Lite does not serve (and logs).
                    self.client.create_index(self.names[kind], index, sync=False)
                    logger.info("created %s in %s", self.names[kind], self.address)
        if self.dimension() != dimension:
            raise IndexCorruptError(
                f"{self.address}: the collection {self.names[CHUNKS]} holds vectors of dimension {self.dimension()}, "
                f"the model makes {dimension}: rebuild with `assistant index build` or use another collection name"
            )

    def load(self, *kinds: str) -> None:
        with self.translated("load the collections"):
            for kind in kinds or (*NAMED, META):
                if not self.client.has_collection(self.names[kind]):
                    raise IndexCorruptError(
                        f"{self.address}: the collection {self.names[kind]} is missing: rebuild the index with "
                        f"`assistant index build --index {self.address}`"
                    )
                self.client.load_collection(self.names[kind])

    def dimension(self) -> int | None:
        """The dimension of the passages' vectors (None: no passage collection yet); IndexCorruptError when the
        collection of that name was not made by this assistant."""
        with self.translated("describe the passages"):
            if not self.client.has_collection(self.names[CHUNKS]):
                return None
            fields = self.client.describe_collection(self.names[CHUNKS])["fields"]
        found = {field["name"]: field for field in fields}
        if set(_CHUNK_FIELDS) - set(found):
            raise IndexCorruptError(
                f"{self.address}: the collection {self.names[CHUNKS]} was not made by this assistant (its fields are "
                f"{sorted(found)}); use another collection name"
            )
        return int(found["vector"]["params"]["dim"])

    def drop_others(self, keep: Iterable[str] = ()) -> None:
        """Drop this index's passage, article and word-count collections other than those in use and ``keep`` (a
        rebuild's predecessors, or what a rebuild that died had made)."""
        prefix = self.address.collection
        in_use = {*self.names.values(), *keep}
        with self.translated("drop unused collections"):
            for name in self.client.list_collections():
                ours = any(name == f"{prefix}_{kind}" or name.startswith(f"{prefix}_{kind}_g") for kind in NAMED)
                if ours and name not in in_use:
                    logger.info("dropping %s, which no commit of %s names", name, self.address)
                    self.client.drop_collection(name)

    # -- rows ------------------------------------------------------------------------------------------------
    def query(self, kind: str, expr: str, fields: list[str], limit: int = 16_384) -> list[dict[str, Any]]:
        """Rows matching ``expr``: at most ``limit`` (Milvus answers at most 16,384 rows per query)."""
        with self.translated(f"read {kind}"):
            return list(self.client.query(self.names[kind], filter=expr, output_fields=fields, limit=limit))

    def batches(
        self, kind: str, expr: str, fields: list[str], upper: int, size: int = 8000, lower: int = 0
    ) -> Iterator[list[dict[str, Any]]]:
        """Every row matching ``expr`` whose uid is in [``lower``, ``upper``), a window of uids at a time.

        Uids are handed out in order by the one writer, so windows of ``size`` uids cover the collection, hold at
        most ``size`` rows each, and need neither Milvus's query iterator (which Milvus Lite lacks) nor offsets.
        """
        for low in range(lower, upper, size):
            rows = self.query(kind, f"uid >= {low} and uid < {low + size} and ({expr})", fields, limit=size)
            if rows:
                yield rows

    def count(self, kind: str, expr: str) -> int:
        with self.translated(f"count {kind}"):
            rows = self.client.query(self.names[kind], filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def insert(self, kind: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.translated(f"write {kind}"):
                self.client.insert(self.names[kind], rows)

    def upsert(self, kind: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.translated(f"write {kind}"):
                self.client.upsert(self.names[kind], rows)

    def delete(self, kind: str, expr: str) -> None:
        with self.translated(f"delete {kind}"):
            self.client.delete(self.names[kind], filter=expr)

    def search(self, field: str, data: Any, n: int, expr: str, metric: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"metric_type": metric}
        if metric == "IP" and not self.address.lite:
            params["params"] = {"ef": max(4 * n, 256)}  # HNSW's breadth: several times the passages wanted
        with self.translated("search"):
            found = self.client.search(
                self.names[CHUNKS],
                data=[data],
                anns_field=field,
                limit=n,
                filter=expr,
                output_fields=["chunk_id", "article_uid"],
                search_params=params,
            )
        return list(found[0]) if found else []


_CHUNK_FIELDS = (
    "uid", "chunk_id", "article_uid", "article_id", "ordinal", "start", "end", "text", "title", "date", "source",
    "url", "source_code", "gen", "hash", "words", "sparse", "vector",
)  # fmt: skip


def _schemas(client: Any, dimension: int, *, exact: bool) -> dict[str, tuple[Any, Any]]:
    from pymilvus import DataType, Function, FunctionType

    # The words arrive analyzed by the index's own analyzer (stemmed, folded: lexicon.analyze), so Milvus only
    # splits them on spaces: BM25 and word counts mean the same as in the local store, on Lite and on a server.
    analyzer = {"tokenizer": "standard"}
    chunks = client.create_schema(auto_id=False)
    chunks.add_field("uid", DataType.INT64, is_primary=True)
    for name in ("chunk_id", "article_uid", "ordinal", "start", "end", "source_code", "gen", "hash"):
        chunks.add_field(name, DataType.INT64)
    for name in ("article_id", "text", "title", "date", "source", "url"):
        chunks.add_field(name, DataType.VARCHAR, max_length=_TEXT)
    chunks.add_field(
        "words", DataType.VARCHAR, max_length=_TEXT, enable_analyzer=True, enable_match=True, analyzer_params=analyzer
    )
    chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    chunks.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    chunks.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["words"], output_field_names=["sparse"]
        )
    )
    chunk_index = client.prepare_index_params()
    if exact:
        # Milvus Lite (a few million passages at most) searches exactly: its HNSW, under a narrow date filter,
        # returned a fifth of the candidates asked for (RealTime QA "this week" questions).
        chunk_index.add_index("vector", index_type="FLAT", metric_type="IP")
    else:
        chunk_index.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    chunk_index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    for name in ("chunk_id", "article_uid", "gen"):
        chunk_index.add_index(name, index_type="INVERTED")

    articles = client.create_schema(auto_id=False)
    articles.add_field("uid", DataType.INT64, is_primary=True)
    for name in ("day", "gen", "chunks"):
        articles.add_field(name, DataType.INT64)
    for name in ARTICLE_TEXT_FIELDS:
        articles.add_field(name, DataType.VARCHAR, max_length=_TEXT)
    articles.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
    article_index = client.prepare_index_params()
    article_index.add_index("unused", index_type="AUTOINDEX", metric_type="L2")

    terms = client.create_schema(auto_id=False)
    terms.add_field("key", DataType.VARCHAR, is_primary=True, max_length=_TEXT)
    for name in ("df", "prev", "gen"):  # the count, the count before, the generation that wrote it (versions.py)
        terms.add_field(name, DataType.INT64)
    terms.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    terms_index = client.prepare_index_params()
    terms_index.add_index("unused", index_type="AUTOINDEX", metric_type="L2")

    meta = client.create_schema(auto_id=False)
    meta.add_field("key", DataType.VARCHAR, is_primary=True, max_length=_TEXT)
    meta.add_field("value", DataType.VARCHAR, max_length=_TEXT)
    meta.add_field("gen", DataType.INT64)  # the generation that wrote a versioned row (versions.py); 0 for the commit
    meta.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    meta_index = client.prepare_index_params()
    meta_index.add_index("unused", index_type="AUTOINDEX", metric_type="L2")
    return {
        CHUNKS: (chunks, chunk_index),
        ARTICLES: (articles, article_index),
        TERMS: (terms, terms_index),
        META: (meta, meta_index),
    }


ARTICLE_TEXT_FIELDS = (
    "id", "title", "date", "source", "url", "author", "origin", "file", "root", "content_hash", "copy_hash",
    "indexed_at",
)  # fmt: skip
UNUSED = [0.0, 0.0]


def _start_lite(folder: str) -> str:
    from milvus_lite.server_manager import server_manager_instance

    with _LITE_LOCK:
        uri = server_manager_instance.start_and_get_uri(folder)
        if uri is None:
            # Milvus Lite locks its folder for one process (and logged why it could not start).
            raise StoreUnavailableError(
                f"milvus-lite:{folder} is open in another process: Milvus Lite serves one process per folder; "
                "stop that process (a running `assistant serve`?) or use a Milvus server"
            )
        _LITE_USERS[folder] = _LITE_USERS.get(folder, 0) + 1
        return str(uri)


def _stop_lite(folder: str) -> None:
    from milvus_lite.server_manager import server_manager_instance

    with _LITE_LOCK:
        users = _LITE_USERS.get(folder, 0) - 1
        if users > 0:
            _LITE_USERS[folder] = users
            return
        _LITE_USERS.pop(folder, None)
        server_manager_instance.release_server(folder)

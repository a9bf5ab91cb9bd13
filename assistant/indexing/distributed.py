"""Distributed ingestion on Ray Data: the cluster reads, chunks and embeds; this process writes what comes back.

The pipeline is one row per file → ``read_file`` on a worker, one row per article (and one per file read) →
an actor pool that loads the model once per actor and embeds the new and changed articles → this process, which
iterates the result as a stream and rebuilds the events :func:`~assistant.indexing.intake.chunked_articles` yields.

Rows are plain columns (strings, integers, bytes): an article and its chunks travel as JSON, vectors as float32
bytes. The settings (secrets masked: a worker calls no LLM) and the id maps go to the workers as JSON too, once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..documents import Article, Chunk, Skipped
from ..embed.base import Embedder
from ..embed.factory import embedder_from_settings
from ..errors import AssistantError, ClusterError, ConfigError
from ..settings import Settings
from .chunking import embedding_text
from .intake import FileRead, Item, read_file

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["INSTALL_HINT", "WORKER_ENV", "ray_articles"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "distributed ingestion needs Ray: pip install -e '.[scale]'"

# What a worker needs that the cluster's own environment may lack: the model is read from disk, never fetched.
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

# Articles per call of an embedding actor: ~13 passages each for news. The model sorts a call's passages by length,
# so a call of ~400 passages pads less than one of 64 (20% faster on one thread); smaller would balance small corpora
# better over the actors, and a lost node's re-run work is a call or two.
EMBED_ARTICLES = 32
# Input blocks: one file each up to this many files, so small corpora still spread over the cluster's readers;
# more files share a block, keeping the scheduler's bookkeeping small for a million of them.
MAX_BLOCKS = 2048
# Read tasks running at once per embedding actor: reading runs ahead of the model, never far ahead.
READERS_PER_ACTOR = 2

_ITEM, _READ = "item", "read"


# -- rows ----------------------------------------------------------------------------------------------------------
def _skipped(items: list[Skipped]) -> list[list[Any]]:
    return [[s.origin, s.reason, s.line] for s in items]


def _unskipped(items: list[list[Any]]) -> list[Skipped]:
    return [Skipped(origin, reason, line) for origin, reason, line in items]


def item_row(item: Item, seq: int, embed: bool) -> dict[str, Any]:
    """An article as a row. A chunk's text is ``article.text[start:end]``: only its offsets travel."""
    chunks = [
        [c.id, c.ordinal, c.start, c.end, None if item.article.text[c.start : c.end] == c.text else c.text]
        for c in item.chunks
    ]
    # ASCII JSON: a lone surrogate (which bad input can carry) survives the trip, and Arrow needs valid UTF-8.
    body = {"article": dataclasses.asdict(item.article), "chunks": chunks, "root": item.root}
    return {"kind": _ITEM, "file": item.file, "seq": seq, "body": json.dumps(body), "embed": embed}


def read_row(event: FileRead, items: int) -> dict[str, Any]:
    """A file's end as a row; ``seq`` is how many article rows it sent, so the driver knows when all are in."""
    body = {
        "problems": _skipped(event.problems),
        "superseded": _skipped(event.superseded),
        "warnings": _skipped(event.warnings),
    }
    return {"kind": _READ, "file": event.file, "seq": items, "body": json.dumps(body), "embed": False}


def _article(body: dict[str, Any]) -> tuple[Article, list[Chunk]]:
    article = Article(**body["article"])
    chunks = [
        Chunk(chunk_id, article.id, ordinal, start, end, article.text[start:end] if text is None else text)
        for chunk_id, ordinal, start, end, text in body["chunks"]
    ]
    return article, chunks


def event_of(row: dict[str, Any]) -> Item | FileRead:
    """The event a row stands for, with the vectors embedded on the cluster (None when it needed none)."""
    body = json.loads(row["body"])
    if row["kind"] == _READ:
        problems, superseded, warnings = (_unskipped(body[k]) for k in ("problems", "superseded", "warnings"))
        return FileRead(row["file"], problems, superseded, warnings)
    article, chunks = _article(body)
    vectors = None
    if row["embed"]:
        # A copy: the buffer Arrow hands out is read-only, and the writer keeps the array.
        vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(chunks), int(row["dim"])).copy()
    return Item(article, chunks, row["file"], body["root"], vectors)


# -- on the workers ------------------------------------------------------------------------------------------------
_JOBS: dict[str, tuple[Settings, dict[str, str], dict[str, str]]] = {}  # a worker runs many read tasks: fetched once


def job_text(settings: Settings, kept_ids: Mapping[str, str], known: Mapping[str, str]) -> str:
    """What every read task needs, as JSON, put in the object store once rather than shipped with each task."""
    return json.dumps({"settings": settings.model_dump(mode="json"), "kept_ids": dict(kept_ids), "known": dict(known)})


def read_rows(row: dict[str, Any], job: Any) -> Iterator[dict[str, Any]]:
    """One file's rows: its articles (``embed`` when the index lacks them as they are now), then its end."""
    import ray

    key = job.hex()
    if key not in _JOBS:
        body = json.loads(ray.get(job))
        _JOBS.clear()
        _JOBS[key] = (Settings.model_validate(body["settings"]), body["kept_ids"], body["known"])
    settings, kept_ids, known = _JOBS[key]
    count = 0
    for event in read_file(Path(row["folder"]), Path(row["path"]), settings, kept_ids):
        if isinstance(event, FileRead):
            yield read_row(event, count)
        else:
            yield item_row(event, count, event.article.content_hash != known.get(event.article.id))
            count += 1


class Embedding:
    """An embedding actor: the model is loaded once, then each batch's new and changed articles are embedded."""

    def __init__(self, settings: str, identity: str | None = None) -> None:
        self.embedder: Embedder | None = None
        self.failure: Exception | None = None
        try:
            self.embedder = embedder_from_settings(Settings.model_validate_json(settings))
            if identity is not None and self.embedder.identity != identity:
                raise ConfigError(
                    f"the cluster's embedder is {self.embedder.identity!r}, this process's {identity!r}: "
                    "install the same model on every node"
                )
        except Exception as exc:
            # Raised by the first call instead: Ray reports a failed constructor by its message alone, a failed
            # call with the exception itself, which the driver raises as the library's own error.
            self.failure = exc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.embedder is None:
            raise self.failure or ConfigError("the embedding actor has no embedder")
        rows = len(batch["kind"])
        texts: list[str] = []
        counts: list[int] = []
        for body, embed in zip(batch["body"], batch["embed"], strict=True):
            if not embed:
                counts.append(0)
                continue
            article, chunks = _article(json.loads(body))
            texts.extend(embedding_text(article.title, c.text) for c in chunks)
            counts.append(len(chunks))
        dimension = int(self.embedder.dimension)
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, dimension), np.float32)
        if vectors.shape != (len(texts), dimension):
            raise ConfigError(f"embedder returned vectors of shape {vectors.shape} for {len(texts)} passages")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        out = np.empty(rows, dtype=object)
        cursor = 0
        for at, count in enumerate(counts):
            out[at] = vectors[cursor : cursor + count].tobytes() if batch["embed"][at] else b""
            cursor += count
        batch["vectors"] = out
        batch["dim"] = np.full(rows, dimension, dtype=np.int64)
        return batch


# -- on the driver -------------------------------------------------------------------------------------------------
def _import_ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a host:port nobody listens at: Ray itself retries such an address for minutes."""
    host, colon, port = address.rpartition(":")
    if not (colon and host and port.isdigit()):
        return  # "auto", "ray://…" and the like: Ray's to resolve
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc}") from exc


# Ray waits a fixed time for a new local node to register with its GCS, then raises a bare Exception "... timed out
# during startup" (ray/_private/node.py); earlier, waiting for the GCS to write its port, a RuntimeError "Timed out
# waiting for file .../gcs_server_port_...". With every core busy (a CPU hog on each of two cores beside two test
# runs; a benchmark beside the suite) each happened in this project's test runs; a start that times out is shut
# down and made again.
_START_TIMEOUTS = ("timed out during startup", "Timed out waiting for file")
LOCAL_START_ATTEMPTS = 3


def connect(ray: ModuleType, address: str | None) -> bool:
    """Join the cluster at ``address`` (None or "": ``RAY_ADDRESS``, else a local instance started here).

    Returns whether this call connected (and so must disconnect): a connection the caller made is left as found.
    """
    if ray.is_initialized():
        if address:
            logger.warning("this process is connected to Ray already: using that connection, not %s", address)
        return False
    target = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {}
    if target is not None:
        _check_reachable(target)
    else:
        # A local instance: no dashboard (a web server nobody asked for) and no usage report (this tool is offline).
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options["include_dashboard"] = False
    logger.info("connecting to Ray %s", target or "(local instance)")
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            ray.init(
                address=target,
                runtime_env={"env_vars": WORKER_ENV},
                # Workers' output stays in the cluster's logs: the CLI's stdout is its result (JSON with --json).
                log_to_driver=False,
                logging_level=logging.WARNING,
                **options,
            )
            return True
        except ConnectionError as exc:
            raise ClusterError(f"cannot reach the Ray cluster at {target}: {exc}") from exc
        except Exception as exc:  # Ray raises a bare Exception when a local node is slow to start
            if target is not None or not any(sign in str(exc) for sign in _START_TIMEOUTS):
                raise
            ray.shutdown()  # what the attempt started, before the next one
            if attempt == LOCAL_START_ATTEMPTS:
                raise ClusterError(
                    f"a local Ray instance did not start ({LOCAL_START_ATTEMPTS} attempts): its node did not register "
                    "within the 30 s Ray allows, which happens on a machine this busy; try again, or start one with "
                    "`ray start --head` and pass its address"
                ) from exc
            logger.warning("a local Ray instance was slow to start (attempt %d): starting it again", attempt)
    return True  # not reached: the loop returns or raises


def _quiet_data(ray: ModuleType) -> dict[str, Any]:
    """Ray Data's context set for this run (no bars or banners of its own, ordered output, the UDF's own errors);
    returns what it was, to put back."""
    context = ray.data.DataContext.get_current()
    wanted = {"enable_progress_bars": False, "print_on_execution_start": False, "raise_original_map_exception": True}
    saved = {name: getattr(context, name) for name in wanted}
    saved["preserve_order"] = context.execution_options.preserve_order
    for name, value in wanted.items():
        setattr(context, name, value)
    # Input order, as the local path reads: which of two copies of an article is kept does not depend on timing.
    context.execution_options.preserve_order = True
    quiet = logging.getLogger("ray.data")
    saved["level"] = quiet.level
    # Its warnings (that its bars are off) and tracebacks would clutter the CLI's stderr: its errors are raised here.
    quiet.setLevel(logging.CRITICAL)
    return saved


def _restore_data(ray: ModuleType, saved: dict[str, Any]) -> None:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = saved.pop("preserve_order")
    logging.getLogger("ray.data").setLevel(saved.pop("level"))
    for name, value in saved.items():
        setattr(context, name, value)


def _cluster_error(exc: Exception) -> BaseException:
    """The worker's own error when it is the library's (a model that will not load, a bad setting), else a
    :class:`ClusterError` naming the first error in the chain that is not Ray's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    named: BaseException = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = getattr(current, "cause", None)  # a RayTaskError carries the worker's exception
        for candidate in (current, cause):
            if isinstance(candidate, AssistantError):
                return candidate
        if named is exc and not type(current).__module__.startswith("ray."):
            named = current
        current = cause if isinstance(cause, BaseException) else current.__cause__ or current.__context__
    return ClusterError(f"a Ray worker failed: {type(named).__name__}: {named}")


def _events(rows: Iterator[dict[str, Any]]) -> Iterator[Item | FileRead]:
    """Events from rows, each file's end after all its articles, each article once.

    Ray re-runs the tasks of a lost node; should a re-run deliver a row again, it is dropped here, by its file and
    place in the file.
    """
    seen: dict[str, set[int]] = {}  # article rows received per file not yet complete
    ends: dict[str, tuple[int, FileRead]] = {}  # a file's end, held until all its articles are in
    done: set[str] = set()
    for row in rows:
        file, seq = row["file"], int(row["seq"])
        if file in done:
            continue
        got = seen.setdefault(file, set())
        if row["kind"] == _READ:
            event = event_of(row)
            assert isinstance(event, FileRead)
            ends[file] = (seq, event)
        elif seq not in got:
            got.add(seq)
            yield event_of(row)
        if file in ends and len(got) >= ends[file][0]:
            yield ends.pop(file)[1]
            del seen[file]
            done.add(file)
    if ends or any(seen.values()):
        missing = sorted(ends) or sorted(seen)
        raise ClusterError(f"the cluster's results ended before {len(missing)} file(s) were complete: {missing[:5]}")


def ray_articles(
    pairs: Sequence[tuple[Path, Path]],
    settings: Settings,
    kept_ids: Mapping[str, str],
    known: Mapping[str, str],
    *,
    address: str | None = None,
    identity: str | None = None,
) -> Iterator[Item | FileRead]:
    """:func:`~assistant.indexing.intake.chunked_articles` on a Ray cluster: each file's articles, then its
    :class:`FileRead`; articles the index holds unchanged (``known``: id → content hash) come without vectors, the
    others with their vectors, embedded on the cluster by the model the settings choose (``identity``, when given,
    must be that model's).

    ``address``: a cluster's (host:port); None or "": ``RAY_ADDRESS``, else a Ray instance started for this call.
    What this call connected to it disconnects from when done, failed or abandoned.
    """
    if not pairs:
        return
    ray = _import_ray()
    connected = connect(ray, address)
    saved: dict[str, Any] | None = None
    try:
        saved = _quiet_data(ray)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        job = ray.put(job_text(settings, kept_ids, known))
        files = [{"folder": str(folder), "path": str(path)} for folder, path in pairs]
        blocks = min(len(files), MAX_BLOCKS)
        dataset = (
            ray.data.from_items(files, override_num_blocks=blocks)
            # Reading costs little beside the model: it takes no CPU of the actors' and is capped instead.
            .flat_map(
                read_rows,
                fn_kwargs={"job": job},
                compute=ray.data.TaskPoolStrategy(size=min(blocks, READERS_PER_ACTOR * cpus)),
                num_cpus=0,
            )
            .map_batches(
                Embedding,
                fn_constructor_kwargs={"settings": settings.model_dump_json(), "identity": identity},
                batch_size=EMBED_ARTICLES,
                batch_format="numpy",
                # Every actor started at once: each loads the model, and none should wait for the others to.
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cpus, initial_size=cpus),
                num_cpus=1,
            )
        )
        logger.info("reading %d files on Ray (%d CPUs)", len(files), cpus)
        try:
            yield from _events(iter(dataset.iter_rows()))
        except AssistantError:
            raise
        except Exception as exc:
            error = _cluster_error(exc)
            if error is exc:
                raise
            raise error from exc
    finally:
        if saved is not None:
            _restore_data(ray, saved)
        if connected:
            ray.shutdown()

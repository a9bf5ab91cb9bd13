"""Distributed ingestion on Ray (assistant/index/distributed.py): a Ray build is the single-process build, the
cluster embeds only what changed, a node lost mid-run costs time but no article, bad input reads as it does
locally, and without Ray the command says how to install it.

The clusters are real: ``ray start`` processes on loopback, each node in a session of its own (so that everything
it started is found and stopped by id), with token authentication from the environment (no token file written).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import article_ids, news_corpus, write_jsonl
from processes import REPO, TESTS, child_env

from assistant import Retriever, build_index, describe_index, update_index
from assistant.errors import ClusterError, ConfigError, IndexNotFoundError
from assistant.index.local.reader import IndexReader
from assistant.indexing import distributed
from assistant.indexing.chunking import embedding_text
from assistant.indexing.intake import FileRead, Item
from assistant.settings import Settings
from assistant.testing import HashingEmbedder

try:  # the `scale` extra (Ray) and psutil (the `bench` one); the test of Ray's absence runs without them
    import psutil
    import ray
except ImportError:
    ray = psutil = None
needs_ray = pytest.mark.skipif(
    ray is None or psutil is None, reason="needs ray[data] and psutil: pip install -e '.[scale,bench]'"
)

REAL = TESTS / "data" / "real"
REALTIMEQA = REPO.parent / "shared" / "bench" / "realtimeqa" / "corpus.jsonl"
RAY = Path(sys.executable).with_name("ray")
# Ray's token authentication, from the environment: no ~/.ray/auth_token is written by a test.
RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}
# Ray Data reads its own deprecated settings when it copies its context: not this code's to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


def sync_ray_auth() -> None:
    """Ray reads RAY_AUTH_MODE once, when it is imported: make this process see the environment as it is now."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@pytest.fixture(autouse=True)
def ray_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)
        for key, value in RAY_ENV.items():
            patch.setenv(key, value)
        if ray is not None:
            sync_ray_auth()
        yield
        if ray is not None and ray.is_initialized():  # a test that failed half-way: the next starts disconnected
            ray.shutdown()
    if ray is not None:
        sync_ray_auth()


# -- indexes compared ----------------------------------------------------------------------------------------------
def contents(index: Path) -> tuple[list[tuple], dict[int, np.ndarray]]:
    """The chunks (id, article, ordinal, offsets, text) of an index, and each chunk's vector by id."""
    reader = IndexReader.open(index)
    try:
        rows = [
            tuple(r) for r in reader.query("SELECT id, article_id, ordinal, start, end, text FROM chunks ORDER BY id")
        ]
        vectors: dict[int, np.ndarray] = {}
        for live in reader.lives:
            segment = live.segment
            positions = range(segment.count) if live.live is None else np.flatnonzero(live.live)
            for at in positions:
                vectors[int(segment.ids[at])] = np.array(segment.vectors[at])
        return rows, vectors
    finally:
        reader.close()


def assert_same_index(got: Path, want: Path, atol: float = 0.0) -> None:
    rows, vectors = contents(got)
    want_rows, want_vectors = contents(want)
    assert rows == want_rows
    assert sorted(vectors) == sorted(want_vectors) == sorted(r[0] for r in rows)
    for chunk_id, vector in want_vectors.items():
        np.testing.assert_allclose(vectors[chunk_id], vector, atol=atol, rtol=0)


def articles_once(index: Path) -> list[str]:
    reader = IndexReader.open(index)
    try:
        twice = reader.query("SELECT id FROM articles GROUP BY id HAVING COUNT(*) > 1")
        return sorted(r[0] for r in reader.query("SELECT id FROM articles")) if not twice else []
    finally:
        reader.close()


def skipped(summary) -> list[tuple]:
    return [(s.origin, s.line, s.reason) for s in summary.skipped]


def sample_corpus(folder: Path, files: int = 6, per_file: int = 10) -> Path:
    """RealTime QA's first articles in a few JSON Lines files when the benchmark data is here (evaluation only:
    written under tmp, never into the repository), else the news corpus and the real pages of tests/data/real."""
    folder.mkdir(parents=True)
    if not REALTIMEQA.exists():
        news_corpus(folder)
        shutil.copytree(REAL, folder / "real")
        return folder
    with REALTIMEQA.open(encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(files * per_file), handle, strict=False)]
    for part in range(files):
        (folder / f"part-{part}.jsonl").write_text("".join(lines[part * per_file : (part + 1) * per_file]), "utf-8")
    return folder


def settings(**options) -> Settings:
    return Settings(progress=False, **options)


# -- a local Ray instance ------------------------------------------------------------------------------------------
@needs_ray
def test_a_local_ray_instance_builds_what_one_process_builds(tmp_path: Path, real_embedder) -> None:
    """``ray=""`` without RAY_ADDRESS starts a Ray instance for the build and stops it after; the index (ids,
    offsets, and the real model's vectors) is the single-process one, skipped inputs and warnings too."""
    corpus = news_corpus(tmp_path / "news")
    shutil.copytree(REAL, corpus / "real")
    # The workers load the model the settings name (they cannot be handed this process's): torch, as here.
    torch = settings(embed_backend="torch")
    local = build_index([corpus], tmp_path / "local", embedder=real_embedder, settings=torch)
    started = time.perf_counter()
    on_ray = build_index([corpus], tmp_path / "ray", embedder=real_embedder, settings=torch, ray="")
    print(f"local Ray build: {time.perf_counter() - started:.1f}s")
    assert not ray.is_initialized()
    assert on_ray.counts() == local.counts() and on_ray.added == local.added
    assert on_ray.embedded_chunks == local.embedded_chunks == local.chunks
    assert skipped(on_ray) == skipped(local)
    assert [(w.origin, w.reason) for w in on_ray.warnings] == [(w.origin, w.reason) for w in local.warnings]
    # One torch thread on a worker, every core here: the same vectors up to float rounding.
    assert_same_index(tmp_path / "ray", tmp_path / "local", atol=1e-5)


@pytest.fixture
def ray_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Ray instance this test connects to first, whose workers import tests/embedders.py; yields the file the
    SlowEmbedder grows by a byte per batch it embeds on the cluster."""
    mark = tmp_path / "embedded-on-ray"
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
    monkeypatch.setenv("SLOW_EMBEDDER_SECONDS", "0")
    monkeypatch.setenv("SLOW_EMBEDDER_MARK", str(mark))
    assert distributed.connect(ray, None)  # a local instance, as the library starts one (started again if slow)
    try:
        yield mark
    finally:
        ray.shutdown()


@needs_ray
def test_the_cluster_embeds_only_new_and_changed_articles(tmp_path: Path, ray_session: Path) -> None:
    mark = ray_session
    corpus = news_corpus(tmp_path / "news")
    options = settings(embedder="embedders:SlowEmbedder")
    here = HashingEmbedder()  # this process's: it must embed nothing
    first = build_index([corpus], tmp_path / "ray", embedder=here, settings=options, ray="")
    assert ray.is_initialized(), "a connection the caller made is left open"
    assert first.embedded_chunks == first.chunks > 0 and mark.stat().st_size > 0
    mark.unlink()

    again = update_index([corpus], tmp_path / "ray", embedder=here, settings=options, ray="")
    assert (again.embedded_chunks, again.unchanged, again.published) == (0, 5, False)
    assert not mark.exists(), "nothing was embedded on the cluster"
    reader = IndexReader.open(tmp_path / "ray")
    before = {row["id"]: row["content_hash"] for row in reader.query("SELECT id, content_hash FROM articles")}
    reader.close()

    (corpus / "volcano.md").write_text(
        "---\ntitle: Volcano erupts again\ndate: 2024-03-20\n---\n\nA second fissure opened near Grindavik.\n"
    )
    (corpus / "storm.md").write_text(
        "---\ntitle: Storm hits the coast\ndate: 2024-03-21\n---\n\nWinds reached 150 km/h.\n"
    )
    changed = update_index([corpus], tmp_path / "ray", embedder=here, settings=options, ray="")
    volcano, storm = (
        next(i for i in [*first.added, *changed.added] if i.endswith(n)) for n in ("volcano.md", "storm.md")
    )
    assert (changed.changed, changed.added, changed.unchanged) == ([volcano], [storm], 4)
    assert changed.embedded_chunks == 2 and mark.exists()
    assert here.embedded == 0

    local = HashingEmbedder()
    build_index([corpus], tmp_path / "local", embedder=local, settings=settings())
    assert_same_index(tmp_path / "ray", tmp_path / "local")

    # The events themselves: an article the index held as it is comes without vectors, the others with theirs.
    pairs = [(corpus, path) for path in sorted(corpus.iterdir())]
    events = list(distributed.ray_articles(pairs, options, {}, before))
    assert [e.file for e in events if isinstance(e, FileRead)] == [str(path.resolve()) for _, path in pairs]
    reading = HashingEmbedder()
    for item in (e for e in events if isinstance(e, Item)):
        if item.article.id not in (volcano, storm):
            assert item.vectors is None
            continue
        texts = [embedding_text(item.article.title, c.text) for c in item.chunks]
        assert item.vectors is not None and np.array_equal(item.vectors, reading.embed(texts))


@needs_ray
def test_a_worker_error_is_raised_here(tmp_path: Path, ray_session: Path) -> None:
    """The library's own error as itself (an embedder the workers cannot load), anything else as a ClusterError
    naming it; neither is retried forever."""
    corpus = news_corpus(tmp_path / "news")
    here = HashingEmbedder()
    missing = settings(embedder="no_such_module:Embedder")
    with pytest.raises(ConfigError, match="ASSISTANT_EMBEDDER 'no_such_module:Embedder' cannot be loaded"):
        build_index([corpus], tmp_path / "idx", embedder=here, settings=missing, ray="")
    broken = settings(embedder="json:dumps")  # a factory that raises TypeError when called with no arguments
    with pytest.raises(ClusterError, match=r"a Ray worker failed: TypeError: .*dumps"):
        build_index([corpus], tmp_path / "idx", embedder=here, settings=broken, ray="")
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(tmp_path / "idx")


def broken_corpus(folder: Path) -> Path:
    folder.mkdir()
    news_corpus(folder / "news")
    write_jsonl(folder / "export.jsonl", [{"id": "ok", "title": "Fine", "text": "A fine article about rates."}])
    with (folder / "export.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"id": "cut", "title": "Cut off", "text": "half a rec\n')
        handle.write(json.dumps({"id": "no-text", "title": "No body"}) + "\n")
        handle.write(json.dumps({"id": "ok2", "title": "Also fine", "text": "Another article."}) + "\n")
    (folder / "empty.txt").write_text("")
    (folder / "empty.jsonl").write_text("\n\n")
    (folder / "bad.json").write_text("{not json")
    return folder


@needs_ray
def test_bad_input_on_ray_reads_as_it_does_locally(tmp_path: Path, index_location: str | Path) -> None:
    """The same skipped inputs (file, line, reason), through the command line with --json: its stdout is the JSON
    summary alone, whatever Ray says (on stderr). What the cluster sends back goes to either backend."""
    corpus = broken_corpus(tmp_path / "corpus")
    local = build_index([corpus], tmp_path / "local", embedder=HashingEmbedder(), settings=settings())
    assert len(local.skipped) >= 4
    env = child_env(ASSISTANT_EMBEDDER="assistant.testing:HashingEmbedder", **RAY_ENV)
    command = [sys.executable, "-m", "assistant", "index", "build", str(corpus), "--ray"]
    run = subprocess.run(
        [*command, "--index", str(index_location), "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert [(s["origin"], s["line"], s["reason"]) for s in summary["skipped"]] == skipped(local)
    assert summary["counts"] == local.counts()
    if isinstance(index_location, Path):
        assert_same_index(index_location, tmp_path / "local")
    else:  # Milvus: the same articles and passages, found by the same search
        assert article_ids(index_location) == article_ids(tmp_path / "local")
        assert describe_index(index_location).chunks == describe_index(tmp_path / "local").chunks
        hits = [
            [(hit.chunk_id, hit.start, hit.end) for hit in Retriever.open(index, embedder=HashingEmbedder()).search(
                "central bank interest rate", k=5, as_of="2030-01-01")]
            for index in (index_location, tmp_path / "local")
        ]  # fmt: skip
        assert hits[0] == hits[1] and hits[0]


class FlakyRay:
    """Stands in for the ray module in ``connect``: ``init`` fails as Ray does when a local node is slow to register
    (the bare Exception of ray/_private/node.py) the first ``failures`` times."""

    TIMEOUT = (
        "The current node timed out during startup. This could happen because some of the raylet failed to startup "
        "or the GCS has become overloaded."
    )

    def __init__(self, failures: int, message: str = TIMEOUT) -> None:
        self.failures, self.message = failures, message
        self.inits: list[object] = []
        self.shutdowns = 0

    def is_initialized(self) -> bool:
        return False

    def init(self, address: object = None, **_: object) -> None:
        self.inits.append(address)
        if len(self.inits) <= self.failures:
            raise Exception(self.message)

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_local_instance_slow_to_start_is_started_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    flaky = FlakyRay(failures=distributed.LOCAL_START_ATTEMPTS - 1)
    assert distributed.connect(flaky, None) is True  # type: ignore[arg-type]
    assert len(flaky.inits) == distributed.LOCAL_START_ATTEMPTS and flaky.shutdowns == flaky.failures
    assert "slow to start" in caplog.text
    # The earlier wait, for the GCS to write its port, times out with another message (seen beside a benchmark).
    port_file = FlakyRay(failures=1, message="Timed out waiting for file /tmp/ray/session_x/gcs_server_port_ab12")
    assert distributed.connect(port_file, None) is True  # type: ignore[arg-type]
    assert len(port_file.inits) == 2

    never = FlakyRay(failures=distributed.LOCAL_START_ATTEMPTS)
    with pytest.raises(ClusterError, match=r"did not start \(3 attempts\).*ray start --head"):
        distributed.connect(never, None)  # type: ignore[arg-type]
    # Another failure, or the same one from a cluster named by its address, is not retried.
    other = FlakyRay(failures=1, message="something else broke")
    with pytest.raises(Exception, match="something else broke"):
        distributed.connect(other, None)  # type: ignore[arg-type]
    named = FlakyRay(failures=1)
    monkeypatch.setattr(distributed, "_check_reachable", lambda address: None)
    with pytest.raises(Exception, match="timed out during startup"):
        distributed.connect(named, "ray://10.0.0.5:10001")  # type: ignore[arg-type]
    assert len(other.inits) == len(named.inits) == 1


def test_without_ray_the_command_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setenv("ASSISTANT_EMBEDDER", "assistant.testing:HashingEmbedder")
    corpus = news_corpus(tmp_path / "news")
    with pytest.raises(ConfigError, match=r"^distributed ingestion needs Ray: pip install -e '\.\[scale\]'$"):
        build_index([corpus], tmp_path / "idx", embedder=HashingEmbedder(), ray="")
    result = CliRunner().invoke(cli, ["index", "build", str(corpus), "--index", str(tmp_path / "idx"), "--ray"])
    assert result.exit_code == 2
    assert result.stderr == f"error: {distributed.INSTALL_HINT}\n" and result.stdout == ""
    with pytest.raises(IndexNotFoundError):
        IndexReader.open(tmp_path / "idx")


@needs_ray
def test_an_unreachable_cluster_is_said_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    started = time.perf_counter()
    with pytest.raises(ClusterError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        build_index(
            [news_corpus(tmp_path / "news")], tmp_path / "idx", embedder=HashingEmbedder(), ray=f"127.0.0.1:{port}"
        )
    assert time.perf_counter() - started < 30


# -- a cluster of two nodes on loopback ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    """``ray start --block`` processes, the head first, each the leader of a session of its own."""

    address: str
    nodes: list[subprocess.Popen]
    root: Path

    def processes(self) -> list[psutil.Process]:
        """Every live process these nodes started (Ray's workers change process group, never session)."""
        sessions = {node.pid for node in self.nodes}
        found = []
        for process in psutil.process_iter(["status"]):
            with contextlib.suppress(OSError, psutil.Error):
                if os.getsid(process.pid) in sessions and process.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(process)
        return found

    def raylet(self, node: int) -> psutil.Process:
        children = psutil.Process(self.nodes[node].pid).children(recursive=True)
        return next(c for c in children if c.name() == "raylet")

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(ProcessLookupError):
                node.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
        _, alive = psutil.wait_procs(self.processes(), timeout=15)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        for node in self.nodes:
            node.wait(timeout=10)


def start_node(root: Path, name: str, arguments: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A node started by ``ray start``; started again when Ray's fixed 30 s wait for it to register ran out (a busy
    machine: see distributed.LOCAL_START_ATTEMPTS), like the library's own local instance."""
    for attempt in range(1, distributed.LOCAL_START_ATTEMPTS + 1):
        try:
            return _start_node_once(root, f"{name}-{attempt}" if attempt > 1 else name, arguments, env)
        except RuntimeError as exc:
            slow = any(sign in str(exc) for sign in ("timed out during startup", "Timed out waiting for file"))
            if not slow or attempt == distributed.LOCAL_START_ATTEMPTS:
                raise
    raise AssertionError("not reached")


def _start_node_once(root: Path, name: str, arguments: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = root / f"{name}.log"
    ports = ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--runtime-env-agent-port"]
    command = [
        str(RAY),
        "start",
        *arguments,
        "--num-cpus=1",
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={root / name}",
        "--disable-usage-stats",
        "--block",
        *(f"{option}={free_port()}" for option in ports),
    ]
    with log.open("w") as output:
        node = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text():
        if node.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):  # what it started, before anyone starts it again
                os.killpg(node.pid, signal.SIGKILL)
            raise RuntimeError(f"ray start {name} failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return node


@contextlib.contextmanager
def cluster_of_two(**env: str) -> Iterator[Cluster]:
    """A head and a worker node of one CPU each; ``env`` is each node's (``{node}`` in a value: head, node1)."""
    # Short: Ray's socket paths under it must fit in 107 characters.
    root = Path(tempfile.mkdtemp(prefix="ray-test-"))
    port = free_port()
    cluster = Cluster(f"127.0.0.1:{port}", [], root)
    try:
        head = ["--head", f"--port={port}", "--include-dashboard=false", f"--dashboard-port={free_port()}"]
        head.append(f"--ray-client-server-port={free_port()}")
        for name, arguments in (("head", head), ("node1", [f"--address={cluster.address}"])):
            node_env = child_env(**RAY_ENV, **{k: v.replace("{node}", name) for k, v in env.items()})
            cluster.nodes.append(start_node(root, name, arguments, node_env))
        yield cluster
    finally:
        cluster.stop()
        left = [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in cluster.processes()]
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"Ray processes left over: {left}"


@needs_ray
def test_a_cluster_of_two_nodes_builds_what_one_process_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = sample_corpus(tmp_path / "corpus")
    local = build_index([corpus], tmp_path / "local", embedder=HashingEmbedder(), settings=settings())
    monkeypatch.setattr(distributed, "EMBED_ARTICLES", 2)  # batches enough for both nodes' actors
    with cluster_of_two(SLOW_EMBEDDER_SECONDS="0.3", SLOW_EMBEDDER_MARK=str(tmp_path / "mark-{node}")) as cluster:
        here = HashingEmbedder()
        started = time.perf_counter()
        on_ray = build_index(
            [corpus],
            tmp_path / "ray",
            embedder=here,
            settings=settings(embedder="embedders:SlowEmbedder"),
            ray=cluster.address,
        )
        print(f"two-node build: {time.perf_counter() - started:.1f}s")
        assert not ray.is_initialized()
    assert here.embedded == 0
    assert (tmp_path / "mark-head").exists() and (tmp_path / "mark-node1").exists(), "both nodes embedded"
    assert on_ray.counts() == local.counts() and skipped(on_ray) == skipped(local)
    assert_same_index(tmp_path / "ray", tmp_path / "local")


@needs_ray
@pytest.mark.slow
def test_a_node_lost_mid_run_costs_no_article(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker node's raylet is killed while both nodes embed: Ray re-runs what was lost on the head, and the
    index holds every article once, as a single process builds it."""
    corpus = sample_corpus(tmp_path / "corpus")
    local = build_index([corpus], tmp_path / "local", embedder=HashingEmbedder(), settings=settings())
    monkeypatch.setattr(distributed, "EMBED_ARTICLES", 2)  # many small batches: a kill lands mid-run
    marks = {name: tmp_path / f"mark-{name}" for name in ("head", "node1")}
    with cluster_of_two(SLOW_EMBEDDER_SECONDS="0.3", SLOW_EMBEDDER_MARK=str(tmp_path / "mark-{node}")) as cluster:
        killed: dict[str, int] = {}

        def kill_when_under_way() -> None:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                if marks["node1"].exists() and marks["node1"].stat().st_size >= 1:  # its first batch done
                    raylet = cluster.raylet(1)
                    killed["head batches"] = marks["head"].stat().st_size if marks["head"].exists() else 0
                    raylet.kill()
                    killed["pid"] = raylet.pid
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_under_way, daemon=True)
        killer.start()
        on_ray = build_index(
            [corpus],
            tmp_path / "ray",
            embedder=HashingEmbedder(),
            settings=settings(embedder="embedders:SlowEmbedder"),
            ray=cluster.address,
        )
        killer.join(timeout=5)
        assert "pid" in killed, "the worker node was never killed"
        assert not psutil.pid_exists(killed["pid"])
    assert marks["head"].stat().st_size > killed["head batches"], "the head carried on"
    assert articles_once(tmp_path / "ray") == articles_once(tmp_path / "local") != []
    assert on_ray.counts() == local.counts()
    assert_same_index(tmp_path / "ray", tmp_path / "local")

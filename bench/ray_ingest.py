"""Distributed ingestion on Ray: the RealTime QA corpus built by one process, by one Ray node, and by two.

    python -m bench.ray_ingest [--data ../shared/bench/realtimeqa] [--limit 300] [--per-file 25] [--work DIR]
                               [--save FILE]

The first ``--limit`` articles of ``corpus.jsonl`` are written as JSON Lines files of ``--per-file`` articles each
into the work folder (a temporary one by default; the texts are evaluation-only data, never copied into the
repository), then indexed with the real model (all-MiniLM-L6-v2) from scratch, four ways:

    writer     one process, the hashing test embedder: what this process reads, chunks and writes per second
               without a model, the ceiling of the one writer every Ray build goes through
    single     one process, the model (`assistant index build`, no Ray), with every core of this machine
    ray 1      Ray, a head node with --num-cpus 1 (one embedding actor, one torch thread)
    ray 2      Ray, the head and a worker node, --num-cpus 1 each (both on this machine, on loopback)

Each figure is the build's wall time (model already loaded in this process, which writes the index in every
case), its start-up (the wall time of a build of the first article alone: connecting, starting the actors, loading
the model in each), and the steady rate (the rest of the articles over the rest of the time), in articles/s and
passages/s. Then: scaling efficiency (steady rate of two nodes
over twice one node's), the rate per node, and the projected time to build 1M articles on N = 1, 2, 10, 100
nodes at the two-node run's rate per node, capped by the writer's rate, plus the start-up. Every Ray process the
script started is stopped (by process id) when it ends. Skips cleanly without the data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import REALTIMEQA, REPO, add_save_option, free_port, has_data, save_figures

RAY = Path(sys.executable).with_name("ray")
PROJECTED_ARTICLES = 1_000_000
NODE_COUNTS = (1, 2, 10, 100)


# -- corpus --------------------------------------------------------------------------------------------------------
def write_corpus(data: Path, folder: Path, limit: int, per_file: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(limit), handle, strict=False)]
    for start in range(0, len(lines), per_file):
        (folder / f"part-{start // per_file:04d}.jsonl").write_text("".join(lines[start : start + per_file]), "utf-8")
    return len(lines)


# -- Ray nodes on this machine -------------------------------------------------------------------------------------
class Nodes:
    """``ray start --block`` processes, each the leader of a session of its own: what a node starts (Ray's workers
    change process group, not session) is found by session and stopped by process id."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen[bytes]] = []

    def add(self) -> None:
        name = f"node{len(self.nodes)}"
        if self.nodes:
            role = [f"--address={self.address}"]
        else:
            role = ["--head", f"--port={self.port}", "--include-dashboard=false", f"--dashboard-port={free_port()}"]
            role.append(f"--ray-client-server-port={free_port()}")
        ports = ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--runtime-env-agent-port"]
        command = [str(RAY), "start", *role, "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        command += [f"--temp-dir={self.root / name}", "--block", *(f"{p}={free_port()}" for p in ports)]
        log = self.root / f"{name}.log"
        with log.open("w") as output:
            node = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.nodes.append(node)
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed ({log}):\n{log.read_text()[-2000:]}")
            time.sleep(0.2)

    def processes(self) -> list[int]:
        sessions = {node.pid for node in self.nodes}
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if os.getsid(int(entry.name)) in sessions and state != "Z":
                        found.append(int(entry.name))
        return found

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(ProcessLookupError):
                node.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
        deadline = time.monotonic() + 15
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for node in self.nodes:
            node.wait(timeout=10)
        time.sleep(0.5)
        if left := self.processes():
            print(f"warning: Ray processes left: {left}", file=sys.stderr)


@contextlib.contextmanager
def ray_nodes(root: Path) -> Iterator[Nodes]:
    token = secrets.token_hex(32)
    # Token authentication from the environment, for the nodes and this process alike (no token file written).
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    os.environ.update(auth)
    # Ray reads the mode once, when imported; these live in its compiled core, which declares no types.
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    nodes = Nodes(root, {**os.environ, "PYTHONPATH": str(REPO), **auth})
    try:
        yield nodes
    finally:
        nodes.stop()


# -- builds --------------------------------------------------------------------------------------------------------
def build(corpus: Path, index: Path, *, address: str | None, embedder_spec: str | None = None) -> tuple[float, Any]:
    """Seconds to build ``corpus`` from scratch (this process's model already loaded), and the summary."""
    from assistant import build_index
    from assistant.settings import Settings

    started = time.perf_counter()
    summary = build_index([corpus], index, settings=Settings(progress=False, embedder=embedder_spec), ray=address)
    return time.perf_counter() - started, summary


def measure(work: Path, name: str, *, address: str | None = None, embedder_spec: str | None = None) -> dict[str, Any]:
    """A build of the whole slice, and one of its first article alone: that one's time is the start-up (connecting,
    starting the actors, loading the model in each), the difference the steady work."""
    wall, summary = build(work / "corpus", work / f"index-{name}", address=address, embedder_spec=embedder_spec)
    startup, _ = build(work / "first", work / f"index-{name}-first", address=address, embedder_spec=embedder_spec)
    steady = max(wall - startup, 1e-9)
    figures = {
        "articles": summary.articles,
        "passages": summary.chunks,
        "wall_s": wall,
        "startup_s": startup,
        "articles_per_s": summary.articles / wall,
        "passages_per_s": summary.chunks / wall,
        # The one-article build's article and passages are done within its start-up.
        "steady_articles_per_s": (summary.articles - 1) / steady,
        "steady_passages_per_s": summary.chunks * (summary.articles - 1) / summary.articles / steady,
    }
    print(f"{name}: {json.dumps({k: round(v, 2) for k, v in figures.items()})}", file=sys.stderr, flush=True)
    return figures


def project(per_node: float, writer: float, startup: float) -> dict[int, float]:
    return {n: startup + PROJECTED_ARTICLES / min(n * per_node, writer) for n in NODE_COUNTS}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--limit", type=int, default=300, help="Articles of the corpus to build (its first ones).")
    parser.add_argument("--per-file", type=int, default=25, help="Articles per JSON Lines file.")
    parser.add_argument("--work", type=Path, help="Work folder (default: a temporary one, removed afterwards).")
    add_save_option(parser)
    args = parser.parse_args(argv)
    if not has_data(args.data, REALTIMEQA, ["corpus.jsonl"]):
        return 0
    try:
        import ray  # noqa: F401
    except ImportError:
        print("skip: Ray is not installed: pip install -e '.[scale]'")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ray-ingest-")))
        work.mkdir(parents=True, exist_ok=True)
        corpus = work / "corpus"
        count = write_corpus(args.data, corpus, args.limit, args.per_file)
        print(f"{count} articles in {len(list(corpus.iterdir()))} files, {os.cpu_count()} cores here", flush=True)
        from assistant.embed.factory import load_embedder

        load_embedder()  # once, before the clocks: this process needs it for the index's model record in every run
        first = work / "first"
        write_corpus(args.data, first, 1, 1)
        runs: dict[str, dict[str, Any]] = {}
        runs["writer"] = measure(work, "writer", embedder_spec="assistant.testing:HashingEmbedder")
        runs["single"] = measure(work, "single")
        # Short: Ray's socket paths under it must fit in 107 characters.
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp")))
        with ray_nodes(root) as nodes:
            nodes.add()
            runs["ray 1"] = measure(work, "ray 1", address=nodes.address)
            nodes.add()
            runs["ray 2"] = measure(work, "ray 2", address=nodes.address)
    one, two = runs["ray 1"], runs["ray 2"]
    efficiency = two["steady_articles_per_s"] / (2 * one["steady_articles_per_s"])
    per_node = two["steady_articles_per_s"] / 2
    projected = project(per_node, runs["writer"]["steady_articles_per_s"], two["startup_s"])
    print("| build | wall s | start-up s | articles/s | passages/s | steady articles/s | steady passages/s |")
    print("|---|---|---|---|---|---|---|")
    for name, run in runs.items():
        print(
            f"| {name} | {run['wall_s']:.1f} | {run['startup_s']:.1f} | {run['articles_per_s']:.2f} | "
            f"{run['passages_per_s']:.1f} | {run['steady_articles_per_s']:.2f} | {run['steady_passages_per_s']:.1f} |"
        )
    print(f"\nscaling efficiency, 2 nodes (steady): {efficiency:.2f}")
    print(
        f"per node (2-node run, steady): {per_node:.2f} articles/s, {two['steady_passages_per_s'] / 2:.1f} passages/s"
    )
    print(f"writer ceiling (one process, no model): {runs['writer']['steady_articles_per_s']:.0f} articles/s")
    print(f"\n| nodes | projected time for {PROJECTED_ARTICLES:,} articles |")
    print("|---|---|")
    for nodes_count, seconds in projected.items():
        print(f"| {nodes_count} | {hours(seconds)} |")
    figures = {"runs": runs, "efficiency": efficiency, "per_node_articles_per_s": per_node, "projected_s": projected}
    save_figures(args.save, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

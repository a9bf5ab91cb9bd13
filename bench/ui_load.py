"""Load on the chat page: concurrent gradio_client sessions asking RealTime QA questions through ``/chat``.

    python bench/ui_load.py [--sessions 20] [--questions 5] [--rtqa-index DIR] [--work DIR]

Starts ``assistant serve`` on a free loopback port over the RealTime QA index (built in ``--work`` when not
given), then runs ``--sessions`` clients at once, each asking ``--questions`` dev questions in a row (as of their
question date, extractive answerer), and prints errors, latency p50/p95/max per answer and answers per second.
Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "bench" / "realtimeqa"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def wait_up(url: str, process: subprocess.Popen[bytes], seconds: float = 600) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server was not up after {seconds:.0f} s")


def session(url: str, questions: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    for q in questions:
        started = time.perf_counter()
        try:
            final = None
            job = client.submit(q["question"], [], q["question_date"], "", "", [], 8, "extractive", api_name="/chat")
            for output in job:
                final = output
            chat = final[0] if final else []
            ok = bool(chat) and len(chat) >= 2
            out.append({"ms": (time.perf_counter() - started) * 1000, "error": None if ok else "empty reply"})
        except Exception as exc:
            out.append({"ms": (time.perf_counter() - started) * 1000, "error": f"{type(exc).__name__}: {exc}"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rtqa-index", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        print(f"skipped: RealTime QA not found under {args.data}", file=sys.stderr)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="ui-load-"))
    work.mkdir(parents=True, exist_ok=True)
    index = args.rtqa_index or work / "rtqa"
    if not (index / "CURRENT").exists():
        subprocess.run([sys.executable, "-m", "assistant", "index", "build", str(args.data / "corpus.jsonl"),
                        "--index", str(index)], check=True)
    dev = [json.loads(line) for line in (args.data / "queries_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, ASSISTANT_PROGRESS="false")
    command = [sys.executable, "-m", "assistant", "serve", "--index", str(index), "--corpus", str(work / "none"),
               "--port", str(port)]
    with (work / "server.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        wait_up(url, server)
        results: list[dict[str, Any]] = []
        threads = []
        for number in range(args.sessions):
            asked = [dev[(number * args.questions + i) % len(dev)] for i in range(args.questions)]
            threads.append(threading.Thread(target=session, args=(url, asked, results)))
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = [r["ms"] for r in results if r["error"] is None]
    errors = [r["error"] for r in results if r["error"] is not None]
    figures = {
        "sessions": args.sessions,
        "questions_per_session": args.questions,
        "answers": len(results),
        "errors": len(errors),
        "error_examples": errors[:3],
        "latency_ms": {
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies, default=float("nan")),
        },
        "answers_per_second": len(latencies) / elapsed,
        "wall_seconds": elapsed,
    }
    print(json.dumps(figures, indent=2))
    if args.save:
        args.save.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

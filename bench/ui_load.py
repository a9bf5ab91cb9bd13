"""Load and soak on the chat page: concurrent gradio_client sessions asking RealTime QA questions through ``/chat``.

    python -m bench.ui_load [--sessions 50] [--questions 5] [--soak-minutes 10] [--soak-rate 1]
                            [--rtqa-index DIR] [--work DIR] [--save FILE]

Starts ``assistant serve`` on a free loopback port over a copy of the RealTime QA index (built in ``--work`` when
``--rtqa-index`` is not given), then:

1. **Load.** ``--sessions`` clients at once, each asking ``--questions`` dev questions in a row (as of their
   question date, extractive answerer). When half the answers are in, an article is added through the page's own
   ``/add_articles`` endpoint, so an index update is swapped in while the chats run; it must then be the one cited
   for a question only it answers. Prints errors, latency p50/p95/p99/max per answer and answers per second.
2. **Soak.** ``--soak-minutes`` at a steady ``--soak-rate`` questions per second, a new chat session every 10
   questions, sampling the server's resident memory and open file descriptors every few seconds. Growth is the
   last minute's median against the first minute's: the target is flat within 10%.

Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import REALTIMEQA, add_save_option, free_port, has_data, load_jsonl, percentile, save_figures

# A made-up event no RealTime QA article mentions: only the article added mid-run can answer it.
NEW_TITLE = "Ferry service restored on Lake Vorzhana"
NEW_TEXT = (
    "The Lake Vorzhana ferry resumed service on Monday after a four-month closure. The regional transit office "
    "said the repaired ferry, named Kestrel Dawn, carries 312 passengers per crossing and will run every 40 minutes."
)
NEW_QUESTION = "How many passengers does the Lake Vorzhana ferry carry per crossing?"
SAMPLE_SECONDS = 5.0
ANSWER_TIMEOUT = 300.0  # an answer not finished by then counts as an error, never as a hang of the benchmark
SESSION_QUESTIONS = 10  # questions per chat session during the soak


def wait_up(url: str, process: subprocess.Popen[bytes], seconds: float = 900) -> None:
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


def ask_chat(client: Any, question: dict[str, Any]) -> dict[str, Any]:
    """One question through ``/chat``, streamed to the end: its latency, or what went wrong."""
    started = time.perf_counter()
    try:
        job = client.submit(
            question["question"], [], question["question_date"], "", "", [], 8, "extractive", api_name="/chat"
        )
        final = job.result(timeout=ANSWER_TIMEOUT)  # the last streamed output: the finished answer and its cards
        chat, cards = (final[0], final[1]) if final else ([], "")
        # A finished answer, abstentions included, comes with its cards; an error message comes with none.
        error = (
            None
            if len(chat) >= 2 and 'class="cards ' in cards and 'class="cards empty"' not in cards
            else (f"bad reply: {[_text(m) for m in chat[-1:]]}")
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {"ms": (time.perf_counter() - started) * 1000, "error": error, "done": time.monotonic()}


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # gradio_client hands messages back as lists of typed parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def session(url: str, questions: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as exc:
        out.extend({"ms": 0.0, "error": f"connect: {exc}", "done": time.monotonic()} for _ in questions)
        return
    for question in questions:
        out.append(ask_chat(client, question))


def update_midway(url: str, results: list[dict[str, Any]], total: int, report: dict[str, Any]) -> None:
    """When half the answers are in, add an article through the page and check that it is then cited."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    while len(results) < total // 2:
        time.sleep(0.2)
    before = client.predict(NEW_QUESTION, "", "", "", [], 8, "extractive", api_name="/ask")
    report["generation_before"] = before["generation"]
    started = time.monotonic()
    answered_before = len(results)
    outcome = client.predict(None, "", NEW_TEXT, NEW_TITLE, api_name="/add_articles")[0]
    report["update_seconds"] = time.monotonic() - started
    report["answers_during_update"] = len(results) - answered_before
    report["added"] = outcome.get("added")
    after = client.predict(NEW_QUESTION, "", "", "", [], 8, "extractive", api_name="/ask")
    report["generation_after"] = after["generation"]
    report["new_article_cited"] = any(c["title"] == NEW_TITLE for c in after["citations"]) and "312" in after["text"]


def load(url: str, dev: list[dict[str, Any]], sessions: int, per_session: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    update: dict[str, Any] = {}
    threads = []
    for number in range(sessions):
        asked = [dev[(number * per_session + i) % len(dev)] for i in range(per_session)]
        threads.append(threading.Thread(target=session, args=(url, asked, results)))
    updater = threading.Thread(
        target=_guard(update_midway, update), args=(url, results, sessions * per_session, update)
    )
    started = time.perf_counter()
    for thread in [*threads, updater]:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    updater.join()
    latencies = [r["ms"] for r in results if r["error"] is None]
    errors = [r["error"] for r in results if r["error"] is not None]
    return {
        "sessions": sessions,
        "questions_per_session": per_session,
        "answers": len(results),
        "errors": len(errors),
        "error_examples": errors[:3],
        "latency_ms": {
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies, default=float("nan")),
        },
        "answers_per_second": len(latencies) / elapsed,
        "wall_seconds": elapsed,
        "mid_run_update": update,
    }


def _guard(function: Any, report: dict[str, Any]) -> Any:
    def run(*args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:  # reported as a failure of the update, not a crash of the benchmark
            report["error"] = f"{type(exc).__name__}: {exc}"

    return run


def _process_sample(pid: int) -> tuple[float, int]:
    """Resident memory (MB) and open file descriptors of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def soak(url: str, pid: int, dev: list[dict[str, Any]], minutes: float, rate: float) -> dict[str, Any]:
    from gradio_client import Client

    client = None
    duration = minutes * 60
    samples: list[tuple[float, float, int]] = []
    results: list[dict[str, Any]] = []
    stop = threading.Event()

    def sampler() -> None:
        start = time.monotonic()
        while not stop.is_set():
            rss, fds = _process_sample(pid)
            samples.append((time.monotonic() - start, rss, fds))
            stop.wait(SAMPLE_SECONDS)

    watcher = threading.Thread(target=sampler)
    watcher.start()
    started = time.monotonic()
    n = 0
    try:
        while time.monotonic() - started < duration:
            # A steady rate: question n is due at n / rate seconds, whatever the last one took.
            due = started + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            if n % SESSION_QUESTIONS == 0:  # users come and go: a session's state must not outlive its use
                client = Client(url, verbose=False)
            results.append(ask_chat(client, dev[n % len(dev)]))
            n += 1
    finally:
        stop.set()
        watcher.join()

    def window(first: float, last: float, column: int) -> float:
        return statistics.median(s[column] for s in samples if first <= s[0] <= last)

    end = samples[-1][0]
    rss_first, rss_last = window(0, 60, 1), window(end - 60, end, 1)
    fds_first, fds_last = window(0, 60, 2), window(end - 60, end, 2)
    latencies = [r["ms"] for r in results if r["error"] is None]
    return {
        "minutes": minutes,
        "target_rate_per_second": rate,
        "answered_per_second": len(latencies) / (time.monotonic() - started),
        "answers": len(results),
        "errors": sum(r["error"] is not None for r in results),
        "latency_ms": {
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": percentile(latencies, 0.95),
        },
        "rss_mb": {
            "first_minute": rss_first,
            "last_minute": rss_last,
            "max": max(s[1] for s in samples),
            "growth_pct": 100 * (rss_last - rss_first) / rss_first,
        },
        "open_fds": {
            "first_minute": fds_first,
            "last_minute": fds_last,
            "max": max(s[2] for s in samples),
            "growth_pct": 100 * (fds_last - fds_first) / fds_first,
        },
        "samples": len(samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--rtqa-index", type=Path, help="An existing RealTime QA index; it is copied, not changed.")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="0 skips the soak.")
    parser.add_argument("--soak-rate", type=float, default=1.0, help="Questions per second during the soak.")
    add_save_option(parser)
    args = parser.parse_args()
    if not has_data(args.data, REALTIMEQA):
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="ui-load-"))
    work.mkdir(parents=True, exist_ok=True)
    index = work / "rtqa"
    if args.rtqa_index is not None:
        shutil.rmtree(index, ignore_errors=True)
        shutil.copytree(args.rtqa_index, index)  # the mid-run update must not change the caller's index
    elif not (index / "CURRENT").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "assistant",
                "index",
                "build",
                str(args.data / "corpus.jsonl"),
                "--index",
                str(index),
            ],
            check=True,
        )
    dev = load_jsonl(args.data / "queries_dev.jsonl")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # The index is served as it is (no --corpus); the page's uploads land in corpus/uploads under the server's
    # working folder, emptied first so that each run's Library tab starts from nothing.
    shutil.rmtree(work / "corpus", ignore_errors=True)
    env = dict(os.environ, ASSISTANT_PROGRESS="false")
    command = [
        sys.executable,
        "-m",
        "assistant",
        "serve",
        "--index",
        str(index),
        "--port",
        str(port),
    ]
    with (work / "server.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    figures: dict[str, Any] = {}
    try:
        wait_up(url, server)
        figures["load"] = load(url, dev, args.sessions, args.questions)
        print(json.dumps(figures["load"], indent=2), flush=True)
        if args.soak_minutes > 0:
            figures["soak"] = soak(url, server.pid, dev, args.soak_minutes, args.soak_rate)
            print(json.dumps(figures["soak"], indent=2), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    save_figures(args.save, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())

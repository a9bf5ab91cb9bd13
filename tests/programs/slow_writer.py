"""A writer that embeds slowly, for tests that SIGKILL it mid-write.

    slow_writer.py INDEX INPUT...           update INDEX from the inputs once
    slow_writer.py --serve INDEX INPUT...   read commands from stdin, one per line:
        run MODE [MOMENT N]   fork a writer (MODE "update", "rebuild", or "remove" the articles of the last input),
                              print its pid; with MOMENT, the writer stops itself (SIGSTOP) the Nth time it logs
                              that moment (see assistant.index.local.layout.moment)
        wait PID              wait until that writer stops or ends: print "stopped", or "ended STATUS"
        reap PID              wait for that writer to end, print its wait status

The embedder is the one ``ASSISTANT_EMBEDDER`` chooses (the tests set ``embedders:SlowEmbedder``). ``--serve``
pays for the imports once: forking a writer per round is what makes hundreds of kills affordable. With
``SLOW_WRITER_LOGS`` set to a folder, each forked writer logs the index's progress (commits, merges, and a line
"moment NAME" at each named moment) to PID.log there, so a test can tell what a writer was doing when it was killed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

import faiss  # noqa: F401  imported once here rather than in every forked writer, which is what a round costs
import tantivy  # noqa: F401  likewise
import tqdm  # noqa: F401  likewise
import xxhash  # noqa: F401  likewise

import assistant.indexing.update
from assistant import build_index, remove_articles, update_index
from assistant.embed.factory import embedder_from_settings
from assistant.settings import get_settings

assistant.indexing.update._GROUP = 4  # several embed calls, not one group of 256


def run(index: str, inputs: list[str], mode: str = "update") -> None:
    settings = get_settings(progress=False)
    if mode == "remove":  # the articles of the last input, a JSON Lines file or a folder of them
        last = Path(inputs[-1])
        files = sorted(last.glob("*.jsonl")) if last.is_dir() else [last]
        ids = [json.loads(line)["id"] for file in files for line in file.read_text().splitlines() if line.strip()]
        remove_articles(ids, index, settings=settings)
        return
    write = build_index if mode == "rebuild" else update_index
    write(inputs, index, settings=settings)


class Moments(logging.Handler):
    """Writes "moment NAME" to the writer's log at each named moment; stops the writer at the chosen one."""

    def __init__(self, log: str | None, stop_at: str | None, occurrence: int) -> None:
        super().__init__(logging.DEBUG)
        self.log = open(log, "a", buffering=1) if log else None  # noqa: SIM115  lives as long as the writer
        self.stop_at, self.left = stop_at, occurrence

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "moment", None)
        if self.log is not None:
            self.log.write(f"moment {name}\n" if name else record.getMessage() + "\n")
        if name is not None and name == self.stop_at:
            self.left -= 1
            if self.left == 0:
                os.kill(os.getpid(), signal.SIGSTOP)  # the test kills it here


def writer(index: str, inputs: list[str], mode: str, stop_at: str | None, occurrence: int) -> None:
    logs = os.environ.get("SLOW_WRITER_LOGS")
    if logs or stop_at:
        handler = Moments(os.path.join(logs, f"{os.getpid()}.log") if logs else None, stop_at, occurrence)
        for name in ("assistant.index", "assistant.retrieve"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.DEBUG)
    code = 0
    try:
        run(index, inputs, mode)
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def serve(index: str, inputs: list[str]) -> None:
    embedder_from_settings(get_settings())  # made (and cached) here, so the forked writers inherit it
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            mode, stop_at, occurrence = args[0], (args[1] if len(args) > 1 else None), int(args[2] if args[2:] else 1)
            pid = os.fork()
            if pid == 0:
                writer(index, inputs, mode, stop_at, occurrence)
            print(pid, flush=True)
        elif command == "wait":
            _, status = os.waitpid(int(args[0]), os.WUNTRACED)
            print("stopped" if os.WIFSTOPPED(status) else f"ended {status}", flush=True)
        elif command == "reap":
            print(os.waitpid(int(args[0]), 0)[1], flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("index")
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.index, args.inputs)
    else:
        run(args.index, args.inputs)


if __name__ == "__main__":
    main(sys.argv[1:])

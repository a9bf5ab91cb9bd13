"""A writer that embeds slowly, for tests that SIGKILL it mid-write.

    slow_writer.py INDEX INPUT...           update INDEX from the inputs once
    slow_writer.py --serve INDEX INPUT...   read commands from stdin, one per line:
        run MODE   fork a writer (MODE "update" or "rebuild"), print its pid
        reap PID   wait for that writer, print its wait status

The embedder is the one ``ASSISTANT_EMBEDDER`` chooses (the tests set ``embedders:SlowEmbedder``). ``--serve``
pays for the imports once: forking a writer per round is what makes hundreds of kills affordable.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import faiss  # noqa: F401  imported once here rather than in every forked writer, which is what a round costs
import tqdm  # noqa: F401  likewise

import assistant.index.update
from assistant import build_index, update_index
from assistant.index.embedding import embedder_from_settings
from assistant.settings import get_settings

assistant.index.update._GROUP = 4  # several embed calls, not one group of 256


def run(index: str, inputs: list[str], mode: str = "update") -> None:
    write = build_index if mode == "rebuild" else update_index
    write(inputs, index, settings=get_settings(progress=False))


def serve(index: str, inputs: list[str]) -> None:
    embedder_from_settings(get_settings())  # made (and cached) here, so the forked writers inherit it
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    run(index, inputs, *args)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                os._exit(code)
            print(pid, flush=True)
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

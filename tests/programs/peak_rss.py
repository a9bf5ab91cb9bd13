"""Run a command and write its peak resident memory (KiB) to a file: ``peak_rss.py OUT COMMAND...``.

A fresh parent per measurement: RUSAGE_CHILDREN of the test process would also count every earlier child.
Exits with the command's exit code.
"""

from __future__ import annotations

import resource
import subprocess
import sys


def main(argv: list[str]) -> int:
    out, *command = argv
    code = subprocess.call(command)
    with open(out, "w") as handle:
        handle.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))  # KiB on Linux
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

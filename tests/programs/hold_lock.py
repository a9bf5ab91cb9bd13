"""A writer that has started (lock taken, unfinished generation begun), then hangs until it is killed.

    hold_lock.py INDEX

Prints "writing" once the lock is held, then reads stdin until it closes.
"""

from __future__ import annotations

import sys

from assistant.index.local.writer import IndexWriter

if __name__ == "__main__":
    writer = IndexWriter(sys.argv[1], model=None, chunker=None)  # kept referenced: a collected writer lets its lock go
    writer.begin()
    print("writing", flush=True)
    sys.stdin.read()

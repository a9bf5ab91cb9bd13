"""What a freshly resolved set of requirements moves past the lock: `make test-latest` prints it before testing.

    python tools/newer.py requirements/dev.txt requirements/llm.txt --than .venv-latest/latest.txt

Prints one line per package whose newest allowed version differs from the locked one, then the packages only one
side has; exits 0 either way (the suite that follows is the verdict).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(path: Path) -> dict[str, str]:
    """Package name (canonical) to pinned version, from a pip requirements file as uv writes it."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            found[canonicalize_name(match[1])] = match[2]
    return found


def report(locked: dict[str, str], latest: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(locked.keys() & latest.keys()):
        if locked[name] != latest[name]:
            direction = "newer" if Version(latest[name]) > Version(locked[name]) else "older"
            lines.append(f"  {name}: {locked[name]} -> {latest[name]} ({direction})")
    lines += [f"  {name}: new, {latest[name]}" for name in sorted(latest.keys() - locked.keys())]
    lines += [f"  {name}: no longer needed ({locked[name]})" for name in sorted(locked.keys() - latest.keys())]
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("locks", nargs="+", type=Path, help="the lock files")
    parser.add_argument("--than", type=Path, required=True, help="the newest allowed versions, resolved today")
    args = parser.parse_args(argv)
    locked: dict[str, str] = {}
    for lock in args.locks:
        locked.update(pins(lock))
    lines = report(locked, pins(args.than))
    if lines:
        print(f"{len(lines)} packages differ from the lock today:", *lines, sep="\n")
    else:
        print("nothing newer than the lock today: the suite below runs on the locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run a command against a copy of an index on a nearly full disk, and report what happened.

    full_disk.py MOUNT INDEX FREE OUT COMMAND...

Meant to run inside a private mount namespace with a small tmpfs mounted at MOUNT: INDEX is copied onto it, the
disk is filled up to FREE bytes, then ``COMMAND --index COPY`` and ``assistant index verify`` run there. The copy
comes back out to OUT/idx, with OUT/report.json: the free space before and after, both commands' exit codes and
output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys


def main(mount: str, index: str, free: str, out: str, *command: str) -> None:
    target = os.path.join(mount, "idx")
    shutil.copytree(index, target)
    disk = os.statvfs(mount)
    with open(os.path.join(mount, "filler"), "wb") as handle:
        handle.write(bytes(max(0, disk.f_bavail * disk.f_frsize - int(free))))
    free_before = os.statvfs(mount).f_bavail * disk.f_frsize
    update = subprocess.run([*command, "--index", target], capture_output=True, text=True)
    free_after = os.statvfs(mount).f_bavail * disk.f_frsize
    check = subprocess.run(
        [sys.executable, "-m", "assistant", "index", "verify", "--index", target], capture_output=True, text=True
    )
    shutil.copytree(target, os.path.join(out, "idx"))
    report = {
        "index": target,
        "free": [free_before, free_after],
        "update": {"returncode": update.returncode, "stdout": update.stdout, "stderr": update.stderr},
        "verify": {"returncode": check.returncode, "stdout": check.stdout, "stderr": check.stderr},
    }
    with open(os.path.join(out, "report.json"), "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Child processes of the tests: the environment they run in, the programs in tests/programs, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
PROGRAMS = TESTS / "programs"


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, plus this checkout and tests/ (for ``embedders``) on PYTHONPATH.

    One BLAS thread each: the children run next to the test process on a machine that may have two cores.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ASSISTANT_PROGRESS="false")
    env.update(extra)
    return env


def program(name: str) -> list[str]:
    """The command that runs tests/programs/NAME.py; its arguments follow."""
    return [sys.executable, str(PROGRAMS / f"{name}.py")]


def cli_in_child(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "assistant", *map(str, args)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_mb: float


def measured_cli(tmp: Path, *args: str | bytes | Path, timeout: float = 600, **env: str) -> Run:
    """``assistant ARGS`` in a child process with a strict test embedder; its peak RSS measured by a fresh parent.

    The embedder stands in for the model so that a build measures ingestion, not torch.
    """
    rss_file = tmp / "peak-rss.txt"
    command = [*program("peak_rss"), str(rss_file), sys.executable, "-m", "assistant", *map(_arg, args)]
    env = child_env(ASSISTANT_EMBEDDER="embedders:ForgetfulStrictEmbedder", PYTHONIOENCODING="utf-8", **env)
    proc = subprocess.run(command, capture_output=True, env=env, timeout=timeout, cwd=tmp)
    peak = int(rss_file.read_text()) / 1024 if rss_file.exists() else float("nan")
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"), peak)


def _arg(value: str | bytes | Path) -> str | bytes:
    return value if isinstance(value, str | bytes) else str(value)

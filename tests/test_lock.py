"""The lock files in requirements/ agree with pyproject.toml, with each other, with the Makefile that installs from
them, and with what is installed: a dependency added or tightened in pyproject.toml without `make lock` fails here.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCKS = REPO / "requirements"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]
    via_project: bool  # uv's annotation: asked for by pyproject.toml itself


def read_lock(name: str) -> dict[str, Pin]:
    """A lock file as uv writes it: ``name==version \\`` then ``--hash=sha256:…`` lines, then ``# via`` lines."""
    text = (LOCKS / name).read_text(encoding="utf-8")
    pins: dict[str, Pin] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2] if text.startswith("#") else text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        assert re.fullmatch(r"[A-Za-z0-9._-]+==\S+", head), f"{name}: not an exact pin: {head!r}"
        package, version = head.split("==")
        hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
        via = "newsqa-assistant (pyproject.toml)" in block
        pins[canonicalize_name(package)] = Pin(version, hashes, via)
    return pins


def inputs(name: str) -> list[Requirement]:
    """The requirements of one of the lock's own input files (requirements/*.in)."""
    lines = (LOCKS / name).read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def from_pyproject(*extras: str) -> list[Requirement]:
    lines = [*PROJECT["dependencies"], *PYPROJECT["build-system"]["requires"]]
    lines += [line for extra in extras for line in EXTRAS[extra]]
    return [Requirement(line) for line in lines]


# What each lock is made from (the Makefile's `lock` target says the same to uv).
APP = ("app.txt", from_pyproject("openvino") + inputs("install.in"))
DEV = ("dev.txt", from_pyproject("test", "bench", "scale", "openvino") + inputs("install.in") + inputs("build.in"))
LLM = ("llm.txt", from_pyproject("llm") + inputs("llm.in"))
PREVIOUS = ("previous.txt", inputs("previous.in"))


@pytest.mark.parametrize(("lock", "wanted"), [APP, DEV, LLM, PREVIOUS], ids=lambda v: v if isinstance(v, str) else "")
def test_every_requirement_is_locked_at_a_version_it_allows_with_hashes(lock: str, wanted: list[Requirement]) -> None:
    pins = read_lock(lock)
    for requirement in wanted:
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is not in requirements/{lock}: run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"requirements/{lock} pins {requirement.name}=={pin.version}, which {requirement} excludes: run `make lock`"
        )
    for package, pin in pins.items():
        assert pin.hashes, f"requirements/{lock}: {package} has no hash"


@pytest.mark.parametrize(("lock", "wanted"), [APP, DEV, LLM], ids=lambda v: v if isinstance(v, str) else "")
def test_nothing_is_locked_for_the_project_that_pyproject_no_longer_asks_for(
    lock: str, wanted: list[Requirement]
) -> None:
    asked = {canonicalize_name(r.name) for r in from_pyproject(*EXTRAS)}
    stale = [package for package, pin in read_lock(lock).items() if pin.via_project and package not in asked]
    assert stale == [], f"requirements/{lock} still locks {stale} for pyproject.toml: run `make lock`"


def test_the_locks_agree_on_every_package_they_share() -> None:
    dev = read_lock("dev.txt")
    for lock in ("app.txt", "llm.txt"):
        for package, pin in read_lock(lock).items():
            if package in dev:
                assert pin.version == dev[package].version, (
                    f"{package}: {lock} {pin.version}, dev.txt {dev[package].version}"
                )
    assert read_lock("app.txt").keys() <= dev.keys(), "`make run` installs a package `make test` does not"


def test_torch_is_the_cpu_build() -> None:
    for lock in ("app.txt", "dev.txt", "llm.txt"):
        assert read_lock(lock)["torch"].version == "2.13.0+cpu", lock
    assert not [p for p in read_lock("dev.txt") if p.startswith(("nvidia-", "triton"))], "a CUDA package is locked"


def test_the_makefile_installs_only_hash_checked_locks() -> None:
    """Every pip install on the way to `make run` and `make test` is --require-hashes against a lock, or the project
    itself with --no-deps --no-build-isolation (nothing resolved, nothing fetched)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    variables = dict(re.findall(r"^([A-Z_]+) := (.*)$", makefile, flags=re.M))
    recipes = re.findall(r"^(\$\([A-Z_]+_STAMP\)):.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert {target for target, _ in recipes} == {"$(APP_STAMP)", "$(DEV_STAMP)", "$(LLM_STAMP)", "$(CHROMIUM_STAMP)"}
    for target, body in recipes:
        for line in body.splitlines():
            line = re.sub(r"\$\((PIP_[A-Z]+)\)", lambda m: variables[m[1]], line)
            if "pip install" not in line:
                continue
            hashed = "--require-hashes" in line and re.search(r"-r requirements/\w+\.txt", line)
            project = "--no-deps" in line and "--no-build-isolation" in line and line.rstrip().endswith("-e .")
            assert hashed or project, f"{target} installs without the lock: {line.strip()}"


def _installed(requirement: Requirement) -> str | None:
    try:
        return importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _closure(roots: list[Requirement], left_out: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every installed distribution the roots need, through the installed packages' own metadata, with the extras
    each was asked for: the set a lock must hold."""
    environment = default_environment()
    seen: dict[tuple[str, str], None] = {}
    found: dict[str, str] = {}
    queue = [(r, "") for r in roots]
    while queue:
        requirement, extra = queue.pop()
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name in left_out:
            continue
        version = _installed(requirement)
        if version is None:
            continue  # not installed here: the install, which checks the lock is whole, would have failed
        found[name] = version
        for wanted in ("", *sorted(requirement.extras)):
            if (name, wanted) in seen:
                continue
            seen[(name, wanted)] = None
            for line in importlib.metadata.distribution(name).requires or []:
                queue.append((Requirement(line), wanted))
    return found


@pytest.mark.parametrize(("lock", "wanted"), [APP, DEV, LLM], ids=lambda v: v if isinstance(v, str) else "")
def test_what_is_installed_is_what_the_lock_says(lock: str, wanted: list[Requirement]) -> None:
    """Everything the project needs here, down to the last dependency, is in the lock at the version installed: a
    package installed by hand, or a lock edited without `make lock`, shows here."""
    pins = read_lock(lock)
    left_out = frozenset(str(r.name) for r in inputs("llm.exclude"))
    for package, version in _closure(wanted, left_out).items():
        if package == "newsqa-assistant":
            continue
        assert package in pins, f"{package} {version} is installed and needed, but not in requirements/{lock}"
        assert pins[package].version == version, f"{package}: {version} installed, {pins[package].version} locked"

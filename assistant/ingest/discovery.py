"""Which files the inputs name: folders (recursive), files and glob patterns, each file once, in a stable order."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ..documents import Skipped
from .formats import SUPPORTED_SUFFIXES, suffix_of

__all__ = ["SIDECAR_SUFFIX", "discover", "display_path", "is_sidecar"]

SIDECAR_SUFFIX = ".meta.json"
_GLOB_CHARS = frozenset("*?[")


def is_sidecar(path: Path) -> bool:
    """Whether ``path`` is an article's ``NAME.meta.json`` metadata rather than an article."""
    return path.name.lower().endswith(SIDECAR_SUFFIX)


def display_path(path: str | Path) -> str:
    """``path`` as printable text: bytes of a name that is not UTF-8 are shown as ``\\xff`` escapes.

    Python keeps such bytes as lone surrogates, which a strict UTF-8 terminal, JSON reader or database refuses.
    """
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a str path holding surrogates that did not come from the file system
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _unsupported(path: Path) -> Skipped:
    suffix = display_path(suffix_of(path)) or "(no extension)"
    return Skipped(display_path(path), f"unsupported file type {suffix}")


def _scan_folder(root: Path) -> tuple[list[Path], list[Skipped]]:
    found: list[Path] = []
    skipped: list[Skipped] = []

    def on_error(error: OSError) -> None:
        skipped.append(Skipped(display_path(error.filename or root), error.strerror or str(error)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        # Hidden folders hold VCS data, editor state and caches, never articles.
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames if not name.startswith("."))
    found.sort(key=lambda path: path.relative_to(root).parts)
    return found, skipped


def discover(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, Path]], list[Skipped]]:
    """``(root, file)`` for every article file the inputs name, in order, each file once.

    ``root`` is the folder given, or the file's own folder for a file or a glob match; it anchors the id.
    Sidecars (``*.meta.json``) are metadata of their article and are not listed. Folder scans skip hidden
    entries and do not follow symlinked folders. Directories matched by a glob are ignored: write
    ``folder/**/*.txt`` (or name the folder) to recurse.
    """
    pairs: list[tuple[Path, Path]] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()

    def add(root: Path, file: Path) -> None:
        key = os.path.realpath(file)  # the same file named twice (folder and glob, or a symlink) loads once
        if key not in seen:
            seen.add(key)
            pairs.append((root, file))

    def add_scanned(root: Path, file: Path) -> bool:
        """Add a file found by a scan or glob; whether it is an article file."""
        if is_sidecar(file):
            return False
        if suffix_of(file) not in SUPPORTED_SUFFIXES:
            skipped.append(_unsupported(file))
            return False
        add(root, file)
        return True

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files, errors = _scan_folder(path)
            skipped.extend(errors)
            articles = [add_scanned(path, file) for file in files]
            if not any(articles):
                skipped.append(Skipped(display_path(raw), "no article files in folder"))
        elif path.is_file():
            if is_sidecar(path):
                skipped.append(Skipped(display_path(raw), "sidecar metadata, loaded with its article, not on its own"))
            elif suffix_of(path) not in SUPPORTED_SUFFIXES:
                skipped.append(_unsupported(path))
            else:
                add(path.parent, path)
        elif path.exists():
            skipped.append(Skipped(display_path(raw), "not a regular file"))
        elif _GLOB_CHARS & set(str(raw)):
            # Sorted like a folder scan (by path parts), so both ways of naming files give one order.
            matches = sorted((Path(match) for match in glob.glob(str(raw), recursive=True)), key=lambda p: p.parts)
            files = [match for match in matches if match.is_file()]
            if not files:
                skipped.append(Skipped(display_path(raw), "no such file or directory"))
            for file in files:
                add_scanned(file.parent, file)
        else:
            skipped.append(Skipped(display_path(raw), "no such file or directory"))
    return pairs, skipped

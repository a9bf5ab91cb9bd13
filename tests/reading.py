"""What an update would read from some inputs, through the library's own discovery, loader and duplicate rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.documents import Article, Skipped
from assistant.ingest.discovery import discover
from assistant.ingest.duplicates import DuplicateFilter, newest_versions
from assistant.ingest.loading import load_file
from assistant.settings import Settings


@dataclass(frozen=True)
class Loaded:
    articles: list[Article]
    skipped: list[Skipped]
    files: list[Path]  # every article file seen (resolved), including those skipped


def load(paths: Sequence[str | Path], *, max_bytes: int | None = None) -> Loaded:
    """Every article the inputs hold once (an id's newest version, the first of copies), and what was skipped."""
    max_bytes = max_bytes if max_bytes is not None else Settings().max_file_bytes
    pairs, skipped = discover(paths)
    duplicates = DuplicateFilter()
    articles: list[Article] = []
    files: list[Path] = []
    everything: list[Article] = []
    for root, path in pairs:
        files.append(path.resolve())
        loaded, problems = load_file(path, root, max_bytes=max_bytes)
        skipped.extend(problems)
        everything.extend(loaded)
    newest, superseded = newest_versions(everything)
    skipped.extend(superseded)
    for article in newest:
        if (refusal := duplicates.refusal(article)) is not None:
            skipped.append(refusal)
            continue
        duplicates.admit(article)
        articles.append(article)
    return Loaded(articles, skipped, files)

"""What an update does with each article it reads, decided against what the index holds: no store needed.

An update reads its inputs article by article; each one is *added* (new id), *changed* (new text under a known id),
*unchanged*, *refused* (a copy of another article), *kept out* (removed with `index remove`, and its file not named
itself), or *deferred* (a copy of an article that may turn out gone, decided once the reading is over). At the end,
an indexed article is *gone* when these inputs covered its file and the file vanished, or was read cleanly without
it. A file that failed to read keeps its articles: bad input never loses indexed data.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import cast

from ..documents import Article, Skipped
from ..index.records import ArticleRecord, Removal
from ..ingest.duplicates import DuplicateFilter
from .intake import Item

__all__ = ["Kind", "Reconciler", "Scope", "Verdict", "scope_of"]


@dataclass(frozen=True)
class Scope:
    """What an update's inputs cover of the index, known before anything is read."""

    covered: frozenset[str]  # ids whose file the inputs cover: gone unless read again
    vanished: frozenset[str]  # of those, the ids whose file no longer exists: gone now
    named: frozenset[str]  # files named themselves (not through a folder): their removals are undone
    path_ids: Mapping[str, str]  # file -> id, for the files whose id is their path (kept when read again)


def scope_of(
    existing: Mapping[str, ArticleRecord], removed: Mapping[str, Removal], inputs: Sequence[str | Path], *, prune: bool
) -> Scope:
    covered = frozenset(i for i, a in existing.items() if prune and a.file and _covers(inputs, a.file))
    return Scope(
        covered=covered,
        vanished=frozenset(i for i in covered if not Path(existing[i].file or "").exists()),
        named=frozenset(str(Path(raw).resolve()) for raw in inputs if Path(raw).is_file()),
        path_ids=_path_ids([*removed.values(), *existing.values()]),
    )


class Kind(Enum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REFUSED = "refused"
    KEPT_OUT = "kept out"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Verdict:
    """What to do with one article read; ``refusal`` says why a refused one is, ``forgets_removal`` that a removal
    of it is undone (its file was named itself)."""

    kind: Kind
    refusal: Skipped | None = None
    forgets_removal: bool = False

    @property
    def writes(self) -> bool:
        return self.kind in (Kind.ADDED, Kind.CHANGED)


@dataclass(frozen=True)
class _Admitted:
    """What the duplicate filter read of an article it admitted (its id and copy hash), kept to replay it."""

    id: str
    copy_hash: str


class Reconciler:
    """Decides, article by article as they are read, what an update does with each (see the module docstring)."""

    def __init__(self, existing: Mapping[str, ArticleRecord], removed: Mapping[str, Removal], scope: Scope) -> None:
        self.existing, self.removed, self.scope = existing, removed, scope
        self._maybe_gone = {existing[i].copy_hash: i for i in scope.covered - scope.vanished}
        # Without the vanished, so that a renamed file is indexed under its new id instead of refused as a copy.
        self._initial = {a.copy_hash: i for i, a in existing.items() if i not in scope.vanished}
        self._duplicates = DuplicateFilter(self._initial)
        self._admitted: list[tuple[_Admitted, str | None]] = []  # what the filter saw, to replay it
        self._deferred: list[Item] = []
        self._waiting_ids: set[str] = set()
        self._waiting_copies: set[str] = set()
        self._read: set[str] = set()

    def consider(self, item: Item) -> Verdict:
        article = item.article
        forgets = article.id in self.removed
        if forgets and item.file not in self.scope.named:
            return Verdict(Kind.KEPT_OUT)
        self._read.add(article.id)
        twin = self._maybe_gone.get(article.copy_hash)
        if (
            (twin is not None and twin != article.id)
            or article.id in self._waiting_ids
            or article.copy_hash in self._waiting_copies
        ):
            # A copy of an article that may turn out gone: decided at the end, with everything that depends on it.
            self._deferred.append(item)
            self._waiting_ids.add(article.id)
            self._waiting_copies.add(article.copy_hash)
            return Verdict(Kind.DEFERRED, forgets_removal=forgets)
        return self._decide(article, forgets)

    def gone(self, clean_files: set[str]) -> frozenset[str]:
        """The indexed articles these inputs no longer hold, once every file was read (``clean_files``: those read
        without a problem)."""
        unread = {i for i in self.scope.covered - self.scope.vanished if i not in self._read}
        return self.scope.vanished | {i for i in unread if self.existing[i].file in clean_files}

    def settle(self, gone: frozenset[str]) -> Iterator[tuple[Item, Verdict]]:
        """The deferred articles, decided now that what is ``gone`` is known: a copy of a gone article may stay."""
        if not self._deferred:
            return
        self._duplicates = DuplicateFilter({h: i for h, i in self._initial.items() if i not in gone})
        for seen, replaces in self._admitted:
            self._duplicates.admit(cast(Article, seen), replaces=replaces)
        for item in self._deferred:
            yield item, self._decide(item.article, forgets=False)

    def _decide(self, article: Article, forgets: bool) -> Verdict:
        if (refusal := self._duplicates.refusal(article)) is not None:
            return Verdict(Kind.REFUSED, refusal=refusal, forgets_removal=forgets)
        old = self.existing.get(article.id)
        replaces = old.copy_hash if old is not None else None
        self._duplicates.admit(article, replaces=replaces)
        self._admitted.append((_Admitted(article.id, article.copy_hash), replaces))
        if old is None:
            return Verdict(Kind.ADDED, forgets_removal=forgets)
        kind = Kind.UNCHANGED if old.content_hash == article.content_hash else Kind.CHANGED
        return Verdict(kind, forgets_removal=forgets)


def _path_ids(articles: Sequence[ArticleRecord | Removal]) -> dict[str, str]:
    """The id of each indexed (or removed) file whose id is its path ("odd/enc/a.txt" for .../odd/enc/a.txt)."""
    ids: dict[str, str] = {}
    for article in articles:
        file = article.file
        if file and (Path(file).name == article.id or Path(file).as_posix().endswith("/" + article.id)):
            ids[file] = article.id
    return ids


def _covers(inputs: Sequence[str | Path], file: str) -> bool:
    """Whether an indexed file was covered by these inputs, so its absence means it is gone."""
    path = Path(file)
    for raw in inputs:
        target = Path(raw).expanduser()
        if glob.has_magic(str(raw)):
            # Stored paths are resolved; the pattern may run through a symlinked folder, so try both spellings.
            patterns = (os.path.abspath(target), str(target.resolve().parent / target.name))
            if any(fnmatch.fnmatch(str(path), pattern) for pattern in patterns):
                return True
            continue
        resolved = target.resolve()
        if path == resolved or (target.is_dir() and path.is_relative_to(resolved)):
            return True
    return False

"""One article per id and per text: the rule that decides which of several copies is indexed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..documents import Article, Skipped

__all__ = ["SUPERSEDED", "DuplicateFilter", "newest_versions"]


class DuplicateFilter:
    """Admits articles in order, refusing a second article with an id already taken or a copy of another article.

    A copy is an article with the same title and text (:attr:`Article.copy_hash`) under another id: wires and
    aggregators repeat stories, and a story stored once is cited once. ``indexed`` maps the copy hash of each
    article already in the index to its id, so a new file holding an indexed story is refused as well.
    """

    def __init__(self, indexed: Mapping[str, str] | None = None) -> None:
        self._by_copy: dict[str, str] = dict(indexed or {})
        self._ids: set[str] = set()

    def refusal(self, article: Article) -> Skipped | None:
        """Why ``article`` must not be indexed beside those admitted so far (naming its file and line), or None."""
        if article.id in self._ids:
            return Skipped.article(article, f"duplicate id {article.id}")
        twin = self._by_copy.get(article.copy_hash)
        if twin is not None and twin != article.id:
            return Skipped.article(article, f"duplicate of {twin}")
        return None

    def admit(self, article: Article, *, replaces: str | None = None) -> None:
        """Record ``article`` as indexed; ``replaces`` is the copy hash of the version it replaces, now free."""
        self._ids.add(article.id)
        if replaces is not None and self._by_copy.get(replaces) == article.id:
            del self._by_copy[replaces]
        self._by_copy[article.copy_hash] = article.id


SUPERSEDED = "older version: a later record with the same id and a newer or equal date is indexed"


def newest_versions(articles: Sequence[Article]) -> tuple[list[Article], list[Skipped]]:
    """One article per id: the newest version, in the order the kept ones came; the others are skipped.

    A news export is a stream of versions of stories (corrections, updates), so a record repeating an earlier one's
    id replaces it when its date is the same or later, or when either has no date (an export appends newer versions
    after older ones); a record dated earlier than the one before it is the older version.
    """
    chosen: dict[str, int] = {}
    superseded: list[int] = []
    for position, article in enumerate(articles):
        earlier = chosen.get(article.id)
        if earlier is None:
            chosen[article.id] = position
            continue
        previous = articles[earlier]
        if article.day and previous.day and article.day < previous.day:
            superseded.append(position)
        else:
            superseded.append(earlier)
            chosen[article.id] = position
    kept = sorted(chosen.values())
    return [articles[p] for p in kept], [Skipped.article(articles[p], SUPERSEDED) for p in sorted(superseded)]

"""One article per id and per text: the rule that decides which of several copies is indexed."""

from __future__ import annotations

from collections.abc import Mapping

from ..documents import Article, Skipped

__all__ = ["DuplicateFilter"]


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

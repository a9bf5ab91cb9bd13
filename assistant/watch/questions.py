"""Watched questions: asked again on every new generation, and marked when their answer changed.

A change is what a reader would call news: the direct answer is different, the articles now answer (or no longer
answer) it, or the set of cited articles changed (a new article cited, or one no longer cited: removed from the
index, or outranked). A reworded answer over the same articles is not a change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ..answer.assistant import Assistant
from ..errors import AssistantError, ConfigError
from ..retrieve.filters import Filters
from ..settings import Settings, get_settings
from .feeds import Held
from .records import Snapshot, WatchedQuestion
from .state import WatchState, utc_now, watch_folder

__all__ = ["Watchlist"]

logger = logging.getLogger(__name__)


class Watchlist:
    """The questions watched over one index (kept in its watch folder, so they survive restarts).

    >>> with Assistant.open() as assistant:                                          # doctest: +SKIP
    ...     watched = Watchlist().add(assistant, "Who leads the talks?")
    ...     # ... after an update:
    ...     for question in Watchlist().recheck(assistant):
    ...         print(question.question, question.changes)
    """

    def __init__(self, index_dir: str | Path | None = None, *, settings: Settings | None = None) -> None:
        self.index_dir = index_dir
        self.settings = settings or get_settings()
        self.state = WatchState.open(watch_folder(index_dir, self.settings))

    def questions(self) -> list[WatchedQuestion]:
        return self.state.questions()

    def add(
        self,
        assistant: Assistant,
        question: str,
        *,
        sources: Iterable[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> WatchedQuestion:
        """Watch ``question`` (with these filters), answered now on the live generation; watching the same question
        again returns the one already watched."""
        question = " ".join(question.split())
        if not question:
            raise ConfigError("a watched question cannot be empty")
        watched = WatchedQuestion(0, question, utc_now(), _snapshot(assistant, question, tuple(sources), since, until))
        watched = replace(watched, sources=tuple(sources), since=since or None, until=until or None)
        return self.state.add_question(watched)

    def remove(self, question_id: int) -> bool:
        return self.state.remove_question(question_id)

    def seen(self, question_id: int) -> None:
        """The reader has looked at the change: its badge goes (the then/now stay until the next change)."""
        self.state.mark_seen(question_id)

    def recheck(self, assistant: Assistant) -> list[WatchedQuestion]:
        """Ask every watched question again on the assistant's generation (refreshed first) when it was last
        answered on another one; the ones whose answer changed, as stored."""
        assistant.refresh()
        stale = self.stale(assistant.retriever.generation)
        if not stale:
            return []
        removed = Held.of(self.index_dir, self.settings, listed=False).removed
        changed = []
        for watched in stale:
            try:
                now = _snapshot(assistant, watched.question, watched.sources, watched.since, watched.until)
            except AssistantError as exc:
                logger.warning("watched question %d could not be asked again: %s", watched.id, exc)
                continue
            differences = watched.now.differences(now, removed)
            if differences:
                watched = replace(
                    watched, then=watched.now, now=now, changes=differences, changed_at=utc_now(), unseen=True
                )
                changed.append(watched)
            else:
                watched = replace(watched, now=now)
            self.state.save_question(watched)
        return changed

    def stale(self, generation: int) -> list[WatchedQuestion]:
        """The questions last answered on another generation than ``generation``."""
        return [q for q in self.questions() if q.now.generation != generation]


def _snapshot(
    assistant: Assistant, question: str, sources: tuple[str, ...], since: str | None, until: str | None
) -> Snapshot:
    filters = Filters.of(since=since or None, until=until or None, sources=list(sources) or None)
    return Snapshot.of(assistant.ask(question, filters=filters), utc_now())

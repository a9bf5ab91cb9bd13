"""What crosses the watch room's seams: a feed's state, what a round did with it, and a watched question's answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..answers import Answer


@dataclass(frozen=True)
class FeedStatus:
    """A watched feed as the state keeps it between rounds.

    ``etag`` and ``last_modified`` are what its server sent last, sent back to be told "not modified"; ``failures``
    counts the rounds it failed in a row (the wait before the next try doubles with each); ``next_due`` is when it
    may be fetched again (seconds since the epoch), set by the round interval, its ``<ttl>`` or ``Retry-After``.
    ``trusted`` feeds were named by whoever runs the server (command line, --watch file) and may be on a private
    address; feeds added in the page may not.
    """

    url: str
    added_at: str
    trusted: bool = False
    etag: str | None = None
    last_modified: str | None = None
    last_fetched: str | None = None
    last_error: str | None = None
    failures: int = 0
    next_due: float = 0.0
    articles_added: int = 0
    title: str | None = None
    ttl_minutes: int | None = None  # the feed's <ttl>, as last read (a 304 does not repeat it)


@dataclass(frozen=True)
class FeedOutcome:
    """One feed in one round: what was fetched and read, or why it failed."""

    url: str
    ok: bool
    not_modified: bool = False
    entries: int = 0
    new_or_changed: tuple[str, ...] = ()  # article ids whose entry was new or differed from the last round's
    added: int = 0  # of those, the articles new to the index
    error: str | None = None
    retry_after: float | None = None
    ttl_minutes: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    title: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["new_or_changed"] = list(self.new_or_changed)
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class RoundReport:
    """One round over the due feeds: each feed's outcome, and the one generation it published (None when nothing
    was new, or the round was abandoned or failed to write: the previous generation stays live then)."""

    feeds: tuple[FeedOutcome, ...]
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    generation: int | None = None
    abandoned: bool = False
    error: str | None = None
    seconds: float = 0.0
    skipped: tuple[str, ...] = ()  # entries the indexer refused, with the reason

    @property
    def failed(self) -> tuple[FeedOutcome, ...]:
        return tuple(outcome for outcome in self.feeds if not outcome.ok)

    def line(self) -> str:
        """The round in one line, for a log or a terminal."""
        if self.abandoned:
            return "round abandoned before publishing: the index is unchanged"
        published = f"generation {self.generation}" if self.generation is not None else "nothing new"
        failed = f", {len(self.failed)} failed" if self.failed else ""
        error = f"; not written: {self.error}" if self.error else ""
        return (
            f"{len(self.feeds)} feeds fetched{failed}: {len(self.added)} articles added, {len(self.changed)} changed "
            f"({published}) in {self.seconds:.1f} s{error}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "feeds": [outcome.to_dict() for outcome in self.feeds],
            "added": list(self.added),
            "changed": list(self.changed),
            "generation": self.generation,
            "abandoned": self.abandoned,
            "error": self.error,
            "seconds": self.seconds,
            "skipped": list(self.skipped),
        }


@dataclass(frozen=True)
class CitedArticle:
    """An article a watched answer cites, as it was when the answer was given."""

    article_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None
    quote: str


@dataclass(frozen=True)
class Snapshot:
    """A watched question's answer at one generation: what is compared from one update to the next."""

    generation: int
    asked_at: str
    text: str
    short: str | None
    abstained: bool
    cited: tuple[CitedArticle, ...] = ()

    @classmethod
    def of(cls, answer: Answer, asked_at: str) -> Snapshot:
        cited: dict[str, CitedArticle] = {}
        for c in answer.citations:
            cited.setdefault(c.article_id, CitedArticle(c.article_id, c.title, c.source, c.date, c.url, c.quote))
        short = answer.short_answer.text if answer.short_answer and not answer.abstained else None
        return cls(answer.generation, asked_at, answer.text, short, answer.abstained, tuple(cited.values()))

    @property
    def article_ids(self) -> frozenset[str]:
        return frozenset(c.article_id for c in self.cited)

    def differences(self, later: Snapshot, removed: frozenset[str] = frozenset()) -> tuple[str, ...]:
        """What changed from this answer to ``later``, in words; empty when the direct answer and the cited articles
        are the same (a reworded answer over the same articles is not news). ``removed``: article ids no longer in
        the index, said as such."""
        said: list[str] = []
        if (self.short or "").casefold() != (later.short or "").casefold():
            said.append(f"the direct answer changed: {self.short or 'none'} → {later.short or 'none'}")
        if self.abstained != later.abstained:
            said.append("the articles now answer it" if self.abstained else "the articles no longer answer it")
        new = [c for c in later.cited if c.article_id not in self.article_ids]
        gone = [c for c in self.cited if c.article_id not in later.article_ids]
        if new:
            said.append("newly cited: " + "; ".join(_named(c) for c in new))
        if gone:
            said.append(
                "no longer cited: "
                + "; ".join(_named(c) + (" (removed from the index)" if c.article_id in removed else "") for c in gone)
            )
        return tuple(said)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        cited = tuple(CitedArticle(**c) for c in data.get("cited", ()))
        return cls(
            int(data["generation"]),
            str(data["asked_at"]),
            str(data["text"]),
            data.get("short"),
            bool(data.get("abstained")),
            cited,
        )


def _named(cited: CitedArticle) -> str:
    where = " · ".join(part for part in (cited.source, cited.date) if part)
    return f"“{cited.title}”" + (f" ({where})" if where else "")


@dataclass(frozen=True)
class WatchedQuestion:
    """A question asked again after every update. ``now`` is its latest answer; ``then`` the one before the last
    change and ``changes`` what changed (both empty until its answer first changes); ``unseen`` until someone
    looked at the change."""

    id: int
    question: str
    created_at: str
    now: Snapshot
    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    then: Snapshot | None = None
    changes: tuple[str, ...] = ()
    changed_at: str | None = None
    unseen: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.to_dict()
        data["then"] = self.then.to_dict() if self.then else None
        return data

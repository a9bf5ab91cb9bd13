"""Timelines for stories: "What happened with the Twitter acquisition?" gets one dated line per event, oldest first.

Each retrieved article offers its sentence that best matches the story; an article that matches too weakly is left
out. Outlets reporting the same event say it in near-identical sentences, or within a few days in similar ones:
those become one event, dated by its first report, that lists every outlet and citation. Events are the most
relevant few, then put in date order. Undated articles cannot be placed on a timeline and are left out.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..answers import Citation, TimelineEvent
from ..retrieve.timeframes import parse_day
from .coverage import short_date
from .evidence import Evidence
from .expectation import expected_kind
from .extractive import Composition, ExtractiveAnswerer

__all__ = ["TimelineBuilder", "events_in_order", "is_story_question"]

_STORY = re.compile(
    r"\bwhat(?:'s| has| have|’s)? happened (?:with|to|in|at|on|since|after|over)\b"
    r"|\bwhat(?:'s| is|’s) (?:the latest|new) (?:on|with|in|about)\b|\bthe latest on\b"
    r"|\bhow (?:has|have|did|is|are) .{3,80}? (?:develop|developed|evolve|evolved|unfold|unfolded|progress|"
    r"progressed|change|changed|play(?:ed)? out|go(?:ne)?|going|turn(?:ed)? out)\b"
    r"|\b(?:timeline|chronology|history|sequence of events) (?:of|for|on)\b|\bdevelopments? (?:in|on|with|around)\b"
    r"|\bsaga\b|\bstory so far\b"
    r"|\bwhat(?:'s| is|’s) going on (?:with|in|at)\b|\bcatch me up on\b|\bwalk me through\b",
    re.IGNORECASE,
)


def is_story_question(question: str) -> bool:
    """Whether ``question`` asks about a story as it developed rather than a single fact.

    A question that expects a particular kind of answer ("Where did the launch occur?", even after "NASA made
    history") asks for a fact.
    """
    return _STORY.search(question) is not None and expected_kind(question) in (None, "thing")


@dataclass(frozen=True)
class TimelineBuilder:
    """Builds the timeline answer from evidence gathered over many passages."""

    events: int = 8  # lines shown at most
    relevance: float = 0.3  # an article's best sentence must support the story at least this much
    relative: float = 0.65  # ... and at least this share of the best sentence's support
    same_event: float = 0.92  # sentences this alike are the same event, whatever their dates
    same_event_near: float = 0.75  # ... and these alike too, when reported within ``near_days`` of each other
    near_days: int = 3

    def compose(self, evidence: Evidence, citer: ExtractiveAnswerer) -> tuple[Composition, tuple[TimelineEvent, ...]]:
        picked = self._best_per_article(evidence)
        groups = self._merge(evidence, picked)
        groups = sorted(groups, key=lambda g: -max(evidence.candidates[i].score for i in g))[: self.events]
        groups.sort(
            key=lambda g: (self._day(evidence, g[0]), evidence.hits[evidence.candidates[g[0]].hit].source or "")
        )
        citations: list[Citation] = []
        events: list[TimelineEvent] = []
        pieces: list[str] = []
        for group in groups:
            numbers = []
            for index in group:
                cand = evidence.candidates[index]
                hit = evidence.hits[cand.hit]
                number = len(citations) + 1
                citations.append(
                    citer.citation(number, hit, evidence.spans[cand.hit], (cand.start, cand.end), cand.score)
                )
                numbers.append(number)
            first = evidence.candidates[group[0]]
            hit = evidence.hits[first.hit]
            outlets = tuple(dict.fromkeys(c.source for c in citations[numbers[0] - 1 :] if c.source))
            events.append(TimelineEvent(hit.date, first.text, numbers[0], hit.source, outlets, tuple(numbers[1:])))
            markers = "".join(f"[{n}]" for n in numbers)
            who = ", ".join(outlets) or "unknown outlet"
            pieces.append(f"{'' if not pieces else chr(10)}{_when(hit.date)} — {who}: {first.text} {markers}")
        return Composition(tuple(pieces), tuple(citations)), tuple(events)

    def _best_per_article(self, evidence: Evidence) -> list[int]:
        """Candidate indices: each dated article's best sentence, if it is relevant enough."""
        seen: set[str] = set()
        chosen: list[int] = []
        floor = max(self.relevance, self.relative * evidence.support)
        for index, cand in enumerate(evidence.candidates):  # best first
            hit = evidence.hits[cand.hit]
            if hit.article_id in seen or not hit.date or cand.support < floor:
                continue
            seen.add(hit.article_id)
            chosen.append(index)
        return chosen

    def _merge(self, evidence: Evidence, picked: list[int]) -> list[list[int]]:
        """Groups of candidate indices that report one event, each ordered by publication (first report first)."""
        vectors = evidence.vectors
        groups: list[list[int]] = []
        for index in sorted(picked, key=lambda i: self._day(evidence, i)):
            day = self._day(evidence, index)
            home = None
            for group in groups:
                for member in group:
                    similarity = float(vectors[index] @ vectors[member])
                    close = abs((day - self._day(evidence, member)).days) <= self.near_days
                    if similarity >= self.same_event or (close and similarity >= self.same_event_near):
                        home = group
                        break
                if home is not None:
                    break
            if home is None:
                groups.append([index])
            else:
                home.append(index)
        return groups

    @staticmethod
    def _day(evidence: Evidence, index: int) -> dt.date:
        date = evidence.hits[evidence.candidates[index].hit].date
        return parse_day(date, name="date") or dt.date.min


def _when(date: str | None) -> str:
    return short_date(date) if date else "undated"


def events_in_order(events: Sequence[TimelineEvent]) -> bool:
    """Whether ``events`` run oldest first (what every timeline promises; the benchmark checks it)."""
    days = [parse_day(e.date, name="date") or dt.date.min for e in events]
    return all(a <= b for a, b in itertools.pairwise(days))

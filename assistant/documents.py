"""The domain types: an article, a chunk of it, a passage found by a search, and an input that was skipped."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit


def web_url(url: str | None) -> str | None:
    """The URL when it is http(s) with a host, else None.

    Only a web address is a URL: "javascript:…", "data:…" or a relative path from an article must never become a
    link or an article id.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass(frozen=True, slots=True)
class Article:
    """A cleaned article ready to chunk.

    ``date`` is ISO 8601 at the precision the source gives (``2025``, ``2025-02`` or ``2025-02-17``).
    ``origin`` is where it came from (a file path, ``path:line`` for a JSON Lines record, or a URL).
    """

    id: str
    title: str
    text: str
    date: str | None = None
    source: str | None = None
    url: str | None = None
    author: str | None = None
    origin: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def day(self) -> str | None:
        """The earliest day ``date`` can mean (``2025-02`` → ``2025-02-01``), for filters and recency."""
        if not self.date:
            return None
        parts = self.date.split("-")
        return "-".join([*parts, "01", "01"][:3])

    @property
    def content_hash(self) -> str:
        """Hash of what gets indexed: a change here means the article must be re-embedded."""
        digest = hashlib.sha256()
        for part in (self.title, self.text, self.date or "", self.source or "", self.url or ""):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()

    @property
    def copy_hash(self) -> str:
        """Hash of title and body: records equal in both are copies of one article, stored once.

        The title takes part because scrapes of different stories can share a body (an ad form, a paywall
        notice); such records are different articles, findable by their titles.
        """
        return hashlib.sha256(f"{self.title}\x00{self.text}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of an article: ``article.text[start:end] == text``."""

    id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not indexed, and why."""

    origin: str
    reason: str
    line: int | None = None

    def describe(self) -> str:
        where = self.origin if self.line is None else f"{self.origin}:{self.line}"
        return f"{where}: {self.reason}"

    @staticmethod
    def summarised(items: Sequence[Skipped], *, repeats: int = 3, shown: int = 8) -> list[str]:
        """One line per item, except that a reason repeated for ``repeats`` or more lines of one file is one line.

        "export.jsonl: 120 records: older version: … (lines 2, 4, 6, 8, 10, 12, 14, 16, …)": an export of
        versions does not print 120 lines saying the same thing.
        """
        groups: dict[tuple[str, str], list[Skipped]] = {}
        for item in items:
            groups.setdefault((item.origin, item.reason), []).append(item)
        lines: list[str] = []
        for (origin, reason), members in groups.items():
            if len(members) < repeats:
                lines.extend(member.describe() for member in members)
                continue
            numbers = [str(m.line) for m in members if m.line is not None][:shown]
            more = ", …" if len(members) > len(numbers) and numbers else ""
            where = f" (lines {', '.join(numbers)}{more})" if numbers else ""
            lines.append(f"{origin}: {len(members)} records: {reason}{where}")
        return lines

    @classmethod
    def article(cls, article: Article, reason: str) -> Skipped:
        """An article refused after it was read, named by its file and (for a record of a file) its line."""
        origin = article.origin or article.id
        # An origin is "file", "file:line" (JSON Lines, JSON arrays) or "file#entry" (feeds); a supported file's
        # name ends in its suffix, never in ":digits", so the split is unambiguous.
        file, colon, line = origin.rpartition(":")
        if colon and file and line.isdigit():
            return cls(file, reason, int(line))
        return cls(origin, reason)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: ``text == article_text[start:end]``, from index generation ``generation``."""

    chunk_id: int
    text: str
    start: int
    end: int
    article_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    score: float
    dense: float | None
    bm25: float | None
    recency: float
    generation: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

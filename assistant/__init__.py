"""A question-answering assistant over news articles: index them, ask, and check every answer against its sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answers import Answer, AnswerStream, Citation, Conflict
from .documents import Article, Chunk, Hit, Skipped
from .errors import (
    AssistantError,
    ClusterError,
    ConfigError,
    EndpointError,
    FetchError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    InputError,
    ModelError,
    ModelMismatchError,
    NothingIndexedError,
    StoreError,
    StoreUnavailableError,
)
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .answer.assistant import Assistant
    from .embed.base import Embedder
    from .index.records import IndexDescription
    from .index.store import describe_index
    from .indexing.summary import IndexSummary
    from .indexing.update import build_index, remove_articles, update_index
    from .retrieve.filters import Filters
    from .retrieve.retriever import Retriever
    from .watch.questions import Watchlist
    from .watch.records import RoundReport, WatchedQuestion
    from .watch.watcher import Watcher

__all__ = [
    "Answer",
    "AnswerStream",
    "Article",
    "Assistant",
    "AssistantError",
    "Chunk",
    "Citation",
    "ClusterError",
    "ConfigError",
    "Conflict",
    "Embedder",
    "EndpointError",
    "FetchError",
    "Filters",
    "Hit",
    "IndexCorruptError",
    "IndexDescription",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexSummary",
    "InputError",
    "ModelError",
    "ModelMismatchError",
    "NothingIndexedError",
    "Retriever",
    "RoundReport",
    "Settings",
    "Skipped",
    "StoreError",
    "StoreUnavailableError",
    "WatchedQuestion",
    "Watcher",
    "Watchlist",
    "build_index",
    "describe_index",
    "get_settings",
    "remove_articles",
    "update_index",
]

# Heavy modules (numpy, faiss, torch) load on first use, so `import assistant` stays instant (a test holds it).
_LAZY = {
    "Assistant": "answer.assistant",
    "Embedder": "embed.base",
    "Retriever": "retrieve.retriever",
    "Filters": "retrieve.filters",
    "IndexSummary": "indexing.summary",
    "IndexDescription": "index.records",
    "describe_index": "index.store",
    "build_index": "indexing.update",
    "update_index": "indexing.update",
    "remove_articles": "indexing.update",
    "Watcher": "watch.watcher",
    "Watchlist": "watch.questions",
    "WatchedQuestion": "watch.records",
    "RoundReport": "watch.records",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

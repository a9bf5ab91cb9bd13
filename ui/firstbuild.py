"""The first build of an index while the page is already open.

``assistant serve --corpus FOLDER`` on a location that holds no index yet (``make run`` on a fresh machine) opens the
page at once and builds in the background: the page's header says how far the build got, a question asked meanwhile
is told the same, and the page answers as soon as the first generation is published. A build that fails says why
in the header and in the chat; the location is left as the writer leaves any failed build (no index, or its
previous state).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from assistant import AssistantError, Embedder, Settings

__all__ = ["FirstBuild", "Progress"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """How far a first build got: what the embedding reported last, and how it ended."""

    corpus: str
    articles_done: int = 0
    articles: int = 0
    chunks_done: int = 0
    chunks: int = 0
    finished: bool = False
    error: str | None = None

    def line(self) -> str:
        """One sentence for the page's header and for a question asked before the index exists."""
        if self.error is not None:
            return f"The first build of the index from {self.corpus} failed: {self.error}"
        if self.finished:
            return f"The index was built from {self.corpus}."
        if not self.chunks:
            return f"Building the index from {self.corpus}: reading the articles…"
        return (
            f"Building the index from {self.corpus}: {self.chunks_done:,} of {self.chunks:,} passages embedded "
            f"({self.articles_done:,} of {self.articles:,} articles)…"
        )


class FirstBuild:
    """One background build of ``corpus`` into ``index_dir``; ``on_built`` runs once it is published."""

    def __init__(
        self,
        corpus: Path,
        index_dir: Path,
        settings: Settings,
        embedder: Embedder | None,
        on_built: Callable[[], None],
    ) -> None:
        self.corpus = corpus
        self.index_dir = index_dir
        self.settings = settings
        self.embedder = embedder
        self._on_built = on_built
        self._lock = threading.Lock()
        self._progress = Progress(str(corpus))
        self._thread = threading.Thread(target=self._run, name="first-build", daemon=True)

    def start(self) -> FirstBuild:
        logger.warning("building %s from %s; the page shows its progress", self.index_dir, self.corpus)
        self._thread.start()
        return self

    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    def wait(self, timeout: float | None = None) -> Progress:
        """The progress once the build ended (or after ``timeout`` seconds): for tests and for shutting down."""
        self._thread.join(timeout)
        return self.progress()

    def _report(self, articles_done: int, articles: int, chunks_done: int, chunks: int) -> None:
        with self._lock:
            self._progress = replace(
                self._progress, articles_done=articles_done, articles=articles, chunks_done=chunks_done, chunks=chunks
            )

    def _run(self) -> None:
        from assistant import update_index

        try:
            update_index(
                [self.corpus],
                self.index_dir,
                settings=self.settings,
                embedder=self.embedder,
                on_progress=self._report,
            )
            self._on_built()
        except AssistantError as exc:
            self._end(str(exc))
        except Exception as exc:  # a thread's exception would vanish: the page must say the build failed
            logger.exception("the first build from %s failed", self.corpus)
            self._end(f"{type(exc).__name__}: {exc}")
        else:
            self._end(None)

    def _end(self, error: str | None) -> None:
        with self._lock:
            self._progress = replace(self._progress, finished=error is None, error=error)

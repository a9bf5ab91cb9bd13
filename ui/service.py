"""What the page does, without the page: one assistant shared by every session, questions, and index updates."""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import Answer, Assistant, AssistantError, Embedder, Filters, IndexNotFoundError, Settings
from assistant.ingest.decoding import SNIFF_BYTES, is_binary
from assistant.ingest.formats import FORMATS, suffix_of

from .firstbuild import FirstBuild
from .overview import Overview, overview_of, pending
from .permalinks import link_html, read_permalink, recheck
from .render import answer_markdown, cards_html, escaped
from .watching import PageWatch

if TYPE_CHECKING:
    from assistant.indexing.summary import ProgressCallback

__all__ = ["KEPT_TURNS", "ChatService"]

logger = logging.getLogger(__name__)

# Follow-ups use only the last few turns; a long chat must not grow a session's state without bound.
KEPT_TURNS = 10


class ChatService:
    """What the page does, without the page: one assistant shared by every session, and index updates."""

    def __init__(
        self,
        settings: Settings,
        index_dir: Path,
        upload_dir: Path,
        embedder: Embedder | None = None,
        *,
        first_build_from: Path | None = None,
    ) -> None:
        """Open the index; with ``first_build_from`` (a location without one yet), build it from that folder in
        the background instead, answering once it is published (:mod:`.firstbuild`)."""
        self.settings = settings
        self.index_dir = index_dir
        self.upload_dir = upload_dir
        self.update_lock = threading.Lock()  # one writer at a time from this page: its Library tab and feed rounds
        self._described = threading.Lock()
        self._overview: Overview | None = None
        self._assistant: Assistant | None = None
        self.first_build: FirstBuild | None = None
        self.watch = PageWatch(self)  # feeds and watched questions; `serve` starts its rounds
        if first_build_from is None:
            self._assistant = Assistant.open(index_dir, settings=settings, embedder=embedder)
            return

        def opened() -> None:
            self._assistant = Assistant.open(index_dir, settings=settings, embedder=embedder)

        self.first_build = FirstBuild(first_build_from, index_dir, settings, embedder, opened).start()

    @property
    def assistant(self) -> Assistant:
        """The assistant over the index; until a first build has published it, an error saying how far it got."""
        if self._assistant is None:
            progress = self.first_build.progress().line() if self.first_build else "no index"
            raise IndexNotFoundError(f"{progress} Ask again when the index is ready.")
        return self._assistant

    @property
    def ready(self) -> bool:
        return self._assistant is not None

    def sources(self) -> list[str]:
        """The outlets the index names (none while the first build runs)."""
        return list(self._assistant.retriever.sources()) if self._assistant else []

    # -- questions --------------------------------------------------------------------------------------
    def options(
        self, as_of: str, since: str, until: str, sources: list[str] | None, k: float | None, answerer: str | None
    ) -> dict[str, Any]:
        """The page's filter inputs as the assistant takes them: one :class:`Filters` value, and the answerer."""
        filters = Filters.of(
            as_of=as_of or None, since=since or None, until=until or None, sources=sources, k=int(k) if k else None
        )
        return {"filters": filters, "answerer": answerer or None}

    def chat(
        self, message: str, chat: list[dict[str, Any]], turns: list[Answer], *filters: Any
    ) -> Iterator[tuple[list[dict[str, Any]], str, list[Answer], str]]:
        """Stream one exchange: the question, the answer as it is produced, then the checked answer and cards."""
        yield from self._exchange(message, message, chat, turns, filters, None)

    def timeline(
        self, chat: list[dict[str, Any]], turns: list[Answer], *filters: Any
    ) -> Iterator[tuple[list[dict[str, Any]], str, list[Answer], str]]:
        """The last question again, answered as a dated timeline of its story ("Show as timeline")."""
        turns = list(turns or [])
        if not turns:
            yield list(chat or []), cards_html(None, ""), turns, ""
            return
        query = turns[-1].query  # already standalone: a follow-up was rewritten
        yield from self._exchange(query, f"Show as timeline: {query}", chat, turns, filters, True, history=[])

    def permalink(self, turns: list[Answer], *filters: Any) -> str:
        """A link to the last answer: its standalone question, these filters and its index generation."""
        return link_html(turns[-1], *filters[:5]) if turns else ""

    def reopen(self, params: Any) -> dict[str, Any] | None:
        """Re-ask a permalink's question (see :func:`assistant_ui.permalinks.recheck`); None without one."""
        link = read_permalink(params)
        if link is None:
            return None
        self.refresh()
        return recheck(self.assistant, link, self.options(*link.filters(), None))

    def _exchange(
        self,
        message: str,
        shown: str,
        chat: list[dict[str, Any]],
        turns: list[Answer],
        filters: tuple[Any, ...],
        timeline: bool | None,
        history: list[Answer] | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], str, list[Answer], str]]:
        chat = list(chat or [])
        turns = list(turns or [])[-KEPT_TURNS:]
        chat.append({"role": "user", "content": shown})
        self.refresh()
        try:
            stream = self.assistant.stream(
                message, turns if history is None else history, timeline=timeline, **self.options(*filters)
            )
            text = ""
            for piece in stream:
                text += piece
                # Article text streams in too: escaped like the finished answer, before any of it is shown.
                yield [*chat, {"role": "assistant", "content": escaped(text)}], cards_html(None, ""), turns, ""
            answer = stream.answer
        except AssistantError as exc:
            yield [*chat, {"role": "assistant", "content": "⚠️ " + escaped(str(exc))}], cards_html(None, ""), turns, ""
            return
        prefix = f"a{sum(m.get('role') == 'assistant' for m in chat) + 1}"  # unique per answer shown in this chat
        chat.append({"role": "assistant", "content": answer_markdown(answer, prefix)})
        yield chat, cards_html(answer, prefix), [*turns, answer][-KEPT_TURNS:], ""

    def ask(self, question: str, *filters: Any) -> dict[str, Any]:
        self.refresh()
        return self.assistant.ask(question, **self.options(*filters)).to_dict()

    def search(self, query: str, *filters: Any) -> list[dict[str, Any]]:
        chosen = self.options(*filters)["filters"]
        self.refresh()
        hits = self.assistant.retriever.search(query, filters=chosen)
        return [hit.to_dict() for hit in hits]

    def refresh(self) -> None:
        """Answer from the newest generation, whoever published it (this page, or `assistant index update`)."""
        if not self.ready:
            return  # a first build still running: the question is told so by the assistant property
        try:
            self.assistant.refresh()
        except AssistantError as exc:
            # The generation in use was verified when it was opened and stays intact on disk: keep answering from
            # it rather than failing every question until someone repairs the index.
            logger.warning("keeping index generation %s: %s", self.assistant.retriever.generation, exc)

    def recheck_watched(self) -> None:
        """Ask the watched questions again when the index changed since they were last answered."""
        if not (self.ready and self.watch.watching):
            return
        try:
            self.watch.watcher.attach(self.assistant)
            self.watch.watcher.recheck()
        except AssistantError as exc:
            logger.warning("the watched questions cannot be asked again now: %s", exc)

    # -- what the index holds ---------------------------------------------------------------------------
    def overview(self) -> tuple[str, tuple[str, ...]]:
        """The page's header and example questions for the live generation (the articles are listed again only
        when the generation changed): what the page polls to stay current as updates publish."""
        from assistant import describe_index

        if self.first_build is not None and not self.ready:
            return pending(self.first_build.progress().line()).header, ()
        with self._described:
            try:
                info = describe_index(self.index_dir, settings=self.settings)
                if self._overview is None or self._overview.generation != info.generation:
                    listed = describe_index(self.index_dir, with_articles=True, settings=self.settings)
                    self._overview = overview_of(listed)
            except AssistantError as exc:
                # Polled every few seconds by every open page: a store that cannot be read right now (a Milvus
                # server restarting) leaves the last overview in place rather than an error on each poll.
                logger.warning("the page's overview cannot read the index now: %s", exc)
                if self._overview is None:
                    return f"The index cannot be read right now: {escaped(str(exc))}", ()
            shown = self._overview
        return shown.header, shown.examples

    # -- library ----------------------------------------------------------------------------------------
    def library(self, filter_text: str = "") -> tuple[str, list[list[str]]]:
        from assistant import describe_index

        if self.first_build is not None and not self.ready:
            return escaped(self.first_build.progress().line()), []
        info = describe_index(self.index_dir, with_articles=True, settings=self.settings)
        dates = info.date_range
        outlets = ", ".join(f"{s.source} ({s.articles})" for s in info.sources) or "–"
        stats = (
            f"**{info.articles} articles**, {info.chunks} passages · dates {dates.first or '–'} … "
            f"{dates.last or '–'} ({dates.undated} undated) · sources: {outlets} · generation "
            f"{info.generation}, updated {info.created_at} · model {info.model.name}"
        )
        wanted = filter_text.strip().lower()
        rows = [
            [a.title or "", a.source or "", a.date or "", a.id]
            for a in info.article_list or ()
            if not wanted or wanted in " ".join(str(v) for v in astuple(a)).lower()
        ]
        return stats, rows

    def add_articles(
        self,
        files: list[str] | None,
        url: str,
        text: str,
        title: str,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Copy uploads (and a pasted text or fetched URL) into the upload folder and update the index.

        Chats keep using the current generation until the new one is published; then they switch to it.
        """
        from assistant import update_index

        embedder = self.assistant.retriever.embedder  # until the first build is done, the error saying so
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        refused: list[dict[str, str]] = []
        paths: list[Path] = []
        for name in files or []:
            source = Path(name)
            reason = self._refusal(source)
            if reason:
                refused.append({"file": source.name, "reason": reason})
            else:
                target = self.upload_dir / _safe_name(source.name)
                shutil.copyfile(source, target)
                paths.append(target)
        if text.strip():
            body = f"{title.strip() or text.strip().splitlines()[0][:120]}\n\n{text.strip()}\n"
            paths.append(self._write("pasted", ".txt", body.encode("utf-8")))
        if url.strip():
            try:
                paths.append(self._fetch(url.strip()))
            except AssistantError as exc:
                refused.append({"file": url.strip(), "reason": str(exc)})
        if not paths:
            return {"added": 0, "skipped": refused, "articles": None}
        with self.update_lock:  # one update at a time from this page; the index lock guards against other writers
            # prune=False: the update names only the new files, and must not drop articles it did not name.
            summary = update_index(
                paths,
                self.index_dir,
                prune=False,
                settings=self.settings,
                embedder=embedder,
                on_progress=progress,
            )
        self.assistant.refresh()
        self.recheck_watched()
        skipped = refused + [{"file": self._shown(s.origin), "reason": s.describe()} for s in summary.skipped]
        return {"added": summary.added, "changed": summary.changed, "skipped": skipped, "articles": summary.articles}

    @property
    def max_bytes(self) -> int:
        return self.settings.max_file_bytes

    def _refusal(self, source: Path) -> str | None:
        """Why an uploaded file is not copied into the corpus, or None.

        Refused here rather than skipped by the indexer: a refused file never lands in corpus/uploads, where every
        later start would skip it again.
        """
        suffix = suffix_of(source)
        if suffix not in FORMATS:
            return f"unsupported type {suffix or '(none)'}"
        if source.stat().st_size > self.max_bytes:
            return f"larger than {self.settings.max_file_mb:g} MB (ASSISTANT_MAX_FILE_MB)"
        if FORMATS[suffix].gzip:
            return None  # compressed bytes look binary; the indexer checks what they decompress to
        with source.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
        # The indexer's own test, so the page and the indexer cannot disagree about what is text.
        if is_binary(head):
            return f"binary content, not a {suffix} text file"
        return None

    def _shown(self, origin: str) -> str:
        """An indexer origin as the page shows it: relative to the upload folder, not a path on the server."""
        folder = str(self.upload_dir) + "/"
        return origin[len(folder) :] if origin.startswith(folder) else Path(origin).name

    def _write(self, stem: str, suffix: str, data: bytes) -> Path:
        path = self.upload_dir / f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}{suffix}"
        path.write_bytes(data)
        return path

    def _fetch(self, url: str) -> Path:
        from assistant.web.fetch import fetch_page

        data = fetch_page(url, self.max_bytes, allow_private=self.settings.ui_fetch_private)
        return self._write("url", ".html", data)


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name).lstrip(".")
    return keep or "upload"

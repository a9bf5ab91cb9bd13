"""The Gradio chat: ask questions, read the answer with its cited excerpts, and add articles to the index.

This module starts the page (:func:`serve`, :func:`start`) over a :class:`~.service.ChatService`, which does what the
page does without the page; :mod:`.page` lays it out.

Named API endpoints (usable from ``gradio_client``): ``/chat`` (streams the answer as chat messages),
``/ask`` (one answer as a dict), ``/search`` (passages), ``/add_articles`` (files, a URL or pasted text).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import ConfigError, Embedder, Settings

from .page import CSS, build_app
from .service import ChatService
from .watching import PageWatch

if TYPE_CHECKING:
    # For annotations only: gradio takes seconds to import, so build_app imports it, not this module.
    import gradio as gr

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_credentials(host: str, settings: Settings) -> tuple[str, str] | None:
    """The page's login for this interface: none on loopback without ASSISTANT_UI_AUTH, and refusal of any other
    interface (0.0.0.0, ::, a LAN address, a host name) without it."""
    auth = settings.ui_auth.get_secret_value() if settings.ui_auth is not None else None
    if not is_loopback(host) and not auth:
        raise ConfigError(
            f"refusing to serve on {host} without authentication: set ASSISTANT_UI_AUTH=user:password, "
            "or bind to 127.0.0.1"
        )
    if not auth:
        return None
    user, colon, password = auth.partition(":")
    if not (colon and user and password):
        raise ConfigError("ASSISTANT_UI_AUTH must look like user:password")
    return user, password


def start(
    service: ChatService, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True, quiet: bool | None = None
) -> gr.Blocks:
    """Launch the page with the settings' queue, upload limit and login; ``block=False`` returns the running page
    (call ``.close()`` on it) instead of waiting until it is stopped. ``quiet`` (default: when not blocking) leaves
    out Gradio's lines about where the page runs."""
    settings = service.settings
    credentials = bind_credentials(host, settings)
    demo = build_app(service)
    demo.queue(default_concurrency_limit=settings.ui_concurrency, max_size=settings.ui_queue_size)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=credentials,
        # Bytes, not "20mb": Gradio reads only a whole number before the unit, so "0.5mb" would not start.
        max_file_size=service.max_bytes,
        # Gradio serves neither today (they are not uploads or allowed paths); blocked, no later allowed_paths can.
        blocked_paths=[_index_folder(settings), str(settings.corpus_dir.resolve())],
        show_error=True,
        css=CSS,
        footer_links=["api"],
        prevent_thread_lock=not block,
        quiet=not block if quiet is None else quiet,
    )
    return demo


def _index_folder(settings: Settings) -> str:
    """The folder the index lives in, when it is local (a Milvus Lite folder too)."""
    from assistant.index.location import milvus_address

    address = milvus_address(settings.index_dir)
    if address is None:
        return str(settings.index_dir.resolve())
    return address.uri if address.lite else str(settings.corpus_dir.resolve())


def serve(
    settings: Settings,
    *,
    corpus: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    embedder: Embedder | None = None,
    watch: list[str] | None = None,
    every: float | None = None,
) -> None:
    """Start the page over the index at ``settings.index_dir``; blocks until stopped.

    With ``corpus`` (``assistant serve --corpus``, which ``make run`` gives), the index is first updated from that
    folder of articles: built on first start, later only what was added or changed there meanwhile. Without it the
    index is served as it is: serving never changes an index it was not asked to change. ``watch`` names feeds
    (URLs, or files listing them) to add to the watched ones; while the page is up, the watched feeds (these and
    those added in the page) are fetched every ``every`` seconds (the settings' ``watch_every``).
    """
    bind_credentials(host, settings)  # refuse before spending minutes on the index
    if corpus is not None and not corpus.is_dir():
        raise ConfigError(f"--corpus {corpus}: no such folder")
    if corpus is not None and not _has_index(settings):
        # A first build takes minutes: the page opens at once and shows its progress (see firstbuild.py).
        service = ChatService(settings, settings.index_dir, corpus / "uploads", embedder, first_build_from=corpus)
    else:
        if corpus is not None:
            _update_from(corpus, settings, embedder)
        service = _open_service(settings, corpus, embedder)
    with _stop_on_signals() as stop:  # before the rounds start: a stop from then on ends them cleanly
        # The rounds see the stop at once, even while the page is still starting.
        service.watch = PageWatch(service, feeds=watch, every=every, stop=stop).start()
        demo = None
        try:
            demo = start(service, host=host, port=port, block=False, quiet=False)
            while demo.is_running and not stop.wait(0.5):
                pass
        except KeyboardInterrupt:  # a second stop, or Ctrl-C off the main thread's handlers
            pass
        finally:
            logger.warning("stopped")
            if demo is not None:
                demo.close()
            service.watch.stop()  # a round being fetched is abandoned, one being written finishes


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event the first SIGTERM (a service manager stopping the page) or Ctrl-C sets: the page closes, then the
    feed rounds end cleanly, where the default would end the process mid-round. A second one interrupts at once.
    The previous handlers are put back after.

    The handler sets an event rather than raising KeyboardInterrupt where the signal lands: raised inside Gradio's
    start-up, it was now and then swallowed by a finaliser (the page then never stopped) or, once handled, still
    ended the process on SIGINT (exit -2): 7 starts in 60 stopped at random times under load.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers belong to the main thread
        return

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _has_index(settings: Settings) -> bool:
    from assistant import IndexNotFoundError, describe_index
    from assistant.errors import GenerationGoneError

    try:
        describe_index(settings.index_dir, settings=settings)
    except GenerationGoneError:
        return True  # an index whose generation went missing: the update says so, as it always has
    except IndexNotFoundError:
        return False
    return True


def _update_from(corpus: Path, settings: Settings, embedder: Embedder | None) -> None:
    from assistant import update_index

    logger.warning("updating %s from %s", settings.index_dir, corpus)
    update_index([corpus], settings.index_dir, settings=settings, embedder=embedder)


def _open_service(settings: Settings, corpus: Path | None, embedder: Embedder | None) -> ChatService:
    """The page's service over the index; the Library tab copies what it adds into the corpus's uploads/ folder
    (the settings' corpus folder when none was given)."""
    from assistant.errors import GenerationGoneError, IndexNotFoundError

    uploads = (corpus or settings.corpus_dir) / "uploads"
    try:
        return ChatService(settings, settings.index_dir, uploads, embedder=embedder)
    except IndexNotFoundError as exc:
        if corpus is not None or isinstance(exc, GenerationGoneError):
            raise
        raise IndexNotFoundError(f"{exc}, or serve with `assistant serve --corpus FOLDER` to build it") from None

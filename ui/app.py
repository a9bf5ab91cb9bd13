"""The Gradio chat: ask questions, read the answer with its cited excerpts, and add articles to the index.

This module starts the page (:func:`serve`, :func:`start`) over a :class:`~.service.ChatService`, which does what the
page does without the page; :mod:`.page` lays it out.

Named API endpoints (usable from ``gradio_client``): ``/chat`` (streams the answer as chat messages),
``/ask`` (one answer as a dict), ``/search`` (passages), ``/add_articles`` (files, a URL or pasted text).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from assistant import ConfigError, Embedder, Settings

from .page import CSS, build_app
from .service import ChatService

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


def start(service: ChatService, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> gr.Blocks:
    """Launch the page with the settings' queue, upload limit and login; ``block=False`` returns the running page
    (call ``.close()`` on it) instead of waiting until it is stopped."""
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
        quiet=not block,
    )
    return demo


def _index_folder(settings: Settings) -> str:
    """The folder the index lives in, when it is local (a Milvus Lite folder too)."""
    from assistant.index.location import milvus_address

    address = milvus_address(settings.index_dir)
    if address is None:
        return str(settings.index_dir.resolve())
    return address.uri if address.lite else str(settings.corpus_dir.resolve())


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, embedder: Embedder | None = None) -> None:
    """Start the page (building the index from the corpus first when there is none); blocks until stopped."""
    bind_credentials(host, settings)  # refuse before spending minutes on the index
    index_dir = settings.index_dir
    if settings.corpus_dir.is_dir():
        from assistant import update_index

        # Builds the index on first start; later starts embed only articles added to the corpus meanwhile.
        logger.warning("updating %s from %s", index_dir, settings.corpus_dir)
        update_index([settings.corpus_dir], index_dir, settings=settings, embedder=embedder)
    service = ChatService(settings, index_dir, settings.corpus_dir / "uploads", embedder=embedder)
    start(service, host=host, port=port)

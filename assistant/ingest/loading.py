"""One input file to :class:`Article` objects: read, decode, parse by format, apply a sidecar, settle each id.

Bad input never raises out of :func:`load_file`: each problem becomes a :class:`Skipped` entry with a reason, so
one broken file cannot stop a build of thousands. Each format's parser is in :mod:`assistant.ingest.formats`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..documents import Article, Skipped, web_url
from ..errors import InputError
from .decoding import (
    SNIFF_BYTES,
    binary_reason,
    bom_encoding,
    decode_text,
    gunzip,
    is_binary,
    read_file,
    too_large,
)
from .discovery import SIDECAR_SUFFIX, display_path
from .draft import Draft, Metadata, Parsed, metadata_fields
from .formats import format_of

__all__ = ["load_file", "path_id"]

logger = logging.getLogger(__name__)

_TITLE_LIMIT = 120


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def _sidecar_fields(path: Path, max_bytes: int) -> Metadata:
    """Metadata from ``<stem>.meta.json`` beside ``path``; a broken sidecar is an error, never ignored."""
    sidecar = _sidecar_path(path)
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(decode_text(read_file(sidecar, max_bytes)))
        if not isinstance(data, dict):
            raise InputError("must be a JSON object")
        return metadata_fields(data, strict_date=True)
    except json.JSONDecodeError as error:
        reason = f"malformed JSON: {error.msg} (line {error.lineno}, column {error.colno})"
    except RecursionError:
        reason = "JSON nested too deeply to read"
    except InputError as error:
        reason = error.reason
    raise InputError(f"bad sidecar {sidecar.name}: {reason}")


def path_id(path: Path, root: Path) -> str:
    """The id of a single-article file with no URL or id of its own: its path from the folder the user named."""
    # abspath, not resolve(): a symlinked file keeps the id of where it appears in the corpus.
    root_abs = Path(os.path.abspath(root))
    file_abs = Path(os.path.abspath(path))
    try:
        relative = file_abs.relative_to(root_abs).as_posix()
    except ValueError:
        relative = file_abs.name
    return f"{root_abs.name}/{relative}" if root_abs.name else relative


def _fallback_title(text: str) -> str:
    first = text.split("\n\n", 1)[0]
    if len(first) <= _TITLE_LIMIT:
        return first
    cut = first.rfind(" ", 0, _TITLE_LIMIT)
    return first[: cut if cut > 0 else _TITLE_LIMIT].rstrip() + "…"


def _locate(path: Path, draft: Draft) -> tuple[str, str, int | None]:
    """(article origin, skipped origin, skipped line) of a draft."""
    if draft.line is not None:
        return f"{path}:{draft.line}", str(path), draft.line
    if draft.entry is not None:
        where = f"{path}#{draft.entry}"
        return where, where, None
    return str(path), str(path), None


def _items(path: Path, max_bytes: int) -> tuple[Iterable[Parsed], bool]:
    """The parsed items of one file and whether it is a single article; InputError when the file cannot be read.

    A container (JSON Lines; a feed over the limit) is streamed record by record, so the limit bounds one record;
    any other file is read whole, and refused unread when it is over the limit.
    """
    kind = format_of(path)
    if kind.stream is not None:
        try:
            size = path.stat().st_size
            handle = path.open("rb")
        except OSError as error:
            raise InputError(error.strerror or str(error)) from None
        head = handle.read(SNIFF_BYTES)
        handle.seek(0)
        # A UTF-16/32 file (byte-order mark) has no byte lines to stream: it is read whole, within the limit.
        if (kind.always_stream or size > max_bytes) and bom_encoding(head) in (None, "utf-8-sig"):
            if is_binary(head):
                handle.close()
                raise InputError(binary_reason(head))
            return _closing(handle, kind.stream(handle, max_bytes)), False
        handle.close()
    data = read_file(path, max_bytes)
    if kind.gzip:
        data = gunzip(data, max_bytes)
    if not data.strip():
        raise InputError("empty: no article text")
    if is_binary(data):
        raise InputError(binary_reason(data))
    return kind.read(data)


def _closing(handle: BinaryIO, items: Iterator[Parsed]) -> Iterator[Parsed]:
    with handle:
        yield from items


def _load(path: Path, root: Path, max_bytes: int, warnings: list[Skipped]) -> tuple[list[Article], list[Skipped]]:
    origin = display_path(path)
    try:
        if origin != str(path):
            # Its id and origin could not be stored or printed; renaming is the only fix that keeps it findable.
            raise InputError("file name is not valid UTF-8: rename the file")
        items, single = _items(path, max_bytes)
        overrides = _sidecar_fields(path, max_bytes) if single else {}
    except InputError as error:
        logger.debug("skipping %s: %s", origin, error.reason)
        return [], [Skipped(origin, error.reason, error.line)]

    articles: list[Article] = []
    skipped: list[Skipped] = []
    for item in _until_error(items):
        if isinstance(item, InputError):
            skipped.append(Skipped(origin, item.reason, item.line))
            continue
        draft = dataclasses.replace(item, **overrides) if overrides else item
        draft = dataclasses.replace(draft, url=web_url(draft.url))
        article_origin, skip_origin, line = _locate(path, draft)
        if not draft.text:
            skipped.append(Skipped(skip_origin, "empty: no article text", line))
            continue
        if (size := len(draft.text.encode())) > max_bytes:
            # A few hundred bytes of XML entities can expand to megabytes (the "billion laughs"): the limit that
            # bounds a file or a decompressed one bounds the text it becomes too.
            skipped.append(
                Skipped(skip_origin, too_large(f"article text expands to {size} bytes", max_bytes).reason, line)
            )
            continue
        warnings.extend(Skipped(skip_origin, warning, line) for warning in draft.warnings)
        article = Article(
            id="",
            title=draft.title or _fallback_title(draft.text),
            text=draft.text,
            date=draft.date,
            source=draft.source,
            url=draft.url,
            author=draft.author,
            origin=article_origin,
        )
        if draft.id:
            identity = draft.id
        elif draft.url:
            identity = draft.url
        elif single:
            identity = path_id(path, root)
        else:
            identity = "sha256:" + article.copy_hash[:16]
        articles.append(dataclasses.replace(article, id=identity))
    if skipped:
        logger.debug("%s: %d item(s) skipped", origin, len(skipped))
    return articles, skipped


def _until_error(items: Iterable[Parsed]) -> Iterator[Parsed]:
    """``items``, with an InputError raised while streaming them turned into a last item: what came before stays."""
    try:
        yield from items
    except InputError as error:
        yield error


def load_file(
    path: Path, root: Path, *, max_bytes: int, warnings: list[Skipped] | None = None
) -> tuple[list[Article], list[Skipped]]:
    """The articles in one file (several for JSON Lines, JSON arrays and feeds), and what was skipped.

    ``root`` is the folder the user named (it anchors a file's id); files over ``max_bytes`` are refused unread.
    Never raises for bad input. Duplicates across files are the update's to settle (:class:`DuplicateFilter`).
    What was ignored in an article that is indexed anyway (an unreadable date) is added to ``warnings``.
    """
    path, root = Path(path), Path(root)
    try:
        return _load(path, root, max_bytes, warnings if warnings is not None else [])
    except Exception as error:  # a parser bug on one odd file must not abort a whole build
        logger.debug("unexpected error loading %s", display_path(path), exc_info=True)
        return [], [Skipped(display_path(path), f"unexpected error: {type(error).__name__}: {error}")]

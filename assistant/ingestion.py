"""Turn paths (files, folders, glob patterns) into :class:`Article` objects, and say why anything was skipped.

Bad input never raises out of :func:`load`: each problem becomes a :class:`Skipped` entry with a reason, so
one broken file cannot stop a build of thousands. Parsing of each format lives in :mod:`assistant.formats`.
"""

from __future__ import annotations

import codecs
import dataclasses
import glob
import json
import logging
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .dates import parse_date
from .documents import Article, Skipped, web_url
from .errors import InputError
from .feeds import parse_feed
from .formats import (
    Draft,
    Parsed,
    metadata_fields,
    parse_html,
    parse_json,
    parse_jsonl,
    parse_markdown,
    parse_txt,
)

__all__ = ["SUPPORTED_SUFFIXES", "Loaded", "discover", "load", "load_file", "parse_date"]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"}
)
_FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom"})
SIDECAR_SUFFIX = ".meta.json"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_TITLE_LIMIT = 120
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Loaded:
    """The result of :func:`load`."""

    articles: list[Article]
    skipped: list[Skipped]
    files: list[Path]  # every article file seen (resolved), including those skipped, to detect deletions


# ---------------------------------------------------------------- discovery


def _is_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(SIDECAR_SUFFIX)


def _display(path: str | Path) -> str:
    """``path`` as printable text: bytes of a name that is not UTF-8 are shown as ``\\xff`` escapes.

    Python keeps such bytes as lone surrogates, which a strict UTF-8 terminal, JSON reader or database refuses.
    """
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a str path holding surrogates that did not come from the file system
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _unsupported(path: Path) -> Skipped:
    suffix = _display(path.suffix.lower()) or "(no extension)"
    return Skipped(_display(path), f"unsupported file type {suffix}")


def _scan_folder(root: Path) -> tuple[list[Path], list[Skipped]]:
    found: list[Path] = []
    skipped: list[Skipped] = []

    def on_error(error: OSError) -> None:
        skipped.append(Skipped(_display(error.filename or root), error.strerror or str(error)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        # Hidden folders hold VCS data, editor state and caches, never articles.
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames if not name.startswith("."))
    found.sort(key=lambda path: path.relative_to(root).parts)
    return found, skipped


def discover(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, Path]], list[Skipped]]:
    """``(root, file)`` for every article file the inputs name, in order, each file once.

    ``root`` is the folder given, or the file's own folder for a file or a glob match; it anchors the id.
    Sidecars (``*.meta.json``) are metadata of their article and are not listed. Folder scans skip hidden
    entries and do not follow symlinked folders. Directories matched by a glob are ignored: write
    ``folder/**/*.txt`` (or name the folder) to recurse.
    """
    pairs: list[tuple[Path, Path]] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()

    def add(root: Path, file: Path) -> None:
        key = os.path.realpath(file)  # the same file named twice (folder and glob, or a symlink) loads once
        if key not in seen:
            seen.add(key)
            pairs.append((root, file))

    def add_scanned(root: Path, file: Path) -> bool:
        """Add a file found by a scan or glob; whether it is an article file."""
        if _is_sidecar(file):
            return False
        if file.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append(_unsupported(file))
            return False
        add(root, file)
        return True

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files, errors = _scan_folder(path)
            skipped.extend(errors)
            articles = [add_scanned(path, file) for file in files]
            if not any(articles):
                skipped.append(Skipped(_display(raw), "no article files in folder"))
        elif path.is_file():
            if _is_sidecar(path):
                skipped.append(Skipped(_display(raw), "sidecar metadata, loaded with its article, not on its own"))
            elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append(_unsupported(path))
            else:
                add(path.parent, path)
        elif path.exists():
            skipped.append(Skipped(_display(raw), "not a regular file"))
        elif _GLOB_CHARS & set(str(raw)):
            # Sorted like a folder scan (by path parts), so both ways of naming files give one order.
            matches = sorted((Path(match) for match in glob.glob(str(raw), recursive=True)), key=lambda p: p.parts)
            files = [match for match in matches if match.is_file()]
            if not files:
                skipped.append(Skipped(_display(raw), "no such file or directory"))
            for file in files:
                add_scanned(file.parent, file)
        else:
            skipped.append(Skipped(_display(raw), "no such file or directory"))
    return pairs, skipped


# ---------------------------------------------------------------- loading

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 8192
_MAX_CONTROL_RATIO = 0.1


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _is_binary(data: bytes) -> bool:
    """NUL bytes near the start mean binary, unless a BOM says the text is UTF-16/32 (full of NULs)."""
    if _bom_encoding(data) in ("utf-16", "utf-32"):
        return False
    return b"\x00" in data[:_SNIFF_BYTES]


def _binary_reason(data: bytes) -> str:
    """Why NUL bytes mean the file is skipped; UTF-16 without a BOM gets told apart, since it is text saved oddly.

    Its NULs all fall on even or all on odd offsets (the high byte of each Latin character). Decoding it anyway
    would be a guess at byte order, which the BOM exists to settle.
    """
    sample = data[:_SNIFF_BYTES]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if len(sample) >= 4 and min(even, odd) == 0 and max(even, odd) >= len(sample) // 8:
        return "binary file (or UTF-16 text without a byte-order mark: save it as UTF-8)"
    return "binary file"


def _mostly_non_text(text: str) -> bool:
    sample = text[:_SNIFF_BYTES]
    if not sample:
        return False
    bad = sum(
        1
        for char in sample
        if char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\t\n\r\x0b\x0c")
    )
    return bad > len(sample) * _MAX_CONTROL_RATIO


def _decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16/32; anything else is an error, never a guess.

    Guessing latin-1 would "succeed" on any bytes and index mojibake without a word of warning.
    """
    encoding = _bom_encoding(data)
    try:
        return data.decode(encoding or "utf-8")
    except UnicodeDecodeError as error:
        if encoding in ("utf-16", "utf-32"):
            raise InputError(f"not valid {encoding.upper()} at byte {error.start}") from None
        # utf-8-sig counts from after its BOM; the message should point into the file.
        offset = len(codecs.BOM_UTF8) if encoding else 0
        raise InputError(f"not valid UTF-8 at byte {error.start + offset}") from None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# A charset found by an ASCII pattern in the bytes cannot be one that is not ASCII-compatible: a page claiming
# UTF-16 or UTF-32 there is lying (HTML treats the claim as UTF-8), and UTF-7 is not a web encoding at all.
_NOT_DECLARABLE = ("utf-16", "utf-32", "utf-7")


def _declared_charset(data: bytes) -> str | None:
    if not (match := _META_CHARSET.search(data[:4096])):
        return None
    try:
        name = codecs.lookup(match[1].decode("ascii")).name
    except LookupError:
        logger.debug("unknown declared charset %r", match[1])
        return None
    return None if name.startswith(_NOT_DECLARABLE) else name


def _decode_html(data: bytes) -> str | bytes:
    """Decode by BOM, then UTF-8, then the page's declared charset; else let trafilatura guess."""
    if _bom_encoding(data):
        return _decode_text(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset := _declared_charset(data):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            logger.debug("declared charset %r does not decode the page", charset)
    return data


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise InputError(f"file too large: {size} bytes > limit {max_bytes}")
            data = handle.read(max_bytes + 1)  # the file may grow after the size check
    except OSError as error:
        raise InputError(error.strerror or str(error)) from None
    if len(data) > max_bytes:
        raise InputError(f"file too large: grew past the limit of {max_bytes} bytes while read")
    return data


def _text(data: bytes) -> str:
    text = _decode_text(data)
    if _mostly_non_text(text):
        raise InputError("binary file")
    return text


def _parse(path: Path, data: bytes) -> tuple[list[Parsed], bool]:
    """Parsed items and whether the file is a single article (which may then have a sidecar)."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [parse_txt(_text(data))], True
    if suffix in (".md", ".markdown"):
        return [parse_markdown(_text(data))], True
    if suffix in (".html", ".htm"):
        return [parse_html(_decode_html(data))], True
    if suffix == ".json":
        parsed = parse_json(_text(data))
        return ([parsed], True) if isinstance(parsed, Draft) else (parsed, False)
    if suffix == ".jsonl":
        return list(parse_jsonl(_text(data))), False
    if suffix in _FEED_SUFFIXES:
        return list(parse_feed(data)), False
    raise InputError(f"unsupported file type {suffix or '(no extension)'}")


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def _sidecar_fields(path: Path, max_bytes: int) -> dict[str, str]:
    """Metadata from ``<stem>.meta.json`` beside ``path``; a broken sidecar is an error, never ignored."""
    sidecar = _sidecar_path(path)
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(_decode_text(_read(sidecar, max_bytes)))
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


def _path_id(path: Path, root: Path) -> str:
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


@dataclass(frozen=True)
class _Located:
    article: Article
    origin: str  # as Skipped.origin would name it
    line: int | None


def _locate(path: Path, draft: Draft) -> tuple[str, str, int | None]:
    """(article origin, skipped origin, skipped line) of a draft."""
    if draft.line is not None:
        return f"{path}:{draft.line}", str(path), draft.line
    if draft.entry is not None:
        where = f"{path}#{draft.entry}"
        return where, where, None
    return str(path), str(path), None


def _load_located(path: Path, root: Path, max_bytes: int) -> tuple[list[_Located], list[Skipped]]:
    origin = _display(path)
    try:
        if origin != str(path):
            # Its id and origin could not be stored or printed; renaming is the only fix that keeps it findable.
            raise InputError("file name is not valid UTF-8: rename the file")
        data = _read(path, max_bytes)
        if not data.strip():
            raise InputError("empty: no article text")
        if _is_binary(data):
            raise InputError(_binary_reason(data))
        items, single = _parse(path, data)
        overrides = _sidecar_fields(path, max_bytes) if single else {}
    except InputError as error:
        logger.debug("skipping %s: %s", origin, error.reason)
        return [], [Skipped(origin, error.reason, error.line)]

    located: list[_Located] = []
    skipped: list[Skipped] = []
    for item in items:
        if isinstance(item, InputError):
            skipped.append(Skipped(origin, item.reason, item.line))
            continue
        draft = dataclasses.replace(item, **overrides) if overrides else item
        draft = dataclasses.replace(draft, url=web_url(draft.url))
        article_origin, skip_origin, line = _locate(path, draft)
        if not draft.text:
            skipped.append(Skipped(skip_origin, "empty: no article text", line))
            continue
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
            identity = _path_id(path, root)
        else:
            identity = "sha256:" + article.copy_hash[:16]
        located.append(_Located(dataclasses.replace(article, id=identity), skip_origin, line))
    if skipped:
        logger.debug("%s: %d item(s) skipped", origin, len(skipped))
    return located, skipped


def _load_safely(path: Path, root: Path, max_bytes: int) -> tuple[list[_Located], list[Skipped]]:
    try:
        return _load_located(path, root, max_bytes)
    except Exception as error:  # a parser bug on one odd file must not abort a whole build
        logger.debug("unexpected error loading %s", _display(path), exc_info=True)
        return [], [Skipped(_display(path), f"unexpected error: {type(error).__name__}: {error}")]


def load_file(path: Path, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[list[Article], list[Skipped]]:
    """The articles in one file (several for JSON Lines, JSON arrays and feeds), and what was skipped.

    Never raises for bad input. Duplicates are not checked here: :func:`load` does that across files.
    """
    located, skipped = _load_safely(Path(path), Path(root), max_bytes)
    return [item.article for item in located], skipped


def load(paths: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Loaded:
    """Every article the inputs hold, each once; duplicates by text or id are skipped, keeping the first."""
    pairs, skipped = discover(paths)
    articles: list[Article] = []
    files: list[Path] = []
    first_by_copy: dict[str, str] = {}
    ids: set[str] = set()
    for root, path in pairs:
        files.append(path.resolve())
        located, file_skipped = _load_safely(path, root, max_bytes)
        skipped.extend(file_skipped)
        for item in located:
            article = item.article
            first = first_by_copy.get(article.copy_hash)
            if first is not None:
                skipped.append(Skipped(item.origin, f"duplicate of {first}", item.line))
            elif article.id in ids:
                skipped.append(Skipped(item.origin, f"duplicate id {article.id}", item.line))
            else:
                first_by_copy[article.copy_hash] = article.id
                ids.add(article.id)
                articles.append(article)
    logger.debug("loaded %d article(s) from %d file(s), skipped %d", len(articles), len(files), len(skipped))
    return Loaded(articles=articles, skipped=skipped, files=files)

"""Bytes to text: byte-order marks, UTF-8, a page's declared charset, and telling binary files from text."""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import os
import re
import unicodedata
import zlib
from pathlib import Path

from ..errors import InputError

__all__ = [
    "SNIFF_BYTES",
    "binary_reason",
    "bom_encoding",
    "decode_article_text",
    "decode_html",
    "decode_text",
    "detect_encoding",
    "gunzip",
    "is_binary",
    "read_file",
    "too_large",
]

logger = logging.getLogger(__name__)

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
SNIFF_BYTES = 8192
_MAX_CONTROL_RATIO = 0.1
# Enough text for charset-normalizer to be sure, without scanning a whole export.
_DETECT_BYTES = 1 << 20
# charset-normalizer's "chaos" is the share of the text that looks like mojibake; above this it is a guess.
_MAX_CHAOS = 0.2


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``data`` names, or None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def is_binary(data: bytes) -> bool:
    """NUL bytes near the start mean binary, unless a BOM says the text is UTF-16/32 (full of NULs)."""
    if bom_encoding(data) in ("utf-16", "utf-32"):
        return False
    return b"\x00" in data[:SNIFF_BYTES]


def binary_reason(data: bytes) -> str:
    """Why NUL bytes mean the file is skipped; UTF-16 without a BOM gets told apart, since it is text saved oddly.

    Its NULs all fall on even or all on odd offsets (the high byte of each Latin character). Decoding it anyway
    would be a guess at byte order, which the BOM exists to settle.
    """
    sample = data[:SNIFF_BYTES]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if len(sample) >= 4 and min(even, odd) == 0 and max(even, odd) >= len(sample) // 8:
        return "binary file (or UTF-16 text without a byte-order mark: save it as UTF-8)"
    return "binary file"


def _mostly_non_text(text: str) -> bool:
    sample = text[:SNIFF_BYTES]
    if not sample:
        return False
    bad = sum(
        1
        for char in sample
        if char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\t\n\r\x0b\x0c")
    )
    return bad > len(sample) * _MAX_CONTROL_RATIO


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16/32; anything else is an error, never a guess.

    Guessing latin-1 would "succeed" on any bytes and index mojibake without a word of warning.
    """
    encoding = bom_encoding(data)
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


def text_encoding(name: str) -> str | None:
    """The codec a file's declared encoding names, if it decodes bytes to text; None otherwise.

    A page or a feed can name any of Python's codecs, and some decode nothing: base64, uu, zlib and rot13 are not
    text encodings (``bytes.decode`` refuses them with LookupError), "undefined" refuses every input.
    """
    try:
        info = codecs.lookup(name)
        b"a".decode(info.name)  # not b"": decoding nothing returns "" without asking the codec
    except (LookupError, UnicodeError):
        return None
    return info.name


def _declared_charset(data: bytes) -> str | None:
    if not (match := _META_CHARSET.search(data[:4096])):
        return None
    if (name := text_encoding(match[1].decode("ascii"))) is None:
        logger.debug("declared charset %r is not a text encoding", match[1])
        return None
    return None if name.startswith(_NOT_DECLARABLE) else name


def decode_html(data: bytes) -> str | bytes:
    """Decode by BOM, then UTF-8, then the page's declared charset; else let trafilatura guess."""
    if bom_encoding(data):
        return decode_text(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset := _declared_charset(data):
        try:
            return data.decode(charset)
        except UnicodeError:  # not only UnicodeDecodeError: punycode and idna raise their own
            logger.debug("declared charset %r does not decode the page", charset)
    return data


# Every message about a size limit names the setting that changes it.
LIMIT_SETTING = "ASSISTANT_MAX_FILE_MB"


def too_large(what: str, max_bytes: int) -> InputError:
    """The one message for an input over the size limit: what is too large, the limit, and how to raise it."""
    return InputError(f"{what} > limit {max_bytes} (raise {LIMIT_SETTING} to read it)")


def read_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``; refused unread when it is larger than ``max_bytes``."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise too_large(f"file too large: {size} bytes", max_bytes)
            data = handle.read(max_bytes + 1)  # the file may grow after the size check
    except OSError as error:
        raise InputError(error.strerror or str(error)) from None
    if len(data) > max_bytes:
        raise too_large("file too large: grew while read", max_bytes)
    return data


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """The decompressed bytes of a gzip file, at most ``max_bytes`` of them (a small file can inflate a lot)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            out = handle.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"not a readable gzip file: {error}") from None
    if len(out) > max_bytes:
        raise too_large("file too large once decompressed", max_bytes)
    return out


def detect_encoding(data: bytes) -> str | None:
    """The encoding of text that declares none and is not UTF-8, as charset-normalizer finds it; None if unsure.

    For feeds saved without an encoding declaration (KOI8-R, EUC-JP, TIS-620, windows-1255…): XML says such a
    file is UTF-8, and feedparser then falls back to windows-1252, which turns every letter into mojibake.
    """
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_DETECT_BYTES]).best()
    if best is None or best.chaos > _MAX_CHAOS:
        return None
    return codecs.lookup(best.encoding).name


def decode_article_text(data: bytes) -> str:
    """The text of an article file (see :func:`decode_text`), refused when it is mostly control characters."""
    text = decode_text(data)
    if _mostly_non_text(text):
        raise InputError("binary file")
    return text

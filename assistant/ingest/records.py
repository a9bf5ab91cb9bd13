"""JSON and JSON Lines: each record with a ``text`` field is an article; a bad record is reported by its line."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import InputError
from ..text.cleaning import clean_text
from .decoding import too_large
from .draft import Draft, Parsed, metadata_fields
from .webpage import markup_text


def _json_error(error: json.JSONDecodeError, line: int | None = None) -> InputError:
    where = f"column {error.colno}" if line is not None else f"line {error.lineno}, column {error.colno}"
    return InputError(f"malformed JSON: {error.msg} ({where})", line=line or error.lineno)


def record_to_draft(record: object, line: int | None = None) -> Draft:
    if not isinstance(record, dict):
        raise InputError("record is not a JSON object", line=line)
    text = record.get("text")
    if text is None:
        raise InputError("missing field 'text'", line=line, field="text")
    if not isinstance(text, str):
        raise InputError("field 'text' must be a string", line=line, field="text")
    warnings: list[str] = []
    try:
        fields = metadata_fields(record, warnings=warnings)
    except InputError as error:
        raise InputError(error.reason, line=line, field=error.field) from None
    # An export may hold the page's HTML as its text: it is read as HTML, never stored with its markup.
    return Draft(text=clean_text(markup_text(text)), line=line, warnings=tuple(warnings), **fields)


def _parse_record(record: object, line: int) -> Parsed:
    try:
        return record_to_draft(record, line)
    except InputError as error:
        return error


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _past_whitespace(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string, so never fails
    return match.end()


def _array_items(text: str) -> list[tuple[int, object]]:
    """Items of an already-validated JSON array with the line each starts on, for precise messages."""
    decoder = json.JSONDecoder()
    items: list[tuple[int, object]] = []
    pos = _past_whitespace(text, 0) + 1  # past "["
    line, counted = 1, 0
    while True:
        pos = _past_whitespace(text, pos)
        if text[pos] == "]":
            return items
        if text[pos] == ",":
            pos = _past_whitespace(text, pos + 1)
        line += text.count("\n", counted, pos)
        counted = pos
        value, pos = decoder.raw_decode(text, pos)
        items.append((line, value))


# json recurses once per level of nesting: "[[[[..." deeper than the interpreter's stack is a RecursionError.
_TOO_DEEP = "JSON nested too deeply to read"


def parse_json(text: str) -> Draft | list[Parsed]:
    """One object is a single article (a :class:`Draft`); an array holds records, each parsed separately."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _json_error(error) from None
    except RecursionError:
        raise InputError(_TOO_DEEP) from None
    if isinstance(data, dict):
        return record_to_draft(data)
    if isinstance(data, list):
        return [_parse_record(value, line) for line, value in _array_items(text)]
    raise InputError("JSON must be an object or an array of objects")


def _jsonl_record(line: str, number: int) -> Parsed:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return _json_error(error, number)
    except RecursionError:
        return InputError(_TOO_DEEP, line=number)
    return _parse_record(record, number)


def parse_jsonl(text: str) -> list[Parsed]:
    """One record per line; a bad line is reported and the others still load."""
    # split("\n"), not splitlines(): U+2028 inside a JSON string is not a record boundary.
    return [_jsonl_record(line, number) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


_CHUNK = 1 << 20


def stream_jsonl(handle: BinaryIO, max_bytes: int) -> Iterator[Parsed]:
    """The records of a JSON Lines file read a line at a time: memory and the size limit are per record.

    A line longer than ``max_bytes`` is skipped (and read past, not held) with a reason naming the setting.
    """
    number = 0
    found = False
    while line := handle.readline(max_bytes + 1):
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while (rest := handle.readline(_CHUNK)) and not rest.endswith(b"\n"):
                pass
            error = too_large(f"record too large: more than {max_bytes} bytes on one line", max_bytes)
            yield InputError(error.reason, line=number)
            found = True
            continue
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        if not line.strip():
            continue
        found = True
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            yield InputError(f"not valid UTF-8 at byte {error.start} of the line", line=number)
            continue
        yield _jsonl_record(text, number)
    if not found:
        raise InputError("empty: no article text")

"""JSON and JSON Lines: each record with a ``text`` field is an article; a bad record is reported by its line."""

from __future__ import annotations

import json
import re

from ..errors import InputError
from ..text.cleaning import clean_text
from .draft import Draft, Parsed, metadata_fields


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
    try:
        fields = metadata_fields(record)
    except InputError as error:
        raise InputError(error.reason, line=line, field=error.field) from None
    return Draft(text=clean_text(text), line=line, **fields)


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


def parse_jsonl(text: str) -> list[Parsed]:
    """One record per line; a bad line is reported and the others still load."""
    results: list[Parsed] = []
    # split("\n"), not splitlines(): U+2028 inside a JSON string is not a record boundary.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            results.append(_json_error(error, number))
            continue
        except RecursionError:
            results.append(InputError(_TOO_DEEP, line=number))
            continue
        results.append(_parse_record(record, number))
    return results

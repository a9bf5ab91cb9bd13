"""What the Milvus writer keeps beside the passages and articles, versioned as they are.

Each outlet's code and article count, the removals a user asked for, and the passages per stem are rows Milvus
updates in place, and they are written before the commit that publishes them. A reader of the live commit must not
see what a writer has written since, and a writer that dies must leave nothing that the next commit would publish
(a SIGKILL between these writes and the commit left outlet counts that no article matched: the crash loop of
tests/test_durability_milvus.py found it). So each such row carries the generation that wrote it (``gen``) and the
value before (``previous``): a reader of generation G takes the value when ``gen <= G``, else the previous one, and
the next writer puts back the previous value of every row a writer that died had written (``reset_unpublished``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .connection import META, TERMS, UNUSED, Connection, listed, quoted

__all__ = [
    "REMOVED",
    "SOURCE",
    "count_words",
    "counted_stems",
    "drop_forgotten",
    "meta_row",
    "meta_values",
    "reset_unpublished",
    "term_counts",
    "term_row",
    "write_side_rows",
]

SOURCE, REMOVED = "source/", "removed/"  # the keys' prefixes in the meta collection
_BATCH = 512  # stems counted per query and upsert
_QUERY_ROWS = 16_384  # the most rows Milvus answers to one query
_FORGOTTEN = '{"value": null'  # how json.dumps starts a row whose value is gone


def meta_row(key: str, value: Any, previous: Any, generation: int) -> dict[str, Any]:
    """The meta row ``key`` holding ``value`` from ``generation`` on (None: the key is gone), ``previous`` before."""
    return {
        "key": key,
        "value": json.dumps({"value": value, "previous": previous}),
        "gen": generation,
        "unused": UNUSED,
    }


def _meta_value(row: dict[str, Any], generation: int) -> Any:
    body = json.loads(row["value"])
    return body["value"] if int(row["gen"]) <= generation else body["previous"]


def meta_values(connection: Connection, prefix: str, generation: int) -> dict[str, Any]:
    """The values of the meta rows under ``prefix`` as generation ``generation`` sees them, by key (prefix off)."""
    rows = connection.query(META, f"key like {quoted(prefix + '%')}", ["key", "value", "gen"])
    found = {row["key"].removeprefix(prefix): _meta_value(row, generation) for row in rows}
    return {key: value for key, value in found.items() if value is not None}


def term_row(stem: str, count: int, previous: int, generation: int) -> dict[str, Any]:
    return {"key": stem, "df": count, "prev": previous, "gen": generation, "unused": UNUSED}


def term_counts(connection: Connection, stems: Iterable[str], generation: int) -> dict[str, int]:
    """Passages per stem as generation ``generation`` sees them (0 for a stem no passage has)."""
    wanted = sorted(set(stems))
    found: dict[str, int] = {}
    for offset in range(0, len(wanted), 1000):
        part = wanted[offset : offset + 1000]
        for row in connection.query(TERMS, f"key in {listed(part)}", ["key", "df", "prev", "gen"]):
            found[row["key"]] = int(row["df"] if int(row["gen"]) <= generation else row["prev"])
    return {stem: found.get(stem, 0) for stem in wanted}


def counted_stems(connection: Connection, generation: int) -> int:
    """How many stems generation ``generation`` counts in at least one passage.

    Milvus Lite can answer a key twice for a while after an upsert (its delete and its insert not yet compacted:
    a count of 65 rows for 63 keys, seen after a kill loop), so the keys are read and told apart when one query can
    return them all; beyond that, their count.
    """
    expr = f"(gen <= {generation} and df > 0) or (gen > {generation} and prev > 0)"
    rows = connection.count(TERMS, expr)
    if rows > _QUERY_ROWS:
        return rows
    return len({row["key"] for row in connection.query(TERMS, expr, ["key"], limit=_QUERY_ROWS)})


def write_side_rows(
    connection: Connection,
    generation: int,
    outlets: Mapping[str, tuple[Any, Any]],
    removals: Mapping[str, tuple[Any, Any]],
) -> None:
    """Write the outlets' and the removals' rows of ``generation``, each as (new value, value before): None for
    a removal undone."""
    connection.upsert(
        META,
        [meta_row(SOURCE + name, new, old, generation) for name, (new, old) in outlets.items()]
        + [meta_row(REMOVED + key, new, old, generation) for key, (new, old) in removals.items()],
    )


def count_words(connection: Connection, deltas: Mapping[str, int], base: int, generation: int) -> None:
    """Bring the passages-per-stem counts in line with a write (``deltas``: passages added per stem, or removed
    below zero), as rows of ``generation`` over the counts ``base`` published (readers weigh words by them)."""
    touched = sorted(stem for stem, delta in deltas.items() if delta)
    for offset in range(0, len(touched), _BATCH):
        part = touched[offset : offset + _BATCH]
        before = term_counts(connection, part, base)
        connection.upsert(TERMS, [term_row(s, max(0, before[s] + deltas[s]), before[s], generation) for s in part])


def reset_unpublished(connection: Connection, generation: int) -> int:
    """Put back the value at ``generation`` (the live one) of every versioned row a later, unpublished generation
    wrote: a writer died before its commit. Returns how many rows were reset."""
    reset = 0
    while rows := connection.query(META, f'gen > {generation} and key != "commit"', ["key", "value"]):
        for row in rows:
            previous = json.loads(row["value"])["previous"]
            if previous is None:
                connection.delete(META, f"key == {quoted(row['key'])}")
            else:
                connection.upsert(META, [meta_row(row["key"], previous, None, generation)])
        reset += len(rows)
    while rows := connection.query(TERMS, f"gen > {generation}", ["key", "prev"]):
        connection.upsert(TERMS, [term_row(row["key"], int(row["prev"]), 0, generation) for row in rows])
        reset += len(rows)
    return reset


def drop_forgotten(connection: Connection, generation: int) -> None:
    """Delete the rows whose value is gone as of ``generation`` (the live one): forgotten removals, stems no passage
    has any more. Nothing older than the live generation reads them."""
    connection.delete(META, f"gen <= {generation} and value like {quoted(_FORGOTTEN + '%')}")
    connection.delete(TERMS, f"gen <= {generation} and df == 0")

"""BM25 engines on the same passages: the index's own postings, tantivy, and FTS5 as the previous design used it.

    python -m bench.lexical_engines --index DIR [--data ../shared/bench/realtimeqa] [--work DIR] [--top 200]

Reads the passages (text and title) of an index built by this project (bench.scale builds them at 50k, 200k
and 1M passages), builds a tantivy index (English stemmer, text and title, title boosted 2) and an FTS5 table
(``porter unicode61 remove_diacritics 2``, ``bm25(…, 1.0, 2.0)``, rowid = chunk id) of them, then asks the 103
RealTime QA dev questions of all three: the question's rarest words (the retriever's own choice), as of the
question date (a chunk-id range), top ``--top`` passages. Prints build time and size, latency p50/p95, and BM25-only
recall@1/10 of the gold article (a copy of it counts). The index's own engine is the one the retriever uses;
the others are here to show the choice. Skips cleanly without the data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import REALTIMEQA, has_data, load_jsonl, percentile


def passages(reader: Any) -> Any:
    yield from reader.batches("SELECT c.id, a.title, c.text, a.id FROM chunks c JOIN articles a ON a.id = c.article_id")


def build_tantivy(reader: Any, folder: Path) -> tuple[Any, float]:
    import tantivy

    started = time.perf_counter()
    schema = tantivy.SchemaBuilder()
    schema.add_unsigned_field("chunk", indexed=True, fast=True, stored=False)
    schema.add_text_field("text", tokenizer_name="en_stem")
    schema.add_text_field("title", tokenizer_name="en_stem")
    built = schema.build()
    folder.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(built, path=str(folder), reuse=False)
    writer = index.writer(heap_size=256_000_000, num_threads=2)
    for batch in passages(reader):
        for chunk_id, title, text, _ in batch:
            doc = tantivy.Document()
            doc.add_unsigned("chunk", chunk_id)
            doc.add_text("text", text)
            doc.add_text("title", title)
            writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index, time.perf_counter() - started


def build_fts5(reader: Any, path: Path) -> tuple[sqlite3.Connection, float]:
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    tokenizer = "porter unicode61 remove_diacritics 2"
    db.execute(f"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, title, tokenize = '{tokenizer}')")
    for batch in passages(reader):
        rows = [(chunk, text, title) for chunk, title, text, _ in batch]
        db.executemany("INSERT INTO chunks_fts (rowid, text, title) VALUES (?,?,?)", rows)
    db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
    db.commit()
    return db, time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--work", type=Path, help="Where the tantivy and FTS5 indexes are built (default: beside).")
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--engines", default="ours,tantivy,fts5")
    args = parser.parse_args(argv)
    if not has_data(args.data, REALTIMEQA, ["queries_dev.jsonl"]):  # the passages come from the index
        return 0
    import tantivy

    from assistant import get_settings
    from assistant.index.analyzer import analyze
    from assistant.index.candidates import Window
    from assistant.index.ids import day_range
    from assistant.index.local import search
    from assistant.index.local.postings import term_hash
    from assistant.index.local.reader import IndexReader
    from assistant.retrieve.words import selective_terms
    from assistant.text.terms import query_terms

    settings = get_settings()
    reader = IndexReader.open(args.index)
    reader.verify()
    work = args.work or args.index.parent
    questions = load_jsonl(args.data / "queries_dev.jsonl")
    article_of: dict[int, str] = {}
    engines = args.engines.split(",")
    tantivy_index = fts = None
    built: dict[str, tuple[float, int]] = {}
    if "tantivy" in engines:
        tantivy_index, seconds = build_tantivy(reader, work / f"{args.index.name}.tantivy")
        size = sum(p.stat().st_size for p in (work / f"{args.index.name}.tantivy").rglob("*") if p.is_file())
        built["tantivy"] = (seconds, size)
    if "fts5" in engines:
        fts, seconds = build_fts5(reader, work / f"{args.index.name}.fts5.sqlite")
        built["fts5"] = (seconds, (work / f"{args.index.name}.fts5.sqlite").stat().st_size)
    timings: dict[str, list[float]] = {engine: [] for engine in engines}
    ranked: dict[str, list[list[int]]] = {engine: [] for engine in engines}
    for q in questions:
        words = selective_terms(reader, query_terms(q["question"]), settings.bm25_max_df, settings.bm25_max_terms)
        high = day_range(None, dt.date.fromisoformat(q["question_date"]).isoformat())[1]
        for engine in engines:
            started = time.perf_counter()
            if engine == "ours":
                hashes = list(dict.fromkeys(term_hash(t) for w in words for t in analyze(w)))
                found = search.lexical(reader.lives, hashes, args.top, Window(0, high), None, reader.average_length)
                ids = found.ids.tolist()
            elif engine == "tantivy":
                assert tantivy_index is not None
                schema = tantivy_index.schema
                # Title words count double, as in the index's own engine and in FTS5's bm25(…, 1.0, 2.0).
                should = [
                    (tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.term_query(schema, field, t), boost))
                    for w in words
                    for t in analyze(w)
                    for field, boost in (("text", 1.0), ("title", 2.0))
                ]
                query = tantivy.Query.boolean_query(
                    [
                        (tantivy.Occur.Must, tantivy.Query.boolean_query(should)),
                        (
                            tantivy.Occur.Must,
                            tantivy.Query.range_query(schema, "chunk", tantivy.FieldType.Unsigned, 0, high - 1),
                        ),
                    ]
                )
                searcher = tantivy_index.searcher()
                hits = searcher.search(query, args.top).hits
                ids = [int(v) for v in searcher.fast_field_values("chunk", [address for _, address in hits])]
            else:
                assert fts is not None
                match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
                ids = [
                    row[0]
                    for row in fts.execute(
                        "SELECT rowid, -bm25(chunks_fts, 1.0, 2.0) AS score FROM chunks_fts WHERE chunks_fts MATCH ? "
                        "AND rowid >= 0 AND rowid < ? ORDER BY score DESC LIMIT ?",
                        (match, high, args.top),
                    )
                ] if match else []  # fmt: skip
            timings[engine].append(time.perf_counter() - started)
            ranked[engine].append(ids)
    needed = {i for lists in ranked.values() for ids in lists for i in ids[:50]}
    for batch in passages(reader):
        for chunk_id, _, _, article in batch:
            if chunk_id in needed:
                article_of[chunk_id] = article.split("~")[0]
    print(f"{reader.chunk_count} passages; top {args.top}; 103 dev questions as of their date")
    print("| engine | build s | size MB | p50 ms | p95 ms | BM25 recall@1 | recall@10 |")
    print("|---|---|---|---|---|---|---|")
    for engine in engines:
        recall = {}
        for k in (1, 10):
            hits = []
            for q, ids in zip(questions, ranked[engine], strict=True):
                articles = list(dict.fromkeys(article_of[i] for i in ids if i in article_of))[:k]
                hits.append(bool(set(articles) & set(q["evidence"])))
            recall[k] = statistics.fmean(hits)
        seconds, size = built.get(engine, (float("nan"), 0))
        print(
            f"| {engine} | {seconds:.1f} | {size / 1e6:.0f} | {1000 * percentile(timings[engine], 0.5):.1f} | "
            f"{1000 * percentile(timings[engine], 0.95):.1f} | {recall[1]:.3f} | {recall[10]:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The scale benchmark's corpus and vectors (``python -m bench.scale``): RealTime QA replicated to any number of
passages, and the real model's vectors of its unique passages replayed, with noise, for the copies.

Copy ``c`` of an article gets the id ``ID~c``, a date ``c`` weeks earlier, and the word ``(copy c)`` added to its
title; its passages get their original's vector plus seeded Gaussian noise (sigma ``SIGMA`` per dimension, about
cosine 0.98), renormalised. Vectors are cached in the work folder, so a build measures the store, not the model.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SIGMA = 0.01
COPY = re.compile(r"^(.*) \(copy (\d+)\)$")


def key(text: str) -> int:
    import xxhash

    return int(xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass")))


def articles_of(path: Path) -> list[Any]:
    """The articles the index would read from a JSON Lines file (cleaned, as the pipeline cleans them)."""
    from assistant.ingest.loading import load_file

    articles, _ = load_file(path, path.parent, max_bytes=1 << 30)
    return articles


def write_corpus(records: list[dict[str, Any]], copies: int, folder: Path, last: int | None = None) -> Path:
    """``copies`` copies of the corpus as JSON Lines files, one per copy (copy 0 is the original); the last one
    holds only the first ``last`` articles when given (``copy-NNNN-M.jsonl``), to reach an exact size."""
    folder.mkdir(parents=True, exist_ok=True)
    for c in range(copies):
        part = last if last is not None and c == copies - 1 else None
        path = folder / (f"copy-{c:04d}.jsonl" if part is None else f"copy-{c:04d}-{part}.jsonl")
        if path.exists():
            continue
        with path.open("w", encoding="utf-8") as out:
            for r in records[:part]:
                record = {k: r[k] for k in ("id", "title", "text", "source", "date", "url") if r.get(k)}
                if c:
                    record["id"] = f"{r['id']}~{c}"
                    record["title"] = f"{r['title']} (copy {c})"
                    if r.get("date"):
                        record["date"] = (dt.date.fromisoformat(r["date"][:10]) - dt.timedelta(weeks=c)).isoformat()
                out.write(json.dumps(record) + "\n")
    return folder


class Replay:
    """The real model's vectors of the unique passages, replayed; a copy's passage gets its original's plus noise."""

    name = "all-MiniLM-L6-v2 (replayed)"
    dimension = 384

    def __init__(self, work: Path) -> None:
        self.keys = np.load(work / "vectors.keys.npy")
        self.matrix = np.load(work / "vectors.npy", mmap_mode="r")
        self.identity = f"replayed-minilm@{len(self.keys)}"
        self.index = {int(k): i for i, k in enumerate(self.keys)}
        self.missing = 0
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            title, newline, body = text.partition("\n")
            match = COPY.match(title)
            original = f"{match.group(1)}{newline}{body}" if match else text
            at = self.index.get(key(original))
            if at is None:  # not a passage of the corpus (the article a benchmark adds): a seeded random vector
                self.missing += 1
                vector = np.random.default_rng(key(text)).standard_normal(self.dimension)
            else:
                vector = np.asarray(self.matrix[at], dtype=np.float64)
                if match:
                    noise = np.random.default_rng([key(original), int(match.group(2))]).standard_normal(self.dimension)
                    vector = vector + SIGMA * noise
            out[i] = vector / np.linalg.norm(vector)
        self.seconds += time.perf_counter() - started
        return out


def real_vectors(original: Path, work: Path) -> list[int]:
    """Cache the real model's vector of every unique passage (title and text, as the index embeds them); returns
    the number of passages of each article of one copy of the corpus."""
    from assistant.indexing.chunking import chunk_article, embedding_text

    articles = [(a, chunk_article(a)) for a in articles_of(original)]
    passages = [embedding_text(a.title, c.text) for a, chunks in articles for c in chunks]
    counts = [len(chunks) for _, chunks in articles]
    if (work / "vectors.npy").exists():
        return counts
    from assistant.embed.factory import load_embedder

    texts = sorted(set(passages))
    print(f"embedding {len(texts)} unique passages with the real model (once)", file=sys.stderr)
    vectors = load_embedder(None, batch_size=64).embed(texts)
    np.save(work / "vectors.keys.npy", np.array([key(t) for t in texts], dtype=np.uint64))
    np.save(work / "vectors.npy", vectors)
    return counts


def query_vectors(questions: list[dict[str, Any]], work: Path) -> np.ndarray:
    path = work / "questions.npy"
    if not path.exists():
        from assistant.embed.factory import load_embedder

        np.save(path, load_embedder(None).embed([q["question"] for q in questions]))
    return np.load(path)

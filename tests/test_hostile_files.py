"""Hostile input, big files (slow): a 50 MB file is refused by its size without being read, and with a raised
limit a 50 MB text, JSON Lines or HTML file is indexed in memory bounded per megabyte of file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hostile_corpus import MB, prose
from processes import measured_cli


def _fifty_megabytes(path: Path, kind: str) -> Path:
    """About 50 MB of ordinary news prose as one article (txt, html) or 100,000 records (jsonl)."""
    rng = random.Random(50)
    target = 50 * MB - 4096

    def paragraphs():
        written = 0
        for n in range(10**9):
            paragraph = " ".join(prose(rng, f"p{n}"))
            written += len(paragraph) + 9
            if written > target:
                return
            yield n, paragraph

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        if kind == "txt":
            out.write("Fifty megabytes of news\n")
            out.writelines(f"\n{paragraph}\n" for _, paragraph in paragraphs())
        elif kind == "jsonl":
            out.writelines(json.dumps({"id": f"r{n}", "text": paragraph}) + "\n" for n, paragraph in paragraphs())
        else:
            out.write("<html><head><title>Fifty megabytes</title></head><body><article><h1>Fifty megabytes</h1>")
            out.writelines(f"<p>{paragraph}</p>" for _, paragraph in paragraphs())
            out.write("</article></body></html>")
    return path


@pytest.mark.slow
def test_fifty_megabyte_file_is_refused_by_default(tmp_path: Path, baseline_rss: float) -> None:
    corpus = tmp_path / "corpus"
    big = _fifty_megabytes(corpus / "fifty.txt", "txt")
    (corpus / "small.txt").write_text("Small story\n\n" + " ".join(prose(random.Random(2), "small")), "utf-8")
    run = measured_cli(tmp_path, "index", "build", corpus, "--index", tmp_path / "idx", "--json")
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    size = big.stat().st_size
    print(f"50 MB file, default limit: peak RSS {run.peak_mb:.0f} MB (baseline {baseline_rss:.0f} MB)")
    assert summary["articles"] == 1
    assert summary["skipped"] == [
        {
            "origin": str(big),
            "line": None,
            "reason": f"file too large: {size} bytes > limit {20 * MB} (raise ASSISTANT_MAX_FILE_MB to read it)",
        }
    ]
    assert run.peak_mb < baseline_rss + 40  # refused by its size: never read


# Peak RSS above the baseline, per MB of file, with ASSISTANT_MAX_FILE_MB=64. Measured for 50 MB: txt +313 MB (the
# bytes, the decoded and cleaned text, the article, then chunk and embedding texts of 105,000 passages), jsonl
# +252 MB (100,000 small articles), html +1,150 MB (trafilatura's trees: fast=True halves it, at the cost of its
# fallback extractors). With the default 20 MB limit the same ratios bound any single file.
RAISED_LIMIT_PER_MB = {"txt": 8, "jsonl": 8, "html": 28}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(RAISED_LIMIT_PER_MB))
def test_fifty_megabyte_file_with_a_raised_limit_is_indexed_in_bounded_memory(
    tmp_path: Path, baseline_rss: float, kind: str
) -> None:
    big = _fifty_megabytes(tmp_path / "corpus" / f"fifty.{kind}", kind)
    size_mb = big.stat().st_size / MB
    run = measured_cli(
        tmp_path, "index", "build", big.parent, "--index", tmp_path / "idx", "--json", ASSISTANT_MAX_FILE_MB="64"
    )
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    bound = baseline_rss + RAISED_LIMIT_PER_MB[kind] * size_mb
    print(
        f"{size_mb:.1f} MB {kind}, limit 64 MB: {summary['articles']} articles, {summary['chunks']} chunks, "
        f"peak RSS {run.peak_mb:.0f} MB (baseline {baseline_rss:.0f} MB, bound {bound:.0f} MB)"
    )
    assert summary["skipped"] == [] and summary["articles"] >= 1 and summary["chunks"] > 50_000
    assert run.peak_mb < bound

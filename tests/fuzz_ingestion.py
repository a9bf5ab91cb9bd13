"""Coverage-guided fuzzing of ingestion with atheris: any bytes, saved as any supported file type, either load as
clean articles or are skipped with a reason naming the file. Anything else is a crash.

    python tests/fuzz_ingestion.py -max_total_time=60            # seeds itself with one valid sample per format
    python tests/fuzz_ingestion.py -max_total_time=60 CORPUS_DIR  # libFuzzer options and corpus folders as usual

The first input byte picks the file suffix (and, with its top bit, whether part of the input becomes a
``.meta.json`` sidecar, or for ``.html.gz`` whether the rest is the gzip file itself rather than the page it holds);
the rest is the file. ``load_file`` never raises by contract, so a crash here is one of:
an exception escaping it, a skip through its catch-all ("unexpected error", a parser bug it swallowed), a skip
that does not name the file, or an article whose text, metadata or chunks break the promises the index relies on
(no control or invisible characters, UTF-8 encodable, offsets that map back).
"""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import sys
import tempfile
import unicodedata
from pathlib import Path

import atheris

# Coverage guidance needs the code under test instrumented as it is imported. The third-party parsers are included
# because most of the interesting branches (bad feeds, odd front matter, dates) live in them; lxml and json's
# decoder are C and run uninstrumented.
with atheris.instrument_imports(include=["assistant", "feedparser", "frontmatter", "yaml", "dateutil"]):
    from assistant.indexing.chunking import chunk_article
    from assistant.ingest.formats import SUPPORTED_SUFFIXES
    from assistant.ingest.loading import load_file

SUFFIXES = sorted(SUPPORTED_SUFFIXES)
MAX_BYTES = 1 << 20
_SINGLE_ARTICLE = {".txt", ".md", ".markdown", ".html", ".htm", ".json"}

_workdir = Path(tempfile.mkdtemp(prefix="fuzz-ingestion-"))
atexit.register(shutil.rmtree, _workdir, ignore_errors=True)


def _bad_text_char(char: str) -> bool:
    return char != "\n" and unicodedata.category(char) in ("Cc", "Cf", "Cs")


def _bad_raw_char(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Cs")


def check(data: bytes) -> None:
    """Ingest ``data`` as a file; raise AssertionError on anything but articles or named skips."""
    if not data:
        return
    selector, body = data[0], data[1:]
    suffix = SUFFIXES[selector % len(SUFFIXES)]
    path = _workdir / f"article{suffix}"
    sidecar = _workdir / "article.meta.json"
    sidecar.unlink(missing_ok=True)
    if suffix == ".html.gz" and not selector & 0x80:
        # The page inside is what is fuzzed (a mutated gzip stream mostly fails its CRC); with the top bit, the bytes
        # are the file as they are, for the gzip reader.
        body = gzip.compress(body, mtime=0)
    if selector & 0x80 and suffix in _SINGLE_ARTICLE and body:
        cut = body[0] * len(body) // 256  # the second byte says how much of the rest is the article
        body, meta = body[1 : cut + 1], body[cut + 1 :]
        sidecar.write_bytes(meta)
    path.write_bytes(body)

    articles, skipped = load_file(path, _workdir, max_bytes=MAX_BYTES)

    for item in skipped:
        assert item.origin.startswith(str(path)), f"skip does not name the file: {item}"
        assert item.reason and "\n" not in item.reason, f"bad reason: {item.reason!r}"
        assert not item.reason.startswith("unexpected error"), f"a parser crashed: {item.reason}"
    for article in articles:
        assert article.text and article.title, article
        for value in (article.title, article.text, article.source or "", article.author or ""):
            assert not any(_bad_text_char(char) for char in value), f"unclean text: {value[:200]!r}"
        for value in (article.id, article.url or "", article.origin or ""):
            assert not any(_bad_raw_char(char) for char in value), f"unprintable identifier: {value[:200]!r}"
        assert article.content_hash and article.copy_hash  # both encode the text as UTF-8
        for chunk in chunk_article(article, size=200, overlap=30):
            assert article.text[chunk.start : chunk.end] == chunk.text


def TestOneInput(data: bytes) -> None:
    check(data)


SEEDS: dict[str, bytes] = {
    ".txt": b"River rises\n\nThe river rose by three metres overnight, officials said on Tuesday.\n",
    ".md": b"---\ntitle: Budget passes\ndate: 2024-03-05\nsource: Finance Daily\n---\n\n# Budget passes\n\n"
    b"The council approved the budget. ![chart](https://x.example/c.png)\n| a | b |\n",
    ".markdown": b"# Festival opens\n\nCrowds gathered in the square as the festival opened.\n",
    ".html": b"<html><head><title>Bridge opens</title><meta charset='utf-8'><script>var x = 1;</script></head>"
    b"<body><article><h1>Bridge opens</h1><p onclick='f()'>The new bridge opened to traffic on Monday after two "
    b"years of work, the city said. <a href='javascript:f()'>More</a></p></article></body></html>",
    ".htm": b"<html><body><p>Rain is forecast for the whole weekend across the north of the country.</p></body></html>",
    ".xhtml": b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Dam</title>'
    b"</head><body><p>Engineers inspected the dam after the heavy rain, the water board said.</p></body></html>",
    # The page, gzipped by check().
    ".html.gz": b"<html><body><p>Snow closed the pass road on Friday, police said.</p></body></html>",
    ".json": b'{"id": "a1", "title": "Harbour", "text": "Ships docked at the harbour.", "date": "2024-02-01", '
    b'"url": "https://news.example/a1", "author": ["A", "B"]}',
    ".jsonl": b'{"text": "First record about the museum."}\n{"text": "Second record", "date": "2024"}\nnot json\n',
    ".rss": b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><item><title>Rates</title>'
    b"<link>https://news.example/r</link><pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate><description>"
    b"&lt;p&gt;The bank raised rates.&lt;script&gt;x()&lt;/script&gt;&lt;/p&gt;</description></item></channel></rss>",
    ".atom": b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Wire</title>'
    b'<entry><title>Cup final</title><id>urn:x:1</id><updated>2024-02-20T12:00:00Z</updated><content type="html">'
    b"&lt;p&gt;The club won the cup final.&lt;/p&gt;</content></entry></feed>",
    ".xml": b'<rss version="2.0"><channel><title>W</title><item><description>Lava flowed.</description></item>'
    b"</channel></rss>",
}


def write_seeds(folder: Path) -> Path:
    """One valid sample per suffix, prefixed by the selector byte that picks that suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, body in SEEDS.items():
        (folder / f"seed{suffix}").write_bytes(bytes([SUFFIXES.index(suffix)]) + body)
    return folder


def main(argv: list[str]) -> None:
    if not any(not arg.startswith("-") for arg in argv[1:]):
        argv = [*argv, str(write_seeds(_workdir / "seeds"))]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main(sys.argv)

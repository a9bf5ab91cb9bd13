"""Hostile input found by fuzzing: the inputs the fuzzer once crashed ingestion with, and (slow) a fresh run of
the coverage-guided fuzzer itself, tests/fuzz_ingestion.py, for three minutes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import MB
from processes import TESTS, child_env

# Inputs the fuzzer (tests/fuzz_ingestion.py) reduced from crashes, each once skipped as "unexpected error" (a
# parser exception caught by load_file's safety net) and the article lost.
FUZZ_FINDINGS = {
    # lxml accepted a control character when parsing the feed's HTML, then refused it in a tree: ValueError.
    "control-in-feed-html.rss": (
        b'<rss version="2.0"><channel><title>W</title><item><title>T</title><description>&lt;p&gt;bank \x1b raised'
        b"&lt;/p&gt;</description></item></channel></rss>",
        "bank raised",
    ),
    # feedparser decodes the declared encoding's name as UTF-8: UnicodeDecodeError.
    "encoding-name.atom": (b'<?xml version="1.0" encoding="ut\xe6-8"?><feed/>', None),
    # feedparser's loose parser, on a <link> it had not opened: KeyError.
    "mangled-link.rss": (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><item><title>Rates</title><link>'
        b"https://news.exGMT</pubDate>></item>c</hannel:x:1</id>title>Wire</titl" + b"\xff" * 50 + b"mple/r</link>"
        b"<pubDate>Tue, 05 Ma bank raised rates.&lt;script&gt;xss>",
        None,
    ),
    # YAML's timestamp type refuses an impossible day: ValueError.
    "impossible-day.md": (b"---\ntitle: Budget\ndate: 2024-03-00\n---\n\nThe council approved it.", "approved"),
    # A page declaring a codec that is not a text encoding: LookupError from bytes.decode (found on CI).
    "charset-uu.html": (
        b"<html><head><title>Bridge opens</title><meta charset=uu>\xe3</head><body><article><p>The new bridge opened"
        b" to traffic on Monday after two years of work, the city said.</p></article></body></html>",
        "bridge opened",
    ),
    # Markup in a JSON Lines record with two <body> elements: lxml's fragment parser asserts one: AssertionError.
    "two-bodies.jsonl": (
        b'{"text": "Seconout th<meXta charsetri)ay, `olice said.</p></body></hgml>ml><body><pthee museum."}\n',
        "Seconout",  # libxml2 keeps what comes before the stray tags; the rest is markup it drops
    ),
    # dateutil's Decimal seconds: decimal.InvalidOperation.
    "decimal-date.json": (b'{"text": "Ships docked.", "date": "2024222222:' + b"2" * 32 + b'01"}', "docked"),
}


@pytest.mark.parametrize("name", FUZZ_FINDINGS)
def test_fuzz_findings_load_or_are_skipped_with_a_reason(tmp_path: Path, name: str) -> None:
    from assistant.ingest.loading import load_file

    data, words = FUZZ_FINDINGS[name]
    path = tmp_path / name
    path.write_bytes(data)
    articles, skipped = load_file(path, tmp_path, max_bytes=MB)
    assert not [item for item in skipped if item.reason.startswith("unexpected error")], skipped
    if words is None:
        assert not articles and skipped and skipped[0].origin == str(path)
    else:
        assert [article.date for article in articles] == [None] and words in articles[0].text


FUZZ_SECONDS = 180


@pytest.mark.slow
def test_fuzz_ingestion_finds_no_crash(tmp_path: Path) -> None:
    """Runs tests/fuzz_ingestion.py for FUZZ_SECONDS from its valid samples; any crash fails the test."""
    command = [
        sys.executable,
        str(TESTS / "fuzz_ingestion.py"),
        f"-max_total_time={FUZZ_SECONDS}",
        "-timeout=30",  # one input taking this long is reported as a crash: unbounded work counts as a failure
        "-rss_limit_mb=2048",
        f"-artifact_prefix={tmp_path}/",
    ]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=child_env(PYTHONIOENCODING="utf-8"),
        timeout=FUZZ_SECONDS + 300,
        cwd=tmp_path,
    )
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    coverage = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", proc.stderr)
    crashes = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(("crash-", "timeout-", "oom-")))
    print(
        f"fuzzing: {done[1] if done else '?'} executions in {done[2] if done else '?'} s, {len(crashes)} crashes; "
        f"final coverage {coverage[-1] if coverage else '?'} (edges, features, corpus inputs)"
    )
    # atheris prints the Python traceback to stdout and libFuzzer's summary to stderr; the failure message carries
    # both and each saved input, so a crash on CI can be reproduced without the machine it ran on.
    found = "".join(f"\n{name}: {(tmp_path / name).read_bytes()[:2000]!r}" for name in crashes)
    assert proc.returncode == 0 and not crashes, f"{proc.stdout[-4000:]}\n{proc.stderr[-1500:]}{found}"
    assert done and int(done[1]) > 0

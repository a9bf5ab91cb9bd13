"""Hostile input: articles built to inject, hide, crash or bloat a build, and questions built to break answering.

The corpus test runs a real ``assistant index build`` in a child process (a fake embedder stands in for the model)
and holds it to what the issue asks: every hostile file is either cleaned (no script or handler text, no control,
zero-width or bidi characters in what is indexed) or skipped with a reason naming it (and the line, for JSON Lines);
nothing crashes the build; peak memory stays under a stated bound. Long runs (50 MB files, 180 s of fuzzing) are
marked slow.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, news_corpus
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from assistant import build_index
from assistant.answer.assistant import Assistant
from assistant.documents import Article
from assistant.errors import ConfigError
from assistant.index.chunking import chunk_article, chunk_id, passages
from assistant.index.integrity import check_index as verify
from assistant.index.reader import IndexReader
from assistant.settings import Settings
from assistant.text.cleaning import clean_inline, clean_text, strip_unprintable

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
MB = 1024 * 1024


class StrictEmbedder(FakeEmbedder):
    """The FakeEmbedder, refusing what the real model's tokenizer refuses: text that is not valid Unicode.

    A lone surrogate reaching the packaged model raises TypeError in the tokenizer (a traceback from `assistant
    ask`, checked by hand); the FakeEmbedder alone would silently skip it as a non-word.
    """

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            text.encode("utf-8")
        return super().embed(texts)


# Runs the real CLI with the StrictEmbedder in place of the model, so a build measures ingestion, not torch.
DRIVER = """
import os

from conftest import FakeEmbedder


class StrictEmbedder(FakeEmbedder):
    def embed(self, texts):
        for text in texts:
            text.encode("utf-8")
        vectors = super().embed(texts)
        self.calls.clear()  # the FakeEmbedder keeps every text it saw; a real model does not
        return vectors


os.environ["ASSISTANT_EMBEDDER"] = "__main__:StrictEmbedder"

from assistant.cli import main

main()
"""

# A fresh parent per measurement: RUSAGE_CHILDREN of the test process would also count every earlier child.
RSS_WRAPPER = """
import resource
import subprocess
import sys

code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))  # KiB on Linux
sys.exit(code)
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ASSISTANT_PROGRESS="false", PYTHONIOENCODING="utf-8")
    env.update(extra)
    return env


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_mb: float


def run_cli(tmp: Path, *args: str | bytes | Path, timeout: float = 600, **env: str) -> Run:
    """``assistant ARGS`` in a child process with the FakeEmbedder; its peak RSS measured by a fresh parent."""
    driver = tmp / "driver.py"
    wrapper = tmp / "rss_wrapper.py"
    driver.write_text(DRIVER, encoding="utf-8")
    wrapper.write_text(RSS_WRAPPER, encoding="utf-8")
    rss_file = tmp / "peak-rss.txt"
    command = [sys.executable, str(wrapper), str(rss_file), sys.executable, str(driver), *map(_arg, args)]
    proc = subprocess.run(command, capture_output=True, env=_env(**env), timeout=timeout, cwd=tmp)
    peak = int(rss_file.read_text()) / 1024 if rss_file.exists() else float("nan")
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"), peak)


def _arg(value: str | bytes | Path) -> str | bytes:
    return value if isinstance(value, str | bytes) else str(value)


def display(path: Path) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


# -- the hostile corpus ----------------------------------------------------------------------------------------

INDEXED, SKIPPED, PARTIAL, EITHER = "indexed", "skipped", "indexed with skipped records", "indexed or skipped"

# Every piece of active content carries "zqevil"; none of it may reach the index.
ACTIVE = [
    '<script>document.write("zqevil-script")</script>',
    '<script type="text/javascript">/*<![CDATA[*/ var zqevil = "cdata"; /*]]>*/</script>',
    '<SCRIPT SRC="https://evil.example/zqevil.js"></SCRIPT>',
    "<img src=x onerror=\"alert('zqevil-onerror')\">",
    "<svg onload=\"alert('zqevil-svgload')\"><script>alert('zqevil-svgscript')</script></svg>",
    "<iframe src=\"javascript:alert('zqevil-iframe')\"></iframe>",
    "<iframe srcdoc=\"<script>alert('zqevil-srcdoc')</script>\"></iframe>",
    '<style>body { background: url("javascript:zqevil-style") }</style>',
    '<object data="javascript:zqevil-object"></object><embed src="zqevil-embed.swf">',
    '<meta http-equiv="refresh" content="0;url=javascript:zqevil-refresh">',
    '<form action="javascript:zqevil-form"><input type="hidden" value="zqevil-input"></form>',
    "<math><mtext><script>zqevil-math</script></mtext></math>",
    "<!-- <script>zqevil-comment</script> -->",
    '<noscript><img src=x onerror="zqevil-noscript"></noscript>',
    "<template><script>zqevil-template</script></template>",
    '<link rel="stylesheet" href="javascript:zqevil-link">',
]
# Active content wrapped around text a reader does see; the text stays, the code goes.
ACTIVE_AROUND = [
    "<p onclick=\"alert('zqevil-onclick')\">{text}</p>",
    "<p><a href=\"javascript:alert('zqevil-jslink')\">{text}</a></p>",
    '<p><a href="JaVaScRiPt:zqevil-mixedcase()">{text}</a></p>',
    '<p><a href="&#106;avascript:zqevil-entity()">{text}</a></p>',
    '<div onmouseover="zqevil-mouseover()"><p>{text}</p></div>',
    '<p style="background:url(javascript:zqevil-inline-style)">{text}</p>',
]
FORBIDDEN_TEXT = ("zqevil", "javascript:", "<script", "onerror", "onclick", "onload")

WORDS = [
    *("harbour", "council", "river", "bridge", "budget", "school", "hospital", "election", "festival", "museum"),
    *("railway", "market", "farmers", "minister", "storm", "airport", "factory", "library", "orchestra", "stadium"),
    *("vaccine", "reservoir", "tram", "ferry"),
]


def prose(rng: random.Random, tag: str, sentences: int = 6) -> list[str]:
    """Plain news sentences; ``tag`` makes the article unique, so no two files are copies."""
    out = []
    for number in range(sentences):
        first, second, third = rng.sample(WORDS, 3)
        out.append(
            f"The {first} report {tag} said {rng.randint(2, 900)} {second} staff met the {third} board on "
            f"Tuesday, officials confirmed in statement {number} of the week."
        )
    return out


def _page(title: str, body: str, head: str = "", charset: str = "utf-8") -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='{charset}'><title>{title}</title>{head}</head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


def _rss(items: list[str], title: str = "Wire", declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return f'{declaration}<rss version="2.0"><channel><title>{title}</title>{"".join(items)}</channel></rss>'


def _item(title: str, description: str, link: str = "", guid: str = "") -> str:
    extra = (f"<link>{link}</link>" if link else "") + (f"<guid>{guid}</guid>" if guid else "")
    return f"<item><title>{title}</title>{extra}<description>{description}</description></item>"


class Corpus:
    """Writes files and remembers, per file, its category and what must become of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.expected: dict[Path, tuple[str, str]] = {}
        self.tokens: dict[Path, str] = {}  # a word each cleaned file must still contain
        self.reasons: dict[Path, str] = {}  # what a skip of the file must say

    def add(
        self, category: str, name: str | bytes, content: str | bytes, expect: str, token: str = "", reason: str = ""
    ) -> Path:
        folder = os.fsencode(self.root / category)
        path = Path(os.fsdecode(os.path.join(folder, os.fsencode(name))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        self.expected[path] = (category, expect)
        if token:
            self.tokens[path] = token
        if reason:
            self.reasons[path] = reason
        return path

    def counts(self) -> dict[str, int]:
        return dict(Counter(category for category, _ in self.expected.values()))


def build_hostile_corpus(root: Path) -> Corpus:
    rng = random.Random(20240607)
    corpus = Corpus(root)
    _active_html(corpus, rng)
    _active_feeds(corpus, rng)
    _invisible_characters(corpus, rng)
    _encodings(corpus, rng)
    _binary(corpus, rng)
    _deep_nesting(corpus, rng)
    _malformed(corpus, rng)
    _regex_bombs(corpus, rng)
    _huge(corpus, rng)
    _odd_names(corpus, rng)
    return corpus


def _active_html(corpus: Corpus, rng: random.Random) -> None:
    for n in range(24):
        token = f"htmlsafe{n}"
        sentences = prose(rng, token)
        parts: list[str] = []
        for i, sentence in enumerate(sentences):
            parts.append(rng.choice(ACTIVE_AROUND).format(text=sentence) if i % 2 else f"<p>{sentence}</p>")
            parts.extend(rng.sample(ACTIVE, 3))
        head = "".join(rng.sample(ACTIVE, 2))
        body = "".join(parts)
        if n % 6 == 5:
            body += "<script>var zqevil_unclosed = 1;"  # an unclosed script swallows the rest of the page
        if n % 6 == 4:
            body = body.upper().replace(token.upper(), token)  # <SCRIPT>, ONERROR=, JAVASCRIPT: in capitals
        page = _page(f"Hostile page {n}", body, head).replace("<body>", f'<body onload="zqevil{n}()">')
        corpus.add("html-active-content", f"page{n}.html" if n % 3 else f"page{n}.htm", page, INDEXED, token)


def _active_feeds(corpus: Corpus, rng: random.Random) -> None:
    for n in range(12):
        token = f"feedsafe{n}"
        fragment = "".join(
            f"<p>{sentence}</p>" + "".join(rng.sample(ACTIVE, 2)) + rng.choice(ACTIVE_AROUND).format(text="more")
            for sentence in prose(rng, token, 3)
        )
        title = html.escape(f'<b onclick="zqevil()">Feed story {n}</b><script>zqevil()</script>')
        description = f"<![CDATA[{fragment}]]>" if n % 2 else html.escape(fragment)
        if n % 3 == 2:
            atom = (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom wire</title>'
                f'<entry><title type="html">{title}</title><id>urn:x:{n}</id><link href="javascript:zqevil()"/>'
                f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>{prose(rng, token, 1)[0]}</p>'
                f'<script>zqevil()</script><p onclick="zqevil()">clicked</p></div></content></entry></feed>'
            )
            corpus.add("feed-active-content", f"feed{n}.atom", atom, INDEXED, token)
        else:
            item = _item(title, description, link="javascript:alert('zqevil')", guid=f"javascript:zqevil{n}")
            name = f"feed{n}.rss" if n % 2 else f"feed{n}.xml"
            corpus.add("feed-active-content", name, _rss([item]), INDEXED, token)


FORMAT_CHARS = [chr(c) for c in range(0x20000) if unicodedata.category(chr(c)) == "Cf"] + [
    chr(c) for c in range(0xE0000, 0xE0080) if unicodedata.category(chr(c)) == "Cf"
]
CONTROL_CHARS = [chr(c) for c in range(0x100) if unicodedata.category(chr(c)) == "Cc" and chr(c) not in "\x00\n"]


def _sprinkle(rng: random.Random, text: str, pool: list[str], rate: float = 0.08) -> str:
    return "".join(char + (rng.choice(pool) if char.isalnum() and rng.random() < rate else "") for char in text)


def _split_token(rng: random.Random, token: str) -> str:
    """``token`` with an invisible character between every two letters: it must come out whole."""
    return "".join(char + rng.choice(FORMAT_CHARS) for char in token[:-1]) + token[-1]


def _invisible_characters(corpus: Corpus, rng: random.Random) -> None:
    for n in range(20):
        token = f"hiddensafe{n}"
        sentences = [_sprinkle(rng, s, FORMAT_CHARS) for s in prose(rng, _split_token(rng, token))]
        title = "\u202eTitle reversed by an override\u202c " + _sprinkle(rng, f"invisible {n}", FORMAT_CHARS, 0.5)
        kind = n % 5
        if kind == 0:
            controls = [_sprinkle(rng, s, CONTROL_CHARS, 0.02) for s in sentences]  # sparse: dense is "binary"
            corpus.add("invisible-characters", f"text{n}.txt", title + "\n\n" + "\n".join(controls), INDEXED, token)
        elif kind == 1:
            # YAML itself refuses a raw control character (an ANSI escape here): that file is skipped, with its reason.
            escape = "\x1b[31m" if n == 1 else ""
            front = (
                f'---\ntitle: "{title}"\nauthor: "A\u200bnne \u2066Writer\u2069"\nsource: "\u061cWire{escape}"\n---\n'
            )
            expect, wanted = (SKIPPED, "") if escape else (INDEXED, token)
            corpus.add("invisible-characters", f"note{n}.md", front + "\n\n".join(sentences), expect, wanted)
        elif kind == 2:
            # JSON escapes reach characters no UTF-8 file can hold: NUL, C1 controls and lone surrogates.
            record = {
                "id": f"json\u0000-\u202e{n}\ud800",
                "title": title + "\ud800\udfff\u0085",
                "text": "\u0000\u009b".join(sentences) + " tail\udc80",
                "url": f"https://news.example/{n}\u0000\u200b\x1b[0m",
                "author": "\u0007Bell\u0008",
            }
            corpus.add("invisible-characters", f"record{n}.json", json.dumps(record), INDEXED, token)
        elif kind == 3:
            lines = [json.dumps({"id": f"l{n}-{i}\u2067", "text": s + "\ud83d"}) for i, s in enumerate(sentences)]
            corpus.add("invisible-characters", f"records{n}.jsonl", "\n".join(lines), INDEXED, token)
        else:
            body = "".join(f"<p>{s}</p>" for s in sentences)
            corpus.add("invisible-characters", f"page{n}.html", _page(html.escape(title), body), INDEXED, token)


def _encodings(corpus: Corpus, rng: random.Random) -> None:
    french = "Le président a annoncé mercredi une réforme très attendue. « Les écoles » recevront des crédits."
    russian = "Президент объявил в среду о долгожданной реформе. Школы получат дополнительные средства."
    japanese = "首相は水曜日に待望の改革を発表した。学校には追加の予算が配分される。"
    samples = [
        ("latin-1", french, "latin-1"),
        ("cp1252", french + " Prix : 5 € — “guillemets”.", "cp1252"),
        ("shift_jis", japanese, "shift_jis"),
        ("cp1251", russian, "cp1251"),
        ("koi8-r", russian, "koi8-r"),
        ("utf-16-le-no-bom", "River news: the river rose by three metres overnight, officials said.", "utf-16-le"),
        ("utf-16-be-no-bom", "River news: the river rose by three metres overnight, officials said.", "utf-16-be"),
    ]
    for n, (label, text, codec) in enumerate(samples):
        data = f"Title {label}\n\n{text} Reference enc{n}.".encode(codec)
        record = json.dumps({"text": f"{text} enc{n}"}, ensure_ascii=False).encode(codec)
        reason = "UTF-16 text without a byte-order mark" if codec.startswith("utf-16") else "not valid UTF-8 at byte"
        for suffix in (".txt", ".md", ".json", ".jsonl"):
            payload = data if suffix in (".txt", ".md") else record
            corpus.add("non-utf8-encodings", f"{label}{suffix}", payload, SKIPPED, reason=reason)
        # HTML and feeds can declare their encoding; without a declaration trafilatura guesses (and may misread).
        page = _page(f"Page {label}", f"<p>{text} Reference encpage{n}.</p>" * 3, charset=codec)
        undeclared = page.replace(f"charset='{codec}'", "")
        corpus.add("non-utf8-encodings", f"{label}-declared.html", page.encode(codec), EITHER)
        corpus.add("non-utf8-encodings", f"{label}-undeclared.html", undeclared.encode(codec), EITHER)
        declaration = f'<?xml version="1.0" encoding="{codec}"?>'
        feed = _rss([_item(f"Story {label}", html.escape(f"{text} encfeed{n}"))], declaration=declaration)
        if not codec.startswith("utf-16"):
            corpus.add("non-utf8-encodings", f"{label}.rss", feed.encode(codec), EITHER)
    mixed = [
        ("mixed-latin1-in-utf8", "Title\n\nCafé ".encode() + "naïve".encode("latin-1") + b" text"),
        ("overlong", b"Title\n\nan overlong slash \xc0\xaf here"),
        ("truncated-sequence", b"Title\n\nends in the middle of a character \xe2\x82"),
        ("lone-continuation", b"Title\n\nstray \x80\x81 bytes"),
        ("cesu-surrogate", b"Title\n\nan encoded surrogate \xed\xa0\x80 here"),
    ]
    for label, data in mixed:
        corpus.add("non-utf8-encodings", f"{label}.txt", data, SKIPPED)
        corpus.add("non-utf8-encodings", f"{label}.md", data, SKIPPED)
    # With a byte-order mark the encoding is known, so these load.
    for label, bom_codec in (("utf-8-bom", "utf-8-sig"), ("utf-16-bom", "utf-16"), ("utf-32-bom", "utf-32")):
        text = f"Title {label}\n\nThe ferry report bom{label} said the crossing resumed on Monday."
        corpus.add("non-utf8-encodings", f"{label}.txt", text.encode(bom_codec), INDEXED)
    # A page that claims UTF-16 in ASCII bytes is lying; it must not be decoded as UTF-16 garbage.
    liar = _page("Liar", "<p>" + " ".join(prose(rng, "liarsafe")) + "</p>", charset="utf-16")
    corpus.add("non-utf8-encodings", "claims-utf16.html", liar.encode("latin-1"), INDEXED, "liarsafe")


def _binary(corpus: Corpus, rng: random.Random) -> None:
    headers = {
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "elf": b"\x7fELF\x02\x01\x01\x00" + bytes(8),
        "high-bytes": b"",  # no NUL at all: must still not pass for text
    }
    for kind, header in headers.items():
        for suffix in sorted({".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"}):
            low = 0x80 if kind == "high-bytes" else 0
            data = header + bytes(rng.randrange(low, 256) for _ in range(6000))
            corpus.add("binary-with-text-extension", f"{kind}{suffix}", data, SKIPPED)


def _deep_nesting(corpus: Corpus, rng: random.Random) -> None:
    depth = 100_000
    divs, inline = "<div>" * depth, "<b><i>" * depth

    def paragraphs(token: str) -> str:
        return "".join(f"<p>{sentence}</p>" for sentence in prose(rng, token))

    add = corpus.add
    add("deep-nesting", "divs-around-text.html", f"<html><body>{divs}{paragraphs('x')}" + "</div>" * depth, EITHER)
    add(
        "deep-nesting",
        "divs-after-text.html",
        f"<html><body><article>{paragraphs('divsafe')}</article>{divs}x",
        INDEXED,
        "divsafe",
    )
    add(
        "deep-nesting",
        "inline-tags.html",
        f"<html><body><article>{paragraphs('inlinesafe')}{inline}deep</article>",
        INDEXED,
        "inlinesafe",
    )
    unclosed = "".join(f"<p>{sentence}" for sentence in prose(rng, "unclosedsafe"))
    add("deep-nesting", "unclosed-divs.htm", f"<html><body><article>{unclosed}{divs}", INDEXED, "unclosedsafe")
    add("deep-nesting", "arrays.json", "[" * depth + "]" * depth, SKIPPED, reason="JSON nested too deeply")
    add("deep-nesting", "objects.json", '{"a":' * depth + "1" + "}" * depth, SKIPPED, reason="JSON nested too deeply")
    add("deep-nesting", "text-field.json", '{"text": ' + "[" * depth + "]" * depth + "}", SKIPPED)
    good = json.dumps({"text": " ".join(prose(rng, "jsonlsafe"))})
    lines = ["[" * depth + "]" * depth, good, '{"text": ' + "{" * depth]
    add("deep-nesting", "lines.jsonl", "\n".join(lines), PARTIAL, "jsonlsafe", reason="JSON nested too deeply")
    add("deep-nesting", "front-matter.md", "---\ntitle: " + "[" * depth + "]" * depth + "\n---\nbody text", SKIPPED)
    mapping = "".join(" " * i + f"k{i}:\n" for i in range(3000))
    add("deep-nesting", "front-matter-map.md", f"---\n{mapping}---\nbody", SKIPPED)
    elements = "<x>" * 20_000 + "</x>" * 20_000
    nested_item = _item("Nested", "Lava flowed.").replace("</item>", elements + "</item>")
    add("deep-nesting", "elements.rss", _rss([nested_item]), EITHER)
    escaped = html.escape("<div>" * 20_000 + "escaped deep text" + "</div>" * 20_000)
    add("deep-nesting", "escaped-html.rss", _rss([_item("Escaped", escaped)]), EITHER)


def _malformed(corpus: Corpus, rng: random.Random) -> None:
    body = " ".join(prose(rng, "malformedsafe"))
    cases: list[tuple[str, str | bytes, str]] = [
        ("truncated.json", '{"text": "cut off in the mid', SKIPPED),
        ("null.json", "null", SKIPPED),
        ("number.json", "42", SKIPPED),
        ("string.json", '"just a string"', SKIPPED),
        ("text-not-string.json", '{"text": {"nested": true}}', SKIPPED),
        ("title-not-string.json", '{"text": "fine", "title": {"a": 1}}', SKIPPED),
        ("no-text.json", '{"title": "headline only"}', SKIPPED),
        ("nan.json", '{"text": NaN}', SKIPPED),
        ("trailing-garbage.json", '{"text": "x"} {"text": "y"}', SKIPPED),
        ("array-of-junk.json", '[1, "two", null, {"text": "array item malformedsafe2"}, [5]]', PARTIAL),
        ("mixed.jsonl", "\n".join([json.dumps({"text": body}), "{x", "[]", '{"text": 5}', '"s"', "\x0c"]), PARTIAL),
        ("all-bad.jsonl", "{\n}\n[\n", SKIPPED),
        ("truncated.rss", _rss([_item("Cut", "never closed")])[:-40], EITHER),
        ("html-not-feed.rss", "<html><body><p>not a feed</p></body></html>", SKIPPED),
        ("empty-channel.rss", _rss([]), SKIPPED),
        ("no-items.atom", '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>', SKIPPED),
        ("bad-encoding-name.rss", b'<?xml version="1.0" encoding="ut\xe6-8"?><rss version="2.0"></rss>', SKIPPED),
        (
            "billion-laughs.rss",
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lolololololol">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
            + ']><rss version="2.0"><channel><title>t</title><item><title>laughs</title><description>&i;'
            "</description></item></channel></rss>",
            EITHER,
        ),
        (
            "external-entity.rss",
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss version="2.0">'
            "<channel><title>t</title><item><title>xxe</title><description>&x; xxesafe text</description></item>"
            "</channel></rss>",
            EITHER,
        ),
        ("no-text.html", "<html><head><script>zqevil()</script></head><body><nav>Home</nav></body></html>", SKIPPED),
        ("only-scripts.html", "<html><body>" + "".join(ACTIVE) + "</body></html>", SKIPPED),
        ("empty.txt", "", SKIPPED),
        ("whitespace.md", " \n\t\n \r\n", SKIPPED),
        ("unclosed-front-matter.md", "---\ntitle: never closed\nbody text", SKIPPED),
        ("python-tag.md", "---\ntitle: !!python/object/apply:os.system ['echo zqevil']\n---\nbody", SKIPPED),
        ("list-front-matter.md", "---\n- a\n- b\n---\nbody text here", SKIPPED),
        ("huge-date.json", json.dumps({"text": body + " hugedate", "date": "1" * 200_000}), INDEXED),
    ]
    for name, content, expect in cases:
        corpus.add("malformed-structure", name, content, expect)
    corpus.add(
        "malformed-structure",
        "with-bad-sidecar.txt",
        "Sidecar story\n\n" + body + " sidecar",
        SKIPPED,
        reason="bad sidecar with-bad-sidecar.meta.json: malformed JSON",
    )
    (corpus.root / "malformed-structure" / "with-bad-sidecar.meta.json").write_text('{"title": ', encoding="utf-8")
    corpus.add(
        "malformed-structure",
        "with-deep-sidecar.txt",
        "Deep sidecar\n\n" + body + " deep sidecar",
        SKIPPED,
        reason="bad sidecar with-deep-sidecar.meta.json: JSON nested too deeply",
    )
    (corpus.root / "malformed-structure" / "with-deep-sidecar.meta.json").write_text("[" * 100_000, encoding="utf-8")
    # YAML's timestamp type refused an impossible date with a ValueError that cost the whole article.
    impossible = "---\ntitle: Impossible date\ndate: 2024-02-30\n---\n\n" + body + " impossibledate"
    corpus.add("malformed-structure", "impossible-date.md", impossible, INDEXED, "impossibledate")


def _regex_bombs(corpus: Corpus, rng: random.Random) -> None:
    # Each of these took minutes or more in the cleaner's or markdown parser's regexes before they were made linear.
    bombs = [
        ("image-openers.txt", "Openers\n\n" + "![" * 200_000 + " bombsafe1"),
        ("image-references.txt", "References\n\n" + "![a][" * 100_000 + " bombsafe2"),
        ("nested-images.txt", "Nested\n\n" + "![a](" * 20_000 + "d" + ")" * 20_000 + " bombsafe3"),
        ("trailing-pipes.txt", "Pipes\n\na" + " |" * 100_000 + " bombsafe4"),
        ("heading-spaces.md", "# a" + " \t" * 20_000 + "b\n\nHeading body bombsafe5"),
        ("heading-hashes.md", "# a" + " #" * 50_000 + " b\n\nHeading body bombsafe6"),
        ("rule-line.txt", "Rules\n\n" + "-|" * 200_000 + "x bombsafe7"),
    ]
    for name, content in bombs:
        corpus.add("regex-bombs", name, content, INDEXED)


def _huge(corpus: Corpus, rng: random.Random) -> None:
    words = " ".join(rng.choice(WORDS) for _ in range(400_000))
    corpus.add("huge-inputs", "one-line.txt", "One line\n\n" + words + " hugesafe1", INDEXED)
    corpus.add("huge-inputs", "newlines.md", "# Newlines\n\n" + "\n" * 600_000 + "hugesafe2 at the end", INDEXED)
    unspaced = "長い記事\n\n" + "首相は水曜日に改革を発表した。" * 50_000 + "hugesafe3"
    corpus.add("huge-inputs", "no-spaces.txt", unspaced, INDEXED)
    records = [json.dumps({"id": f"bulk-{i}", "text": f"Bulk record {i}: {rng.choice(WORDS)}."}) for i in range(3000)]
    corpus.add("huge-inputs", "many-records.jsonl", "\n".join(records), INDEXED)
    too_large = f"file too large: {50 * MB} bytes > limit {20 * MB}"
    sparse = corpus.add("huge-inputs", "fifty-megabytes.txt", b"", SKIPPED, reason=too_large)
    with sparse.open("r+b") as handle:  # 50 MB on paper, no disk or time spent: it is refused by its size alone
        handle.truncate(50 * MB)


def _odd_names(corpus: Corpus, rng: random.Random) -> None:
    text = "Odd name\n\n" + " ".join(prose(rng, "namesafe"))
    reason = "file name is not valid UTF-8: rename the file"
    corpus.add("odd-file-names", b"latin1-caf\xe9.txt", text + " one", SKIPPED, reason=reason)
    corpus.add("odd-file-names", b"invalid-\xff\xfe.json", json.dumps({"text": text + " two"}), SKIPPED, reason=reason)
    corpus.add("odd-file-names", "ünïcode-名前.txt", text + " three", INDEXED)


# -- checks on what was indexed ---------------------------------------------------------------------------------


def bad_text_chars(value: str) -> set[str]:
    """Control (but the newline), format (zero-width, bidi...) and surrogate characters in ``value``."""
    return {c for c in value if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Cs")}


def bad_raw_chars(value: str) -> set[str]:
    return {c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs")}


def indexed_rows(index: Path) -> tuple[list[tuple], list[str]]:
    reader = IndexReader.open(index)
    try:
        articles = reader.query("SELECT id, title, text, source, author, url, origin, file FROM articles")
        chunks = [row[0] for row in reader.query("SELECT text FROM chunks")]
    finally:
        reader.close()
    return articles, chunks


# -- the build -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak RSS of the same CLI building a five-article corpus: the cost of the code, not of the input."""
    tmp = tmp_path_factory.mktemp("baseline")
    run = run_cli(tmp, "index", "build", news_corpus(tmp / "news"), "--index", tmp / "idx", "--json")
    assert run.code == 0, run.stderr
    return run.peak_mb


# Measured: baseline 89 MB, this build 169 MB (+80 MB: the largest files read are 2-3 MB, plus 3,100 articles kept
# until they are embedded). Before the fixes in this change, the same corpus less the files that crashed or hung
# that code peaked at +130 MB (a Python object per character in the cleaner and in the splitter of the unspaced
# Japanese article). The bound sits between: allocator noise passes, a return of per-character work does not.
HOSTILE_MARGIN_MB = 120


def test_hostile_corpus_build(tmp_path: Path, baseline_rss: float) -> None:
    corpus = build_hostile_corpus(tmp_path / "hostile")
    counts = corpus.counts()
    for category, count in counts.items():
        print(f"{category}: {count} files")
    print(f"total: {sum(counts.values())} files")

    index = tmp_path / "idx"
    run = run_cli(tmp_path, "index", "build", corpus.root, "--index", index, "--json")
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    print(
        f"peak RSS {run.peak_mb:.0f} MB (baseline {baseline_rss:.0f} MB, bound +{HOSTILE_MARGIN_MB} MB); "
        f"{summary['articles']} articles, {summary['chunks']} chunks, {len(summary['skipped'])} skipped"
    )

    # Every skip names a file of the corpus (and, for record formats, the line), in one readable line.
    by_display = {display(path): path for path in corpus.expected}
    skipped: dict[Path, list[dict]] = {}
    for item in summary["skipped"]:
        origin = re.sub(r"#\d+$", "", item["origin"])  # feed entries are path#n
        assert origin in by_display, f"skip does not name a corpus file: {item}"
        assert item["reason"] and "\n" not in item["reason"], item
        assert not item["reason"].startswith("unexpected error"), f"a parser crashed on {origin}: {item['reason']}"
        skipped.setdefault(by_display[origin], []).append(item)

    articles, chunks = indexed_rows(index)
    indexed = Counter(Path(row[7]) for row in articles)
    resolved = {path.resolve(): path for path in corpus.expected}
    indexed_paths = {resolved[file] for file in indexed}

    outcome: Counter[tuple[str, str]] = Counter()
    for path, (category, expect) in corpus.expected.items():
        got_articles, got_skips = path in indexed_paths, skipped.get(path, [])
        assert got_articles or got_skips, f"{display(path)} was neither indexed nor skipped"
        if expect == INDEXED:
            assert got_articles, f"{display(path)} should be indexed; skipped: {got_skips}"
        elif expect == SKIPPED:
            assert not got_articles and got_skips, f"{display(path)} should be skipped"
        elif expect == PARTIAL:
            assert got_articles, f"{display(path)} lost its good records: {got_skips}"
            assert got_skips and all(item["line"] for item in got_skips), got_skips
        if path in corpus.reasons:
            assert any(corpus.reasons[path] in item["reason"] for item in got_skips), (corpus.reasons[path], got_skips)
        outcome[(category, "indexed" if got_articles else "skipped")] += 1
    for (category, result), number in sorted(outcome.items()):
        print(f"  {category}: {number} {result}")

    # Cleaned means cleaned: no active content, no invisible or control characters, anywhere in what is indexed.
    for article_id, title, text, source, author, url, origin, _ in articles:
        for value in (title, text, source or "", author or ""):
            lowered = value.lower()
            assert not [word for word in FORBIDDEN_TEXT if word in lowered], (article_id, value[:300])
            assert not bad_text_chars(value), (article_id, bad_text_chars(value))
        for value in (article_id, url or "", origin or ""):
            assert not bad_raw_chars(value), (article_id, bad_raw_chars(value))
        assert url is None or url.startswith(("http://", "https://")), url
        assert "root:" not in text, "an external entity was resolved"
    for text in chunks:
        assert not bad_text_chars(text) and "zqevil" not in text.lower()
    # ... and the prose around the hostile parts survived, with invisible characters gone from inside words.
    all_text = "\n".join(row[2] for row in articles)
    lost = [f"{display(path)}: {token}" for path, token in corpus.tokens.items() if token not in all_text]
    assert not lost, lost

    assert verify(index)[1] == []
    assert run.peak_mb < baseline_rss + HOSTILE_MARGIN_MB, f"peak RSS {run.peak_mb:.0f} MB"


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


# -- properties: cleaner, chunker, citation spans -----------------------------------------------------------------

_HOSTILE_CHARS = st.sampled_from(
    [*FORMAT_CHARS, *CONTROL_CHARS, "\x00", "\n", "\r\n", "\u2028", "\ud800", "\udfff", "\udcff", "\xa0", "\u3000"]
)
_HOSTILE_TEXT = st.lists(st.one_of(st.text(max_size=6), _HOSTILE_CHARS, _HOSTILE_CHARS), max_size=60).map("".join)


@hyp_settings(max_examples=400, deadline=None)
@given(_HOSTILE_TEXT)
def test_cleaner_never_emits_control_format_or_surrogate_characters(raw: str) -> None:
    body, inline, raw_value = clean_text(raw), clean_inline(raw), strip_unprintable(raw)
    assert not bad_text_chars(body)
    assert not bad_raw_chars(inline) and not bad_raw_chars(raw_value)
    for value in (body, inline, raw_value):
        value.encode("utf-8")  # storable and hashable: no lone surrogate survives


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["#", " ", "\t", "a", "b", "C#", "##", " #", "x y"]), max_size=12).map("".join))
def test_markdown_heading_matches_the_regex_it_replaced(line: str) -> None:
    from assistant.ingest.markdown import _md_heading

    line = line.strip()
    match = re.fullmatch(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*", line)
    assert _md_heading(line) == (match[1] if match else None)


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["|", " ", "\t", "a", " |", "| ", "||"]), max_size=14).map("".join))
def test_trailing_pipes_match_the_regex_they_replaced(line: str) -> None:
    from assistant.text.cleaning import _strip_trailing_pipes

    assert _strip_trailing_pipes(line) == re.sub(r"(?:\s+\|)+$", "", line)


# Repetitive text from few symbols: where looking a passage up in its article was ambiguous.
_REPETITIVE = st.lists(st.sampled_from(["a", "b", "ab", " ", ". ", "\n", "\n\n", ", ", "\t", "é", "日"]), max_size=500)
_ANY_TEXT = st.one_of(_REPETITIVE.map("".join), st.text(max_size=1500))


@hyp_settings(max_examples=300, deadline=None)
@given(text=_ANY_TEXT, size=st.integers(2, 300), overlap=st.integers(0, 200))
def test_passages_are_exactly_langchains(text: str, size: int, overlap: int) -> None:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.index.chunking import _SEPARATORS

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=min(overlap, size // 2),
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )
    assert [text[start:end] for start, end in passages(text, size=size, overlap=overlap)] == splitter.split_text(text)


@hyp_settings(max_examples=300, deadline=None)
@given(text=_ANY_TEXT, size=st.integers(100, 400), overlap=st.integers(0, 150))
def test_chunks_of_any_text_map_back_and_cover_it_without_gaps(text: str, size: int, overlap: int) -> None:
    article = Article("any/1", "Any", text, date="2024-03-01")
    chunks = chunk_article(article, size=size, overlap=overlap)
    covered = bytearray(len(text))
    previous = None
    for ordinal, chunk in enumerate(chunks):
        assert text[chunk.start : chunk.end] == chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= size
        assert (chunk.ordinal, chunk.id) == (ordinal, chunk_id(article.id, ordinal, "2024-03-01"))
        if previous is not None:
            assert previous.start < chunk.start
            assert text[previous.end : chunk.start].strip() == ""  # only whitespace between passages, never words
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
        previous = chunk
    assert all(covered[i] for i, char in enumerate(text) if not char.isspace())
    assert chunk_article(article, size=size, overlap=overlap) == chunks


@hyp_settings(max_examples=100, deadline=None)
@given(texts=st.lists(_ANY_TEXT, min_size=2, max_size=4))
def test_chunk_ids_do_not_depend_on_other_articles(texts: list[str]) -> None:
    articles = [Article(f"corpus/{n}.txt", f"T{n}", text) for n, text in enumerate(texts)]
    alone = [chunk_article(article, size=150, overlap=20) for article in articles]
    together = [chunk_article(article, size=150, overlap=20) for article in reversed(articles)][::-1]
    assert together == alone


def test_indexed_chunk_ids_do_not_depend_on_other_articles(tmp_path: Path) -> None:
    news = news_corpus(tmp_path / "news")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "more.txt").write_text("More news\n\n" + " ".join(prose(random.Random(1), "extra", 20)), "utf-8")

    def rows(index: Path, *inputs: Path) -> set[tuple]:
        build_index(list(inputs), index, embedder=FakeEmbedder())
        reader = IndexReader.open(index)
        try:
            return {tuple(row) for row in reader.query("SELECT id, article_id, ordinal, start, end, text FROM chunks")}
        finally:
            reader.close()

    alone = rows(tmp_path / "alone", news)
    with_more = rows(tmp_path / "more", extra, news)
    assert alone and alone < with_more


# Articles in several scripts, with the characters a scrape drags along, to cite from.
MULTILINGUAL = [
    {
        "id": "zh",
        "title": "冰岛火山喷发",
        "date": "2024-03-11",
        "source": "新闻",
        "text": "冰岛雷克雅内斯半岛的火山周日再次喷发。\u200b熔岩流向格林达维克镇，居民已撤离。",
    },
    {
        "id": "ar",
        "title": "\u200fثوران بركان في آيسلندا\u200f",
        "date": "2024-03-11",
        "source": "الأخبار",
        "text": "\u202bثار بركان في شبه جزيرة ريكيانيس يوم الأحد.\u202c وتدفقت الحمم نحو بلدة غريندافيك.",
    },
    {
        "id": "ru",
        "title": "Извержение вулкана в Исландии",
        "date": "2024-03-11",
        "source": "Новости",
        "text": "Вулкан на полуострове Рейкьянес снова извергся в воскресенье. Лава текла к Гриндавику.",
    },
    {
        "id": "emoji",
        "title": "Volcano 🌋 erupts again",
        "date": "2024-03-11",
        "source": "Emoji Wire",
        "text": "The volcano 🌋 erupted again on Sunday 🔥. Lava 🟧 flowed toward Grindavik 🏘️, residents left 🚗.",
    },
]


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import write_jsonl

    folder = tmp_path_factory.mktemp("questions")
    news = news_corpus(folder / "news")
    write_jsonl(news / "multilingual.jsonl", MULTILINGUAL)
    index = folder / "idx"
    build_index([news], index, embedder=StrictEmbedder(), settings=Settings(progress=False))
    return index


@pytest.fixture(scope="module")
def hostile_assistant(hostile_index: Path):
    embedder = StrictEmbedder()
    assistant = Assistant.open(
        hostile_index, embedder=embedder, settings=Settings(progress=False, abstain_below=0.0, excerpt_chars=120)
    )
    yield assistant, embedder
    assistant.close()


def check_answer(answer, index: Path) -> None:
    """The question as used is clean; each excerpt is verbatim chunk text at its offset, its span inside it."""
    assert not bad_raw_chars(answer.question) and answer.question == answer.question.strip()
    reader = IndexReader.open(index)
    try:
        rows = reader.chunk_rows(c.chunk_id for c in answer.citations)
    finally:
        reader.close()
    for number, citation in enumerate(answer.citations, 1):
        assert citation.number == number
        row = rows[citation.chunk_id]
        offset = citation.excerpt_start - row.start
        assert offset >= 0 and row.text[offset : offset + len(citation.excerpt)] == citation.excerpt
        low, high = citation.span
        assert 0 <= low < high <= len(citation.excerpt)
        assert not bad_text_chars(citation.quote + citation.excerpt)


_QUESTION_WORDS = [
    "volcano",
    "lava",
    "Grindavik",
    "火山",
    "喷发",
    "بركان",
    "ثار",
    "Вулкан",
    "лава",
    "🌋",
    "🔥",
    "interest",
    "rates",
    "cup",
    "when",
    "what",
    "how",
]


@hyp_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.one_of(st.sampled_from(_QUESTION_WORDS), _HOSTILE_CHARS, st.just(" ")), max_size=14))
def test_property_hostile_questions_get_clean_cited_answers_or_clear_errors(hostile_assistant, hostile_index, pieces):
    assistant, _ = hostile_assistant
    question = "".join(pieces)
    try:
        answer = assistant.ask(question)
    except ConfigError as error:
        assert str(error) == "the question is empty", error
        assert not "".join(c for c in question if not bad_raw_chars(c)).strip()
        return
    check_answer(answer, hostile_index)


QUESTIONS = {
    "chinese": "冰岛火山什么时候喷发？",
    "arabic-rtl-marks": "\u200fمتى ثار البركان في آيسلندا؟\u200f",
    "arabic-embedding": "\u202bمتى ثار البركان؟\u202c",
    "emoji": "🌋 When did the volcano erupt? 🔥🔥",
    "cyrillic": "Когда извергся вулкан в Исландии?",
    "mixed-scripts": "When did the 火山 erupt near Гриндавик?",
    "controls-inside": "When\x00 did\x1b[31m the\x07 volcano\x85 erupt\u2028?",
    "zero-width-inside": "When did the vol\u200bca\u200dno erupt\u2060?",
    "bidi-override": "\u202eWhen did the volcano erupt?\u202c",
    "lone-surrogate": "When did the volcano \udcff\udcfe erupt?",
    "tag-characters": "volcano\U000e0041\U000e007f eruption",
}


@pytest.mark.parametrize("name", QUESTIONS)
def test_questions_in_any_script_get_answers(hostile_assistant, hostile_index: Path, name: str) -> None:
    assistant, _ = hostile_assistant
    answer = assistant.ask(QUESTIONS[name])
    check_answer(answer, hostile_index)
    assert answer.question  # cleaned, never emptied: every question above has words


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty"),
        ("   \t\n  ", "the question is empty"),
        ("\x00\x01\x7f\x9f", "the question is empty"),
        ("\u200b\u200e\u202e\u2066\ufeff", "the question is empty"),
        ("\udcff", "the question is empty"),
        ("why " * 600, "the question is 2399 characters long; the limit is 2000"),
    ],
    ids=["empty", "whitespace", "controls-only", "invisible-only", "surrogate-only", "just-too-long"],
)
def test_bad_questions_get_readable_errors(hostile_assistant, question: str, message: str) -> None:
    assistant, embedder = hostile_assistant
    before = embedder.embedded
    with pytest.raises(ConfigError) as caught:
        assistant.ask(question)
    assert str(caught.value) == message
    assert embedder.embedded == before  # refused before anything was embedded


def test_a_megabyte_question_is_refused_before_any_pass_over_it(hostile_assistant, monkeypatch) -> None:
    import assistant.answer.assistant as answering

    assistant, embedder = hostile_assistant
    passes: list[int] = []
    real = answering.clean_question
    monkeypatch.setattr(answering, "clean_question", lambda text: passes.append(len(text)) or real(text))
    before = embedder.embedded
    question = "Why did the volcano erupt? " * (MB // 27 + 1)
    with pytest.raises(ConfigError, match=rf"^the question is {len(question)} characters long; the limit is 2000$"):
        assistant.ask(question)
    assert passes == [] and embedder.embedded == before

    # Padding is judged after cleaning, as long as the raw question is within four times the limit.
    padded = "\u200b".join("How did lava reach Grindavik?")  # 57 characters, 29 once cleaned
    assert assistant.ask(padded).question == "How did lava reach Grindavik?"
    assert passes == [len(padded)]


# -- the CLI, as a user runs it ---------------------------------------------------------------------------------


def _one_line_error(run: Run, code: int, message: str) -> None:
    assert run.code == code, (run.code, run.stderr)
    assert run.stderr.strip() == f"error: {message}", run.stderr
    assert run.stdout == ""


def test_cli_ask_with_hostile_questions(tmp_path: Path, hostile_index: Path) -> None:
    index = ["--index", hostile_index]
    _one_line_error(run_cli(tmp_path, "ask", "", *index), 2, "the question is empty")
    _one_line_error(run_cli(tmp_path, "ask", "\u200b\u202e \t", *index), 2, "the question is empty")
    # 100 kB: one argument may be at most 128 kB on Linux, so a megabyte cannot reach the CLI through argv at all.
    too_long = run_cli(tmp_path, "ask", "why " * 25_000, *index)
    _one_line_error(too_long, 2, "the question is 100000 characters long; the limit is 2000")

    # Bytes that are not UTF-8 reach Python as lone surrogates, which no tokenizer or hash accepts.
    answered = run_cli(tmp_path, "ask", b"When did the volcano \xff\xfe erupt?", *index, "--json")
    assert answered.code == 0 and "Traceback" not in answered.stderr, answered.stderr
    assert json.loads(answered.stdout)["question"] == "When did the volcano erupt?"

    answered = run_cli(tmp_path, "ask", "\u202e\x1b[31m🌋 火山 " + QUESTIONS["arabic-rtl-marks"], *index)
    assert answered.code == 0 and "Traceback" not in answered.stderr, answered.stderr
    assert "\x1b" not in answered.stdout and "\u202e" not in answered.stdout
    assert "Sources:" in answered.stdout or "Closest passages:" in answered.stdout


def test_cli_ask_megabyte_question_in_process(hostile_index: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "test_hostile:StrictEmbedder")
    result = CliRunner().invoke(cli, ["ask", "x" * MB, "--index", str(hostile_index)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.stderr == f"error: the question is {MB} characters long; the limit is 2000\n"


# -- slow: 50 MB files and coverage-guided fuzzing -----------------------------------------------------------------


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
    run = run_cli(tmp_path, "index", "build", corpus, "--index", tmp_path / "idx", "--json")
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    size = big.stat().st_size
    print(f"50 MB file, default limit: peak RSS {run.peak_mb:.0f} MB (baseline {baseline_rss:.0f} MB)")
    assert summary["articles"] == 1
    assert summary["skipped"] == [
        {"origin": str(big), "line": None, "reason": f"file too large: {size} bytes > limit {20 * MB}"}
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
    run = run_cli(
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
    proc = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=FUZZ_SECONDS + 300, cwd=tmp_path)
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    coverage = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", proc.stderr)
    crashes = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(("crash-", "timeout-", "oom-")))
    print(
        f"fuzzing: {done[1] if done else '?'} executions in {done[2] if done else '?'} s, {len(crashes)} crashes; "
        f"final coverage {coverage[-1] if coverage else '?'} (edges, features, corpus inputs)"
    )
    assert proc.returncode == 0 and not crashes, proc.stderr[-3000:]
    assert done and int(done[1]) > 0


def test_search_drops_undecodable_and_invisible_characters(hostile_index: Path) -> None:
    from assistant import Retriever

    retriever = Retriever.open(hostile_index, embedder=StrictEmbedder())
    try:
        plain = retriever.search("central bank interest rate", k=3, as_of="2030-01-01")
        noisy = retriever.search("central\udcff bank\u200b interest\x1b rate", k=3, as_of="2030-01-01")
        assert [h.chunk_id for h in noisy] == [h.chunk_id for h in plain]
        with pytest.raises(ConfigError, match="empty"):
            retriever.search("\udcff\u200b\x00", as_of="2030-01-01")
    finally:
        retriever.close()

"""The hostile corpus: articles built to inject, hide, crash or bloat a build, each with what must become of it.

``build_hostile_corpus`` writes some 200 files in categories (active content in HTML and feeds, invisible characters,
other encodings, binary data, deep nesting, malformed structure, regex bombs, huge inputs, odd file names) and
records, per file, whether it must be indexed (cleaned), skipped (with a reason naming it) or either; the checks
below say what "cleaned" allows. test_hostile_corpus.py builds an index of it; the other hostile tests reuse its
prose, its characters and its checks.
"""

from __future__ import annotations

import html
import json
import os
import random
import unicodedata
from collections import Counter
from pathlib import Path

from hypothesis import strategies as st

MB = 1024 * 1024

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
    too_large = f"file too large: {50 * MB} bytes > limit {20 * MB} (raise ASSISTANT_MAX_FILE_MB to read it)"
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
    """The same, the newline included: for one-line values (ids, URLs, questions)."""
    return {c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs")}


# The characters the corpus hides in text, one at a time, for hypothesis.
HOSTILE_CHARS = st.sampled_from(
    [*FORMAT_CHARS, *CONTROL_CHARS, "\x00", "\n", "\r\n", "\u2028", "\ud800", "\udfff", "\udcff", "\xa0", "\u3000"]
)

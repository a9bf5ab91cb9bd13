"""Tests of assistant.ingest: every format, every kind of bad input, identity and discovery."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from reading import Loaded, load

from assistant.documents import Article, Skipped
from assistant.ingest import formats
from assistant.ingest.dates import parse_date
from assistant.ingest.discovery import discover
from assistant.ingest.duplicates import SUPERSEDED
from assistant.ingest.formats import SUPPORTED_SUFFIXES
from assistant.ingest.loading import load_file

SEED = Path(__file__).parents[1] / "corpus" / "chinese-tech-giants-ai.txt"

BODY = (
    "The river rose by three metres overnight, officials said on Tuesday, flooding low-lying fields near the "
    "town. Residents were told to move cars to higher ground before the next high tide on Wednesday."
)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def reasons(loaded: Loaded) -> dict[str, str]:
    return {Path(s.origin).name + (f":{s.line}" if s.line else ""): s.reason for s in loaded.skipped}


def only(loaded: Loaded) -> Article:
    assert loaded.skipped == []
    assert len(loaded.articles) == 1
    return loaded.articles[0]


# ---------------------------------------------------------------- the seed article


def test_seed_article_loads_clean_with_sidecar_metadata() -> None:
    article = only(load([SEED]))
    assert article.title == "Chinese Tech Giants Rush to Invest in AI Amidst Growing Competition with the U.S."
    assert article.source == "tech news blog"
    assert article.date == "2025-02"
    assert article.id == "corpus/chinese-tech-giants-ai.txt"
    assert article.origin == str(SEED)
    text = article.text
    assert "![]()" not in text
    assert "Post a Comment" not in text
    lines = text.split("\n")
    assert not any(line.rstrip().endswith("|") or line.lstrip().startswith("|") for line in lines)
    assert "Comments" not in lines
    for phrase in (
        "23 billion yuan",
        "4.2 billion yuan",
        "12 billion dollars",
        "February 17",
        "Ramp Up AI Investments as Global Race Heats Up",
        "China's major tech companies, including Alibaba",
        "in this crucial technological arena.",
    ):
        assert phrase in text
    # The title line is not repeated as the first paragraph.
    assert not text.startswith("Chinese Tech Giants Rush")


def test_seed_every_body_sentence_kept() -> None:
    raw = SEED.read_text(encoding="utf-8").splitlines()
    text = only(load([SEED])).text
    for line in raw[3:-2]:  # the prose paragraphs, between the debris header and the comment footer
        assert line.strip() in text


# ---------------------------------------------------------------- formats


def test_txt_first_line_is_title(tmp_path: Path) -> None:
    path = write(tmp_path, "news/flood.txt", f"River Floods Town\n\n{BODY}\nSecond paragraph.\n")
    article = only(load([path]))
    assert article.title == "River Floods Town"
    assert article.text == f"{BODY}\n\nSecond paragraph."
    assert article.id == "news/flood.txt"
    assert article.date is None and article.url is None


def test_txt_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", f"---\ntitle: Front Title\ndate: 2024-05-06\nsource: Wire\n---\n{BODY}\n")
    article = only(load([path]))
    assert (article.title, article.date, article.source, article.text) == ("Front Title", "2024-05-06", "Wire", BODY)


def test_txt_leading_rule_is_not_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", f"-----\nHeadline Here\n-----\n{BODY}\n")
    article = only(load([path]))
    assert article.title == "Headline Here"
    assert article.text == BODY


def test_markdown_front_matter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "post.md",
        "---\ntitle: Markdown Title\ndate: 2025-02-17\nsource: The Wire\nurl: https://wire.example/md\n"
        f"author: [Ann, Bob]\nextra: ignored\n---\n# Markdown Title\n\n{BODY}\n\n![chart](c.png)\n",
    )
    article = only(load([path]))
    assert article.title == "Markdown Title"
    assert article.date == "2025-02-17"
    assert article.source == "The Wire"
    assert article.url == "https://wire.example/md"
    assert article.author == "Ann, Bob"
    assert article.id == "https://wire.example/md"
    assert article.text == BODY


def test_markdown_heading_is_title_without_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "post.markdown", f"\n# The Heading #\n\n{BODY}\n\n## Section\n\nMore.\n")
    article = only(load([path]))
    assert article.title == "The Heading"
    assert article.text == f"{BODY}\n\n## Section\n\nMore."


def test_markdown_without_title_keeps_first_line_in_body(tmp_path: Path) -> None:
    article = only(load([write(tmp_path, "p.md", f"{BODY}\n")]))
    assert article.text == BODY
    assert article.title.endswith("…") and len(article.title) <= 121
    assert BODY.startswith(article.title[:-1])


HTML = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Rivers Rise | Daily Planet</title>
<meta property="og:title" content="Rivers Rise in Spring">
<meta property="og:site_name" content="Daily Planet">
<meta name="author" content="Lois Lane">
<link rel="canonical" href="https://planet.example/news/rivers">
<script type="application/ld+json">
{{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Rivers Rise in Spring",
  "datePublished": "2024-03-05T10:00:00Z"}}
</script>
<script>var tracker = "SECRET_SCRIPT";</script>
</head><body><nav><a href="/">Home</a> | <a href="/menu">Menu</a></nav>
<article><h1>Rivers Rise in Spring</h1>
<p>{BODY}</p>
<p>Engineers said the flood barrier held, and no homes were damaged in the town centre this time.</p>
<script>document.write("SECRET_INLINE")</script>
</article><footer>Copyright 2024 Daily Planet</footer></body></html>
"""


def test_html_text_and_metadata(tmp_path: Path) -> None:
    article = only(load([write(tmp_path, "rivers.html", HTML)]))
    assert article.title == "Rivers Rise in Spring"
    assert article.date == "2024-03-05"
    assert article.source == "Daily Planet"
    assert article.url == "https://planet.example/news/rivers"
    assert article.author == "Lois Lane"
    assert article.id == "https://planet.example/news/rivers"
    assert BODY in article.text
    assert "flood barrier held" in article.text
    assert "SECRET" not in article.text
    assert not article.text.startswith("Rivers Rise in Spring")


def test_html_declared_charset(tmp_path: Path) -> None:
    page = HTML.replace('charset="utf-8"', 'charset="iso-8859-1"').replace("town centre", "café quarter")
    article = only(load([write(tmp_path, "latin.htm", page.encode("latin-1"))]))
    assert "café quarter" in article.text


def test_html_without_main_text_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.html", "<html><head><script>x()</script></head><body></body></html>")
    loaded = load([path])
    assert loaded.articles == []
    assert reasons(loaded) == {"empty.html": "no main text found in HTML"}


def test_json_single_object(tmp_path: Path) -> None:
    record = {"title": "JSON Title", "text": BODY, "date": "February 17, 2025", "source": "Feed", "other": 1}
    article = only(load([write(tmp_path, "one.json", json.dumps(record))]))
    assert (article.title, article.text, article.date, article.source) == (
        "JSON Title",
        BODY,
        "2025-02-17",
        "Feed",
    )
    assert article.id == f"{tmp_path.name}/one.json"
    assert article.origin == str(tmp_path / "one.json")


def test_json_array_records_with_lines(tmp_path: Path) -> None:
    records = [{"id": "a1", "title": "A", "text": "Alpha text."}, "oops", {"title": "no text"}, {"text": "Beta."}]
    path = write(tmp_path, "many.json", json.dumps(records, indent=2))
    loaded = load([path])
    assert [a.id for a in loaded.articles] == ["a1", "sha256:" + loaded.articles[1].copy_hash[:16]]
    assert loaded.articles[1].title == "Beta."  # first line of text when the title is missing
    text = path.read_text().split("\n")
    assert [text[s.line - 1].strip() for s in loaded.skipped if s.line] == ['"oops",', "{"]
    assert [s.reason for s in loaded.skipped] == ["record is not a JSON object", "missing field 'text'"]


def test_jsonl_records(tmp_path: Path) -> None:
    lines = [
        {
            "id": "rtqa-1",
            "title": "First",
            "text": "One.\n\nTwo.",
            "source": "CNN",
            "date": "2022/09/30",
            "url": "https://cnn.example/1",
            "origin": "x",
            "weeks": 3,
        },
        {"title": "Second", "text": "Second body.", "url": "  https://cnn.example/2  "},
        {"text": "Third body\nwith two lines."},
    ]
    path = write(tmp_path, "c.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n\n")
    loaded = load([path])
    assert loaded.skipped == []
    first, second, third = loaded.articles
    assert (first.id, first.title, first.text, first.date, first.source) == (
        "rtqa-1",
        "First",
        "One.\n\nTwo.",
        "2022-09-30",
        "CNN",
    )
    assert first.origin == f"{path}:1"
    assert (second.id, second.url) == ("https://cnn.example/2", "https://cnn.example/2")
    assert third.id == "sha256:" + third.copy_hash[:16]
    assert third.title == "Third body"
    assert third.origin == f"{path}:3"


def test_jsonl_numeric_id_becomes_string(tmp_path: Path) -> None:
    article = only(load([write(tmp_path, "n.jsonl", '{"id": 42, "text": "Body."}\n')]))
    assert article.id == "42"


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Planet News</title><link>https://planet.example</link>
<item><title>First &amp; foremost</title><link>https://planet.example/1</link>
<guid isPermaLink="false">planet-1</guid><pubDate>Mon, 17 Feb 2025 10:00:00 GMT</pubDate>
<author>ann@planet.example (Ann)</author>
<description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt; para one.&lt;/p&gt;&lt;script&gt;alert("EVIL")&lt;/script&gt;
&lt;p&gt;Para two.&lt;/p&gt;</description></item>
<item><title>Second</title><link>https://planet.example/2</link><description>Plain second.</description></item>
<item><title>No body</title><description></description></item>
</channel></rss>
"""


def test_rss_feed(tmp_path: Path) -> None:
    path = write(tmp_path, "planet.rss", RSS)
    loaded = load([path])
    first, second = loaded.articles
    assert (first.id, first.title, first.url, first.date, first.source) == (
        "planet-1",
        "First & foremost",
        "https://planet.example/1",
        "2025-02-17",
        "Planet News",
    )
    assert first.text == "Hello world para one.\n\nPara two."
    assert first.origin == f"{path}#1"
    assert (second.id, second.text, second.date) == ("https://planet.example/2", "Plain second.", None)
    assert loaded.skipped == [Skipped(f"{path}#3", "empty: no article text")]


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Wire</title><id>urn:wire</id>
<updated>2025-02-18T00:00:00Z</updated>
<entry><title>Late Night Vote</title><id>urn:uuid:1</id><link href="https://wire.example/1"/>
<published>2025-02-17T23:00:00-05:00</published><updated>2025-02-18T09:00:00+09:00</updated>
<author><name>Bob Reporter</name></author>
<content type="html">&lt;p&gt;The vote passed late on Monday.&lt;/p&gt;&lt;p&gt;Debate lasted hours.&lt;/p&gt;</content>
<summary>Short summary.</summary></entry>
<entry><title>Month only</title><link href="https://wire.example/2"/><updated>2025-01-05T00:00:00Z</updated>
<summary>Second entry.</summary></entry>
</feed>
"""


def test_atom_feed(tmp_path: Path) -> None:
    loaded = load([write(tmp_path, "wire.atom", ATOM)])
    assert loaded.skipped == []
    first, second = loaded.articles
    assert (first.id, first.url, first.source, first.author) == (
        "urn:uuid:1",
        "https://wire.example/1",
        "Atom Wire",
        "Bob Reporter",
    )
    assert first.date == "2025-02-17"  # the publisher's own day, not UTC's
    assert first.text == "The vote passed late on Monday.\n\nDebate lasted hours."
    assert (second.id, second.date, second.text) == ("https://wire.example/2", "2025-01-05", "Second entry.")


def test_feed_with_xml_suffix(tmp_path: Path) -> None:
    loaded = load([write(tmp_path, "feed.xml", RSS)])
    assert len(loaded.articles) == 2


# ---------------------------------------------------------------- sidecars


def test_sidecar_overrides_metadata(tmp_path: Path) -> None:
    write(tmp_path, "story.md", f"---\ntitle: Old\nsource: Old Source\n---\n{BODY}\n")
    write(tmp_path, "story.meta.json", json.dumps({"title": "New", "url": "https://n.example/s", "date": 2024}))
    loaded = load([tmp_path])
    article = only(loaded)
    assert (article.title, article.source, article.url, article.date) == (
        "New",
        "Old Source",
        "https://n.example/s",
        "2024",
    )
    assert article.id == "https://n.example/s"
    assert loaded.files == [(tmp_path / "story.md").resolve()]


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [
        ("{not json", "bad sidecar a.meta.json: malformed JSON"),
        ("[1, 2]", "bad sidecar a.meta.json: must be a JSON object"),
        ('{"title": {"x": 1}}', "bad sidecar a.meta.json: field 'title' must be a string"),
        ('{"date": "someday"}', "bad sidecar a.meta.json: unparseable date 'someday'"),
    ],
)
def test_bad_sidecar_skips_article(tmp_path: Path, sidecar: str, reason: str) -> None:
    write(tmp_path, "a.txt", f"Title\n{BODY}\n")
    write(tmp_path, "a.meta.json", sidecar)
    loaded = load([tmp_path])
    assert loaded.articles == []
    assert len(loaded.skipped) == 1
    assert loaded.skipped[0].origin == str(tmp_path / "a.txt")
    assert loaded.skipped[0].reason.startswith(reason)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty: no article text"),
        ("blank.md", b"  \n\n\t\n", "empty: no article text"),
        ("debris.txt", "![]()\n|\nComments\nPost a Comment\n", "empty: no article text"),
        ("nul.txt", b"abc\x00def" * 10, "binary file"),
        ("image.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("controls.txt", b"\x01\x02\x03\x04\x05\x06\x07\x08 text", "binary file"),
        ("latin.txt", "Caf\u00e9 society\nbody".encode("latin-1"), "not valid UTF-8 at byte 3"),
        ("bom-latin.md", b"\xef\xbb\xbfab\xff", "not valid UTF-8 at byte 5"),
        ("bad.md", "---\ntitle: [oops\n---\nbody\n", "bad front matter: did not find expected ',' or ']'"),
        ("list.md", "---\n- a\n- b\n---\nbody\n", "bad front matter: not a mapping of keys to values"),
        ("open.md", "---\ntitle: x\nbody\n", "bad front matter: no closing '---' line"),
        ("bad.json", '{"text": "a",', "malformed JSON: "),
        ("scalar.json", "42", "JSON must be an object or an array of objects"),
        ("notext.json", '{"title": "t"}', "missing field 'text'"),
        ("numtext.json", '{"text": 5}', "field 'text' must be a string"),
        ("notfeed.xml", '<?xml version="1.0"?><root><a>1</a></root>', "not a feed"),
        ("garbage.rss", "this is not xml at all", "not a feed"),
        ("nofeed.atom", '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>', "empty: feed has no"),
    ],
)
def test_bad_files_are_skipped_with_reason(tmp_path: Path, name: str, content: str | bytes, reason: str) -> None:
    path = write(tmp_path, name, content)
    loaded = load([path])
    assert loaded.articles == []
    assert len(loaded.skipped) == 1, loaded.skipped
    assert loaded.skipped[0].origin == str(path)
    assert loaded.skipped[0].reason.startswith(reason), loaded.skipped[0].reason
    assert loaded.files == [path.resolve()]


def test_oversized_file(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "Title\n" + "word " * 100)
    size = path.stat().st_size
    loaded = load([path], max_bytes=100)
    assert reasons(loaded) == {
        "big.txt": f"file too large: {size} bytes > limit 100 (raise ASSISTANT_MAX_FILE_MB to read it)"
    }
    assert len(load([path], max_bytes=size).articles) == 1


def test_feed_entities_expanding_past_the_limit_are_refused(tmp_path: Path) -> None:
    """Five levels of ten-fold XML entities: 470 bytes that expand to 7.6 MB of text, under the XML parser's own
    amplification limit (8 MiB). The limit that bounds a file bounds the text it becomes; the other entry stays."""
    words = "aaaaaaaa aaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    entities = f'<!ENTITY a "{words}">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(5)
    )
    items = "<item><title>Laughs</title><description>&f;</description></item>" + (
        "<item><title>Harbour</title><description>Ships docked at the harbour.</description></item>"
    )
    path = write(
        tmp_path,
        "laughs.rss",
        f'<?xml version="1.0"?><!DOCTYPE r [{entities}]><rss version="2.0"><channel><title>W</title>{items}'
        "</channel></rss>",
    )
    assert path.stat().st_size < 1000
    loaded = load([path], max_bytes=1 << 20)
    assert [article.title for article in loaded.articles] == ["Harbour"]
    assert [(item.origin, item.reason) for item in loaded.skipped] == [
        (
            f"{path}#1",
            "article text expands to 7600000 bytes > limit 1048576 (raise ASSISTANT_MAX_FILE_MB to read it)",
        )
    ]


# Codecs Python knows that decode no text: binary and text transforms (bytes.decode refuses them with LookupError),
# one that refuses everything, and two that raise UnicodeError rather than UnicodeDecodeError on a document.
NOT_TEXT_CODECS = ["uu", "base64", "hex", "zip", "bz2", "quopri", "rot13", "undefined", "punycode", "idna"]


@pytest.mark.parametrize("codec", NOT_TEXT_CODECS)
@pytest.mark.parametrize("encoded_as", ["utf-8", "latin-1"])
@pytest.mark.parametrize("suffix", [".html", ".rss"])
def test_a_declared_codec_that_decodes_no_text_is_ignored(
    tmp_path: Path, codec: str, encoded_as: str, suffix: str
) -> None:
    """A page's <meta charset> or a feed's encoding="…" naming such a codec (the fuzzer found charset=uu) is read as
    if it declared nothing: UTF-8, or the encoding detected."""
    body = "Ships docked at the harbour on the morning of the storm, officials said, and the café closed."
    document = {
        ".html": f"<html><head><title>Harbour</title><meta charset={codec}></head><body><article><p>{body}</p>"
        "</article></body></html>",
        ".rss": f'<?xml version="1.0" encoding="{codec}"?><rss version="2.0"><channel><title>W</title><item>'
        f"<title>Harbour</title><description>{body}</description></item></channel></rss>",
    }[suffix]
    loaded = load([write(tmp_path, f"page{suffix}", document.encode(encoded_as))])
    assert loaded.skipped == [] and [article.text for article in loaded.articles] == [body]


def test_jsonl_malformed_line_and_missing_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.jsonl",
        '{"title": "ok", "text": "First good."}\n{"title": broken}\n\n{"title": "no text"}\n[1, 2]\n'
        '{"text": ""}\n{"text": "Last good."}\n',
    )
    loaded = load([path])
    assert [a.text for a in loaded.articles] == ["First good.", "Last good."]
    assert [a.origin for a in loaded.articles] == [f"{path}:1", f"{path}:7"]
    by_line = {s.line: s.reason for s in loaded.skipped}
    assert by_line[2].startswith("malformed JSON: Expecting value")
    assert by_line[4] == "missing field 'text'"
    assert by_line[5] == "record is not a JSON object"
    assert by_line[6] == "empty: no article text"
    assert all(s.origin == str(path) for s in loaded.skipped)
    assert loaded.skipped[0].describe().startswith(f"{path}:2: malformed JSON")


def test_utf16_and_bom_files_load(tmp_path: Path) -> None:
    a = write(tmp_path, "u16.txt", f"Wide Title\n{BODY}\n".encode("utf-16"))
    b = write(tmp_path, "sig.txt", b"\xef\xbb\xbf" + "Sig Title\nCaf\u00e9 body.\n".encode())
    loaded = load([a, b])
    assert [(x.title, x.text) for x in loaded.articles] == [("Wide Title", BODY), ("Sig Title", "Café body.")]


def test_unreadable_path_reports_os_error(tmp_path: Path) -> None:
    folder = tmp_path / "looks-like.txt"
    folder.mkdir()
    articles, skipped = load_file(folder, tmp_path, max_bytes=1000)
    assert articles == []
    assert skipped == [Skipped(str(folder), "Is a directory")]


def test_unexpected_parser_error_does_not_escape_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(text: str) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(formats, "parse_txt", boom)
    path = write(tmp_path, "a.txt", "Title\nBody.\n")
    loaded = load([path, write(tmp_path, "b.json", '{"text": "Other."}')])
    assert reasons(loaded) == {"a.txt": "unexpected error: RuntimeError: parser bug"}
    assert [a.text for a in loaded.articles] == ["Other."]
    failure = Skipped(str(path), "unexpected error: RuntimeError: parser bug")
    assert load_file(path, tmp_path, max_bytes=1000) == ([], [failure])


def test_nonexistent_and_unsupported_inputs(tmp_path: Path) -> None:
    doc = write(tmp_path, "report.pdf", b"%PDF-1.4")
    noext = write(tmp_path, "README", "hello")
    loaded = load([tmp_path / "missing.txt", doc, noext, str(tmp_path / "*.nothing")])
    assert [(s.origin, s.reason) for s in loaded.skipped] == [
        (str(tmp_path / "missing.txt"), "no such file or directory"),
        (str(doc), "unsupported file type .pdf"),
        (str(noext), "unsupported file type (no extension)"),
        (str(tmp_path / "*.nothing"), "no such file or directory"),
    ]
    assert loaded.articles == [] and loaded.files == []


def test_duplicate_text_keeps_first(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", f"Title A\n{BODY}\n")
    write(tmp_path, "b.txt", f"Title A\n{BODY}\n")
    write(tmp_path, "c.jsonl", json.dumps({"id": "c1", "title": "Title A", "text": BODY}) + "\n")
    write(tmp_path, "d.txt", f"Title D\n{BODY}\n")  # same body, another story's title: kept
    loaded = load([tmp_path])
    first_id = f"{tmp_path.name}/a.txt"
    assert [a.id for a in loaded.articles] == [first_id, f"{tmp_path.name}/d.txt"]
    assert [(Path(s.origin).name, s.line, s.reason) for s in loaded.skipped] == [
        ("b.txt", None, f"duplicate of {first_id}"),
        ("c.jsonl", 1, f"duplicate of {first_id}"),
    ]


def test_duplicate_id_undated_keeps_the_later_record(tmp_path: Path) -> None:
    # An export appends newer versions of a story: without dates, the later record is the newer one.
    path = write(tmp_path, "d.jsonl", '{"id": "x", "text": "One."}\n{"id": "x", "text": "Two."}\n')
    loaded = load([path])
    assert [a.text for a in loaded.articles] == ["Two."]
    assert loaded.skipped == [Skipped(str(path), SUPERSEDED, 1)]


# ---------------------------------------------------------------- discovery and identity


def make_tree(root: Path) -> None:
    write(root, "b.txt", "B\nBody b.\n")
    write(root, "a.md", "# A\nBody a.\n")
    write(root, "a.meta.json", '{"source": "Side"}')
    write(root, "sub/deeper/c.json", '{"text": "Body c."}')
    write(root, "sub/d.jsonl", '{"text": "Body d."}\n')
    write(root, "sub/notes.csv", "x,y\n")
    write(root, ".hidden/e.txt", "E\nBody e.\n")
    write(root, ".f.txt", "F\nBody f.\n")
    write(root, "orphan.meta.json", "{}")


def test_folder_recursion_sorted_hidden_and_sidecars_skipped(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    make_tree(root)
    pairs, skipped = discover([root])
    assert [file.relative_to(root).as_posix() for _, file in pairs] == [
        "a.md",
        "b.txt",
        "sub/d.jsonl",
        "sub/deeper/c.json",
    ]
    assert all(r == root for r, _ in pairs)
    assert skipped == [Skipped(str(root / "sub" / "notes.csv"), "unsupported file type .csv")]
    loaded = load([root])
    assert [a.id for a in loaded.articles] == [
        "corpus/a.md",
        "corpus/b.txt",
        "sha256:" + loaded.articles[2].copy_hash[:16],
        "corpus/sub/deeper/c.json",
    ]
    assert loaded.articles[0].source == "Side"
    assert loaded.files == [file.resolve() for _, file in pairs]


def test_glob_patterns(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    make_tree(root)
    pairs, skipped = discover([str(root / "**" / "*.json*")])
    assert [file.name for _, file in pairs] == ["d.jsonl", "c.json"]  # sidecars are not articles
    assert [r for r, _ in pairs] == [root / "sub", root / "sub" / "deeper"]
    assert skipped == []
    loaded = load([str(root / "*.txt")])
    assert [a.id for a in loaded.articles] == ["corpus/b.txt"]


def test_explicit_sidecar_and_overlapping_inputs(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    make_tree(root)
    pairs, skipped = discover([root / "b.txt", root, str(root / "*.txt"), root / "a.meta.json"])
    names = [file.name for _, file in pairs]
    assert names.count("b.txt") == 1 and len(names) == 4
    assert [s.reason for s in skipped] == [
        "unsupported file type .csv",
        "sidecar metadata, loaded with its article, not on its own",
    ]


def test_empty_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert discover([tmp_path / "empty"]) == ([], [Skipped(str(tmp_path / "empty"), "no article files in folder")])


def test_ids_stable_across_loads(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    make_tree(root)
    first = load([root])
    second = load([str(root)])
    assert [a.id for a in first.articles] == [a.id for a in second.articles]
    assert first.articles == second.articles
    assert [a.content_hash for a in first.articles] == [a.content_hash for a in second.articles]


def test_file_id_uses_given_root(tmp_path: Path) -> None:
    path = write(tmp_path, "corpus/sub/x.txt", "X\nBody x.\n")
    articles, skipped = load_file(path, tmp_path / "corpus", max_bytes=1000)
    assert skipped == [] and [a.id for a in articles] == ["corpus/sub/x.txt"]


def test_supported_suffixes() -> None:
    assert {
        ".txt",
        ".md",
        ".markdown",
        ".html",
        ".htm",
        ".xhtml",
        ".html.gz",
        ".json",
        ".jsonl",
        ".xml",
        ".rss",
        ".atom",
    } == set(SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-02-17", "2025-02-17"),
        ("2025-02-17T23:30:00-05:00", "2025-02-17"),
        ("2025-02-17T10:00:00Z", "2025-02-17"),
        ("2025-02-17 10:00", "2025-02-17"),
        ("Mon, 17 Feb 2025 10:00:00 GMT", "2025-02-17"),
        ("Tue, 18 Feb 2025 09:00:00 +0900", "2025-02-18"),
        ("February 17, 2025", "2025-02-17"),
        ("17 February 2025", "2025-02-17"),
        ("February 2025", "2025-02"),
        ("2025-02", "2025-02"),
        ("2025/2", "2025-02"),
        ("2025", "2025"),
        (" 2025 ", "2025"),
        (2025, "2025"),
        (dt.datetime(2025, 2, 17, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))), "2025-02-17"),
        (dt.date(2025, 2, 17), "2025-02-17"),
        (time.struct_time((2025, 2, 17, 10, 0, 0, 0, 48, 0)), "2025-02-17"),
        (None, None),
        ("", None),
        ("   ", None),
        ("not a date", None),
        ("February 17", None),  # no year: never guessed
        ("2025-13", None),
        ("2025-02-30", None),
        (True, None),
        (12, None),
        (3.5, None),
        ({"year": 2025}, None),
    ],
)
def test_parse_date(value: object, expected: str | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.com/story", "https://example.com/story"),
        ("http://example.com/a?b=1", "http://example.com/a?b=1"),
        ("javascript:window.__pwned=1", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("/relative/path", None),
        ("ftp://example.com/file", None),
    ],
)
def test_only_web_urls_are_kept_and_others_never_become_ids(tmp_path: Path, url: str, kept: str | None) -> None:
    path = write(tmp_path, "news/story.md", f"---\ntitle: Story\nurl: '{url}'\n---\n\n{BODY}\n")
    article = only(load([path]))
    assert article.url == kept
    assert article.id == (kept or "news/story.md")

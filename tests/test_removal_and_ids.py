"""Ids, removal and updates on real inputs (issue 11): a removed article stays removed, `index remove` takes an id,
a URL or a path, an article's id does not depend on which parent folder is named, and an export's newest version
of an id wins. The inputs are the reductions of real pages, feeds and exports in tests/data/real.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FakeEmbedder, article_ids

from assistant import build_index, describe_index, remove_articles, update_index
from assistant.cli import cli
from assistant.index.store import backend_for
from assistant.ingest.duplicates import SUPERSEDED

REAL = Path(__file__).parent / "data" / "real"
PAGE_URL = "https://www.rollingstone.com/music/music-news/rock-band-anniversary-tour-000001/"


def ids(index: str | Path) -> set[str]:
    return article_ids(index)


def corpus(root: Path) -> Path:
    """A folder as a user has it: saved pages, a sub-folder of feeds in legacy encodings, a plain text note."""
    (root / "enc").mkdir(parents=True)
    for name in ("pmc-canonical-after-body.html", "space-related-link.html"):
        shutil.copy(REAL / name, root / name)
    for name in ("undeclared-koi8r.xml", "undeclared-windows1255.xml"):
        shutil.copy(REAL / name, root / "enc" / name)
    (root / "enc" / "note.txt").write_text("A note\n\nThe harbour reopened on Tuesday after the storm.\n")
    return root


def run(*args: str | Path):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_a_removed_article_stays_out_of_updates_of_its_folder(tmp_path: Path, index_location: str | Path) -> None:
    news, index = corpus(tmp_path / "odd"), index_location
    build_index([news], index, embedder=FakeEmbedder())
    assert remove_articles(["odd/enc/note.txt"], index).removed == ["odd/enc/note.txt"]
    summary = update_index([news], index, embedder=FakeEmbedder())
    assert "odd/enc/note.txt" not in ids(index)
    assert summary.kept_out == ["odd/enc/note.txt"] and summary.added == [] and not summary.published
    assert [item.id for item in describe_index(index).removed] == ["odd/enc/note.txt"]
    # A rebuild of the folder keeps it out too: the removal lasts until it is undone.
    rebuilt = build_index([news], index, embedder=FakeEmbedder())
    assert rebuilt.kept_out == ["odd/enc/note.txt"] and "odd/enc/note.txt" not in ids(index)
    # Naming the file itself brings it back, and the index forgets the removal.
    back = update_index([news / "enc" / "note.txt"], index, embedder=FakeEmbedder(), prune=False)
    assert back.added == ["odd/enc/note.txt"] and describe_index(index).removed == ()
    assert update_index([news], index, embedder=FakeEmbedder()).kept_out == []
    assert backend_for(index).check().problems == ()


def test_info_lists_removed_articles_and_update_says_they_were_kept_out(
    tmp_path: Path, index_location: str | Path
) -> None:
    news, index = corpus(tmp_path / "odd"), index_location
    assert run("index", "build", news, "--index", index).exit_code == 0
    assert run("index", "remove", news / "enc" / "note.txt", "--index", index).exit_code == 0
    info = run("index", "info", "--index", index).stdout
    assert "removed:     1" in info and "odd/enc/note.txt\tremoved " in info and "\tA note" in info
    update = run("index", "update", news, "--index", index)
    assert "kept out 1 article(s) removed with `assistant index remove`" in update.stdout


@pytest.mark.parametrize(
    "target",
    [PAGE_URL, "PATH"],  # the article's URL, or the path of the page it was read from
)
def test_remove_by_url_or_by_path_for_an_article_known_by_its_url(
    tmp_path: Path, target: str, index_location: str | Path
) -> None:
    news, index = corpus(tmp_path / "odd"), index_location
    build_index([news], index, embedder=FakeEmbedder())
    assert PAGE_URL in ids(index)  # a page with a canonical link is known by its URL
    name = str(news / "pmc-canonical-after-body.html") if target == "PATH" else target
    result = run("index", "remove", name, "--index", index)
    assert result.exit_code == 0, result.stdout
    assert PAGE_URL not in ids(index)


def test_remove_by_a_jsonl_path_removes_every_record_of_it(tmp_path: Path, index_location: str | Path) -> None:
    (tmp_path / "news").mkdir()
    export = tmp_path / "news" / "npr.jsonl"
    shutil.copy(REAL / "npr-export-html-text.jsonl", export)
    build_index([tmp_path / "news"], index_location, embedder=FakeEmbedder())
    summary = remove_articles([str(export)], index_location)
    assert sorted(summary.removed) == ["1050100000", "1050201000", "1050315385"] and ids(index_location) == set()


def test_unknown_target_is_reported(tmp_path: Path, index_location: str | Path) -> None:
    news, index = corpus(tmp_path / "odd"), index_location
    build_index([news], index, embedder=FakeEmbedder())
    result = run("index", "remove", "https://example.org/nothing", "--index", index)
    assert result.exit_code == 3 and "no article with this id, URL or file in the index" in result.stdout


@pytest.mark.parametrize(("first", "then"), [("odd", "odd/enc"), ("odd/enc", "odd")])
def test_an_articles_id_does_not_depend_on_the_parent_folder_named(
    tmp_path: Path, first: str, then: str, index_location: str | Path
) -> None:
    corpus(tmp_path / "odd")
    index = index_location
    build_index([tmp_path / first], index, embedder=FakeEmbedder())
    before = ids(index)
    summary = update_index([tmp_path / then], index, embedder=FakeEmbedder())
    # Nothing under odd/enc is removed and added again; naming odd adds only the pages beside enc/.
    assert (summary.removed, summary.changed) == ([], [])
    assert ids(index) == before | set(summary.added) and not (set(summary.added) & before)
    assert all(article_id.startswith("https://") for article_id in summary.added)


def versions(path: Path) -> Path:
    """The NPR export as a stream of versions: a corrected story later in the file, an older copy after it."""
    records = [json.loads(line) for line in (REAL / "npr-export-html-text.jsonl").read_text().splitlines()]
    corrected = dict(records[1], date=records[1]["date"] + 86400, text="Corrected: " + records[1]["text"])
    stale = dict(records[0], date="2021-10-01", text="An early draft of the story about drones.")
    lines = [*records, corrected, stale]
    path.write_text("".join(json.dumps(record) + "\n" for record in lines), encoding="utf-8")
    return path


def test_the_newest_version_of_an_id_wins_and_says_so(tmp_path: Path, index_location: str | Path) -> None:
    (tmp_path / "news").mkdir()
    export = versions(tmp_path / "news" / "export.jsonl")
    summary = build_index([tmp_path / "news"], index_location, embedder=FakeEmbedder())
    assert sorted(summary.added) == ["1050100000", "1050201000", "1050315385"]
    assert [(s.line, s.reason) for s in summary.skipped] == [(2, SUPERSEDED), (5, SUPERSEDED)]
    reader = backend_for(index_location).reader()
    try:
        # The opening passage of each article: what a reader of it sees first.
        texts = {row.article_id: row.text for row in reader.chunk_rows(reader.first_chunks(summary.added)).values()}
    finally:
        reader.close()
    assert texts["1050201000"].startswith("Corrected:") and "early draft" not in texts["1050315385"]
    assert str(export) in {s.origin for s in summary.skipped}


def test_repeated_reasons_are_summarised_in_one_line(tmp_path: Path, index_location: str | Path) -> None:
    (tmp_path / "news").mkdir()
    lines = [
        json.dumps({"id": "story", "text": f"Version {n} of the story.", "date": 1574121600 + n}) for n in range(120)
    ]
    lines += [json.dumps({"id": f"bad-{n}", "text": f"Story {n}.", "date": "soon"}) for n in range(5)]
    (tmp_path / "news" / "export.jsonl").write_text("\n".join(lines) + "\n")
    result = run("index", "build", tmp_path / "news", "--index", index_location)
    assert result.exit_code == 0, result.stdout
    skipped = [line for line in result.stdout.splitlines() if "skipped" in line and "records" in line]
    assert skipped == [
        f"  skipped {tmp_path / 'news' / 'export.jsonl'}: 119 records: {SUPERSEDED} (lines 1, 2, 3, 4, 5, 6, 7, 8, …)"
    ]
    warned = [line for line in result.stdout.splitlines() if line.startswith("  warning")]
    assert warned == [
        f"  warning {tmp_path / 'news' / 'export.jsonl'}: 5 records: unparseable date 'soon' ignored: indexed without"
        " a date (lines 121, 122, 123, 124, 125)"
    ]

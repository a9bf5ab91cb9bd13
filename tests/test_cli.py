"""The ``assistant`` command, with the real packaged model: data on stdout, messages on stderr, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SEED, SEED_QUESTION, news_corpus, write_jsonl

from assistant import build_index
from assistant.cli import cli
from assistant.index.local.reader import IndexReader
from assistant.settings import get_settings

REPO = Path(__file__).resolve().parents[1]
HIT_FIELDS = {"text", "start", "end", "article_id", "title", "date", "source", "url", "score", "dense", "bm25"}


def run(*args: str | Path):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def search_json(index: Path, *args: str | Path) -> list[dict]:
    result = run("search", *args, "--json", "--index", index)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["hits"]


@pytest.fixture(scope="module")
def built_news(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """The news corpus indexed once with the real model; tests get a copy (isolated_env is not active yet)."""
    root = tmp_path_factory.mktemp("cli-news")
    settings = get_settings(progress=False)
    build_index([news_corpus(root / "news")], root / "idx", embedder=real_embedder, settings=settings)
    return root / "idx"


@pytest.fixture
def news_index(built_news: Path, tmp_path: Path) -> Path:
    shutil.copytree(built_news, tmp_path / "idx")
    return tmp_path / "idx"


# -- build and search ------------------------------------------------------------------------------------------


def test_index_build_prints_a_summary(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    result = run("index", "build", SEED, "--index", index)
    assert result.exit_code == 0, result.stderr
    assert f"{index}: generation 1 — 1 articles, " in result.stdout
    assert "added 1, changed 0, removed 0, unchanged 0, skipped 0" in result.stdout
    assert (index / "CURRENT").read_text().strip() == "store-000001"


def test_index_build_progress_goes_to_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_PROGRESS", "true")
    result = run("index", "build", SEED, "--index", tmp_path / "idx", "--json")
    assert result.exit_code == 0, result.stderr
    assert "embedding" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["counts"]["added"] == 1 and summary["published"] is True


def test_search_json_carries_every_field(seed_index: Path) -> None:
    hits = search_json(seed_index, SEED_QUESTION)
    assert hits and all(set(hit) >= HIT_FIELDS for hit in hits)
    top = hits[0]
    assert "23 billion yuan" in top["text"]
    reader = IndexReader.open(seed_index)
    article = reader.article(top["article_id"])
    reader.close()
    assert article["text"][top["start"] : top["end"]] == top["text"]
    assert (top["title"], top["date"], top["source"]) == (article["title"], "2025-02", "tech news blog")
    assert top["score"] > 0 and top["dense"] is not None and top["bm25"] is not None


def test_search_k(seed_index: Path) -> None:
    reader = IndexReader.open(seed_index)
    chunks = reader.scalar("SELECT count(*) FROM chunks")
    reader.close()
    assert 3 < chunks < 8
    assert len(search_json(seed_index, SEED_QUESTION)) == chunks  # default k=8: every chunk of the one article
    assert len(search_json(seed_index, SEED_QUESTION, "--k", "3")) == 3
    one = search_json(seed_index, SEED_QUESTION, "--k", "1")
    assert len(one) == 1 and "23 billion yuan" in one[0]["text"]


def test_search_text_output(seed_index: Path) -> None:
    result = run("search", SEED_QUESTION, "--k", "1", "--index", seed_index)
    assert result.exit_code == 0
    assert result.stdout.startswith("[1] Chinese Tech Giants Rush to Invest in AI")
    assert "23 billion yuan" in result.stdout and result.stderr == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--source", "Finance Daily"), {"news/rates.md", "news/rates-old.md"}),
        (
            ("--source", "Finance Daily", "--source", "Sports Wire"),
            {"news/rates.md", "news/rates-old.md", "news/football.md"},
        ),
        (("--since", "2024-03"), {"news/rates.md", "news/volcano.md"}),
        (("--until", "2024-02"), {"news/football.md", "news/rates-old.md"}),
        (("--since", "2024-02-20", "--until", "2024-03-05"), {"news/football.md", "news/rates.md"}),
        (("--as-of", "2024-03-06"), {"news/rates.md", "news/rates-old.md", "news/football.md", "news/undated.txt"}),
    ],
)
def test_search_filters(news_index: Path, args: tuple[str, ...], expected: set[str]) -> None:
    hits = search_json(news_index, "central bank interest rate", "--k", "10", *args)
    assert {hit["article_id"] for hit in hits} == expected


def test_search_as_of_ranks_recent_news_first(news_index: Path) -> None:
    hits = search_json(news_index, "central bank interest rate", "--as-of", "2024-03-06")
    assert hits[0]["article_id"] == "news/rates.md"


# -- info, verify, update, remove ------------------------------------------------------------------------------


def test_index_info(news_index: Path, real_embedder) -> None:
    result = run("index", "info", "--index", news_index)
    assert result.exit_code == 0, result.stderr
    assert "articles:    5" in result.stdout
    assert "2023-01-15 … 2024-03-10 (1 undated)" in result.stdout
    assert "Finance Daily (2)" in result.stdout

    info = json.loads(run("index", "info", "--index", news_index, "--json").stdout)
    reader = IndexReader.open(news_index)
    chunks = reader.scalar("SELECT count(*) FROM chunks")
    reader.close()
    assert info["articles"] == 5 and info["chunks"] == chunks
    assert info["date_range"] == {"first": "2023-01-15", "last": "2024-03-10", "undated": 1}
    assert {s["source"]: s["articles"] for s in info["sources"]} == {
        "Finance Daily": 2,
        "Reykjavik Post": 1,
        "Sports Wire": 1,
    }
    assert info["model"]["identity"] == real_embedder.identity and info["model"]["dimension"] == 384
    assert info["generation"] == 1
    assert info["bytes"] == sum(p.stat().st_size for p in (news_index / "store-000001").rglob("*") if p.is_file())
    assert info["segments"] == 1


def test_index_verify_ok_then_corrupt(news_index: Path) -> None:
    result = run("index", "verify", "--index", news_index)
    assert result.exit_code == 0 and result.stdout.startswith("ok: generation 1, 5 articles")
    vectors = news_index / "store-000001" / "segments" / "seg-00000001.vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    vectors.write_bytes(bytes(data))
    result = run("index", "verify", "--index", news_index)
    assert result.exit_code == 6
    assert "problem:" in result.stderr and "seg-00000001.vectors.npy" in result.stderr
    assert result.stdout == ""
    verdict = json.loads(run("index", "verify", "--index", news_index, "--json").stdout)
    assert verdict["ok"] is False and verdict["generation"] == 1 and verdict["problems"]


def _bad_folder(tmp_path: Path) -> Path:
    bad = tmp_path / "incoming"
    bad.mkdir()
    (bad / "empty.txt").write_text("")
    (bad / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    write_jsonl(bad / "feed.jsonl", [{"title": "Comet over the bay", "text": "Astronomers saw a bright comet."}])
    with (bad / "feed.jsonl").open("a") as handle:
        handle.write("{broken\n")
    return bad


def test_index_update_lists_skipped_files(news_index: Path, tmp_path: Path) -> None:
    bad = _bad_folder(tmp_path)
    result = run("index", "update", bad, "--index", news_index)
    assert result.exit_code == 0, result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("  skipped ")]
    assert len(skipped) == 3
    assert any("empty.txt: " in line and "empty" in line.split("empty.txt: ")[1] for line in skipped)
    assert any("binary.txt: " in line and "binary" in line for line in skipped)
    assert any("feed.jsonl:2: " in line and "malformed JSON" in line for line in skipped)
    assert "6 articles" in result.stdout


def test_index_update_json_lists_skipped(news_index: Path, tmp_path: Path) -> None:
    bad = _bad_folder(tmp_path)
    result = run("index", "update", bad, "--index", news_index, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    skipped = {(Path(s["origin"]).name, s["line"]): s["reason"] for s in summary["skipped"]}
    assert all(set(s) == {"origin", "line", "reason"} for s in summary["skipped"])
    assert set(skipped) == {("empty.txt", None), ("binary.txt", None), ("feed.jsonl", 2)}
    assert "malformed JSON" in skipped[("feed.jsonl", 2)]
    assert summary["counts"] == {"added": 1, "changed": 0, "removed": 0, "unchanged": 0, "skipped": 3}
    assert summary["articles"] == 6


def test_build_where_every_input_fails_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("  \n")
    (bad / "binary.txt").write_bytes(b"\x00" * 64)
    index = tmp_path / "idx"
    result = run("index", "build", bad, "--index", index)
    assert result.exit_code == 9
    assert result.stderr.startswith("error: no article could be indexed") and "empty.txt" in result.stderr
    assert result.stdout == ""
    assert not (index / "CURRENT").exists()
    assert list(index.glob("gen-*")) == [] and list(index.glob(".tmp-*")) == []


def test_index_remove_then_info_articles(news_index: Path) -> None:
    before = run("index", "info", "--articles", "--index", news_index).stdout
    assert "news/rates.md\t2024-03-05\tFinance Daily\tCentral bank raises interest rates" in before
    result = run("index", "remove", "news/rates.md", "--index", news_index)
    assert result.exit_code == 0, result.stderr
    assert "generation 2 — 4 articles" in result.stdout and "removed 1" in result.stdout
    after = run("index", "info", "--articles", "--index", news_index).stdout
    listed, _, articles = after.partition("news/rates.md\tremoved ")  # the removal is remembered and listed
    assert "removed:     1" in listed and "news/rates.md\t" not in articles and "news/rates-old.md\t" in articles
    assert "articles:    4" in after
    missing = run("index", "remove", "news/rates.md", "--index", news_index)
    assert missing.exit_code == 3 and "no article with this id in the index (removed " in missing.stdout


def test_index_optimize_merges_into_one_segment_with_the_same_answers(news_index: Path) -> None:
    assert run("index", "remove", "news/rates.md", "--index", news_index).exit_code == 0
    before = search_json(news_index, "central bank interest rate", "--as-of", "2024-06-01")
    info = json.loads(run("index", "info", "--index", news_index, "--json").stdout)
    assert (info["generation"], info["segments"]) == (2, 1)
    result = run("index", "optimize", "--index", news_index)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{news_index}: generation 2 — 4 articles, 4 chunks in one segment (1 merge")
    assert search_json(news_index, "central bank interest rate", "--as-of", "2024-06-01") == before
    summary = json.loads(run("index", "optimize", "--index", news_index, "--json").stdout)
    assert summary["merges"] == 0 and summary["generation"] == 2  # one segment, nothing tombstoned: nothing to do
    assert run("index", "verify", "--index", news_index).exit_code == 0


# -- errors ----------------------------------------------------------------------------------------------------


def test_search_without_an_index_tells_how_to_build_one(tmp_path: Path) -> None:
    result = run("search", SEED_QUESTION, "--index", tmp_path / "nowhere")
    assert result.exit_code == 5
    assert "assistant index build" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("value", ["yesterday", "2024-02-30"])
def test_search_with_a_bad_as_of_exits_2(news_index: Path, value: str) -> None:
    result = run("search", "central bank", "--as-of", value, "--index", news_index)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: as_of:") and repr(value) in result.stderr


def test_info_on_missing_index_exits_5(tmp_path: Path) -> None:
    result = run("index", "info", "--index", tmp_path / "nowhere")
    assert result.exit_code == 5 and "assistant index build" in result.stderr


# -- a real process --------------------------------------------------------------------------------------------


def test_subprocess_stdout_holds_only_data(seed_index: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "-v", "search", SEED_QUESTION, "--json", "--k", "1", "--index", seed_index],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)  # nothing but the JSON document
    assert body["query"] == SEED_QUESTION and len(body["hits"]) == 1
    assert "23 billion yuan" in body["hits"][0]["text"]
    assert "loading embedding model" in done.stderr  # -v logs go to stderr


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [("ASSISTANT_K", "0", "greater than or equal to 1"), ("ASSISTANT_CHUNK_SIZE", "lots", "valid integer")],
)
def test_a_bad_setting_is_named_with_exit_2_not_a_traceback(tmp_path: Path, name: str, value: str, said: str) -> None:
    result = CliRunner(env={name: value}).invoke(cli, ["search", "volcano", "--index", str(tmp_path / "none")])
    assert result.exit_code == 2, result.output
    assert f"invalid setting: {name}={value!r}" in result.output and said in result.output
    assert "Traceback" not in result.output

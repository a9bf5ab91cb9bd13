"""The same assistant on either index backend: asking, following up, the page's Library, failures that keep the
previous index answering, and the commands; then what only a Milvus index can get wrong (a server that is down,
a Milvus Lite folder held by another process, a collection that is not ours) and how its address is written."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import BRIDGE_REPORTS, FakeEmbedder, article_ids, news_corpus, write_jsonl
from loopback import free_port

from assistant import (
    Assistant,
    ConfigError,
    IndexCorruptError,
    IndexLockedError,
    ModelMismatchError,
    StoreUnavailableError,
    build_index,
    remove_articles,
    update_index,
)
from assistant.cli import cli
from assistant.index.location import milvus_address
from assistant.index.store import backend_for, describe_index
from assistant.settings import get_settings

ASK = {"as_of": "2030-01-01"}


def _assistant(index: str | Path, **settings: object) -> Assistant:
    return Assistant.open(index, embedder=FakeEmbedder(), settings=get_settings(**settings))


# -- asking ------------------------------------------------------------------------------------------------------


def test_ask_cites_checkable_excerpts(tmp_path: Path, index_location: str | Path) -> None:
    build_index([news_corpus(tmp_path / "news")], index_location, embedder=FakeEmbedder())
    with _assistant(index_location) as assistant:
        answer = assistant.ask("Why did the central bank raise its interest rate?", **ASK)
    assert not answer.abstained and answer.citations
    first = answer.citations[0]
    assert first.article_id == "news/rates.md" and first.source == "Finance Daily"
    # The excerpt is the article's own text at the offsets the citation gives.
    text = (tmp_path / "news" / "rates.md").read_text(encoding="utf-8")
    assert "quarter point" in first.excerpt and first.excerpt.strip() in text


def test_absent_topics_are_abstained_from(tmp_path: Path, index_location: str | Path) -> None:
    build_index([news_corpus(tmp_path / "news")], index_location, embedder=FakeEmbedder())
    with _assistant(index_location) as assistant:
        answer = assistant.ask("Which quarterback won the Super Bowl MVP award?", **ASK)
    assert answer.abstained


def test_a_follow_up_is_answered_from_the_first_question(tmp_path: Path, index_location: str | Path) -> None:
    build_index([news_corpus(tmp_path / "news")], index_location, embedder=FakeEmbedder())
    with _assistant(index_location) as assistant:
        first = assistant.ask("What happened at the cup final?", **ASK)
        follow = assistant.ask("What was the score?", history=[first], **ASK)
    assert first.citations[0].article_id == "news/football.md"
    assert "cup final" in follow.query  # searched with what the first question was about
    assert follow.citations and follow.citations[0].article_id == "news/football.md"


def test_conflicting_outlets_are_shown(tmp_path: Path, index_location: str | Path) -> None:
    build_index([write_jsonl(tmp_path / "bridge.jsonl", BRIDGE_REPORTS)], index_location, embedder=FakeEmbedder())
    with _assistant(index_location) as assistant:
        answer = assistant.ask("How much did the Harbor Bridge repairs cost?", as_of="2024-06-01")
    assert answer.conflicts and {c.source for c in answer.citations} == {"Daily One", "Evening Two"}


def test_the_page_adds_articles_and_answers_from_them(tmp_path: Path, index_location: str | Path) -> None:
    from assistant_ui.service import ChatService

    build_index([news_corpus(tmp_path / "news")], index_location, embedder=FakeEmbedder())
    service = ChatService(get_settings(), index_location, tmp_path / "uploads", embedder=FakeEmbedder())
    story = tmp_path / "ferry.txt"
    story.write_text("Lake Vorzhana ferry back in service\n\nThe Lake Vorzhana ferry carries 312 passengers.\n")
    result = service.add_articles([str(story)], "", "", "")
    assert len(result["added"]) == 1 and result["skipped"] == []
    answer = service.ask(
        "How many passengers does the Lake Vorzhana ferry carry?", "2030-01-01", "", "", [], 4, "extractive"
    )
    assert "312" in answer["text"] and answer["generation"] == 2
    assert "Lake Vorzhana ferry back in service" in {row[0] for row in service.library("")[1]}


# -- failures keep the previous index answering --------------------------------------------------------------------


class _FailingEmbedder(FakeEmbedder):
    """Fails on its ``fail_at``-th batch: an update that dies halfway through writing."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.batches = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches += 1
        if self.batches >= self.fail_at:
            raise RuntimeError("embedding died")
        return super().embed(texts)


def test_a_failed_update_leaves_the_previous_index_answering(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    before = describe_index(index_location)
    for n in range(600):  # more than one embedding group: some are written before the failure
        (corpus / f"wire{n}.txt").write_text(f"Wire {n}\n\nHarbor crane number {n} was repaired.\n")
    (corpus / "volcano.md").unlink()
    with pytest.raises(RuntimeError, match="embedding died"):
        update_index([corpus], index_location, embedder=_FailingEmbedder(fail_at=2))
    after = describe_index(index_location)
    assert (after.generation, after.articles, after.chunks) == (before.generation, before.articles, before.chunks)
    assert backend_for(index_location).check().problems == ()
    with _assistant(index_location) as assistant:
        assert assistant.ask("What erupted on the Iceland peninsula?", **ASK).citations[0].article_id == (
            "news/volcano.md"
        )
    # The next writer starts clean: what the dead one wrote is not counted twice.
    summary = update_index([corpus], index_location, embedder=FakeEmbedder())
    assert len(summary.added) == 600 and summary.removed == ["news/volcano.md"]
    assert backend_for(index_location).check().problems == () and describe_index(index_location).articles == 604


def test_one_writer_at_a_time(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    with (
        backend_for(index_location).writer(model=None, chunker=None),
        pytest.raises(IndexLockedError, match="being updated"),
    ):
        update_index([corpus], index_location, embedder=FakeEmbedder())
    assert update_index([corpus], index_location, embedder=FakeEmbedder()).unchanged == 5


def test_the_model_is_recorded_and_checked(tmp_path: Path, index_location: str | Path) -> None:
    from embedders import WideEmbedder

    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], index_location, embedder=FakeEmbedder())
    with pytest.raises(ModelMismatchError, match="fake-hashing@v1"):
        update_index([corpus], index_location, embedder=WideEmbedder())
    with pytest.raises(ModelMismatchError):
        Assistant.open(index_location, embedder=WideEmbedder())
    # A rebuild with the other model replaces the index, whatever its vectors' dimension was.
    build_index([corpus], index_location, embedder=WideEmbedder())
    assert describe_index(index_location).model.dimension == 4096 and len(article_ids(index_location)) == 5


def test_the_commands_work_on_either_backend(tmp_path: Path, index_location: str | Path) -> None:
    corpus = news_corpus(tmp_path / "news")
    env = {"ASSISTANT_EMBEDDER": "assistant.testing:HashingEmbedder"}
    runner = CliRunner(env=env)
    built = runner.invoke(cli, ["index", "build", str(corpus), "--index", str(index_location)])
    assert built.exit_code == 0, built.output
    info = runner.invoke(cli, ["index", "info", "--index", str(index_location), "--articles"])
    assert info.exit_code == 0 and "articles:    5" in info.output and "news/volcano.md" in info.output
    assert runner.invoke(cli, ["index", "verify", "--index", str(index_location)]).exit_code == 0
    found = runner.invoke(cli, ["search", "volcano lava", "--index", str(index_location), "-k", "1"])
    assert found.exit_code == 0 and "Volcano erupts" in found.output
    removed = runner.invoke(cli, ["index", "remove", "news/volcano.md", "--index", str(index_location)])
    assert removed.exit_code == 0 and "news/volcano.md" not in article_ids(index_location)


# -- Milvus only ------------------------------------------------------------------------------------------------------


def test_a_milvus_server_that_is_down_is_named(tmp_path: Path) -> None:
    address = f"milvus://127.0.0.1:{free_port()}/news"
    settings = get_settings(milvus_timeout=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"cannot reach Milvus at milvus://127\.0\.0\.1:\d+/news"):
        backend_for(address, settings).reader()
    assert time.monotonic() - started < 30
    runner = CliRunner(env={"ASSISTANT_MILVUS_TIMEOUT": "2"})
    result = runner.invoke(cli, ["search", "volcano", "--index", address])
    assert result.exit_code == 13 and "cannot reach Milvus" in result.output


def test_a_milvus_lite_folder_held_by_another_process_is_named(tmp_path: Path) -> None:
    build_index([news_corpus(tmp_path / "news")], f"milvus-lite:{tmp_path / 'm.db'}", embedder=FakeEmbedder())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from milvus_lite.server_manager import server_manager_instance
                assert server_manager_instance.start_and_get_uri({str(tmp_path / "m.db")!r})
                print("holding", flush=True)
                time.sleep(120)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreUnavailableError, match="open in another process"):
            backend_for(f"milvus-lite:{tmp_path / 'm.db'}").reader()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    reader = backend_for(f"milvus-lite:{tmp_path / 'm.db'}").reader()  # the lock goes with the process
    assert reader.chunk_count == 5
    reader.close()


def test_a_collection_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(tmp_path / "m.db"))
    schema = client.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=8)
    for kind in ("chunks", "articles", "meta"):
        client.create_collection(f"news_{kind}", schema=schema)
    client.close()
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_all()
    with pytest.raises(IndexCorruptError, match="was not made by this assistant"):
        build_index([news_corpus(tmp_path / "news")], f"milvus-lite:{tmp_path / 'm.db'}", embedder=FakeEmbedder())


@pytest.mark.parametrize(
    ("written", "uri", "collection"),
    [
        ("milvus://db.example:19531/archive", "http://db.example:19531", "archive"),
        ("milvus:/db.example:19531/archive", "http://db.example:19531", "archive"),  # as a path setting keeps it
        ("milvus://db.example", "http://db.example:19530", "news"),
    ],
)
def test_milvus_addresses(written: str, uri: str, collection: str) -> None:
    address = milvus_address(written)
    assert address is not None and (address.uri, address.collection, address.lite) == (uri, collection, False)
    assert milvus_address(Path(written)) == address
    assert milvus_address("index") is None and milvus_address(Path("some/folder")) is None


@pytest.mark.parametrize("written", ["milvus://", "milvus://host:port/x", "milvus://host/9lives", "milvus-lite:"])
def test_a_malformed_milvus_address_is_a_config_error(written: str) -> None:
    with pytest.raises(ConfigError):
        milvus_address(written)


def test_without_the_scale_extra_a_milvus_index_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[scale\]'"):
        backend_for("milvus://127.0.0.1:19530/news").reader()


def _raw_rows(location: str) -> dict[str, int]:
    """Rows Milvus holds in each collection in use, whatever generation they belong to."""
    from assistant.index.milvus.connection import ARTICLES, CHUNKS

    reader = backend_for(location).reader()
    connection = reader.connection  # type: ignore[attr-defined]
    try:
        return {kind: connection.count(kind, "uid >= 0") for kind in (CHUNKS, ARTICLES)}
    finally:
        reader.close()


def test_removals_and_replaced_versions_are_deleted_from_milvus(tmp_path: Path) -> None:
    location = f"milvus-lite:{tmp_path / 'm.db'}"
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], location, embedder=FakeEmbedder())
    assert _raw_rows(location) == {"chunks": 5, "articles": 5}
    (corpus / "rates.md").write_text((corpus / "rates.md").read_text() + "\nMarkets rose.\n")
    (corpus / "volcano.md").unlink()
    summary = update_index([corpus], location, embedder=FakeEmbedder())
    assert (summary.changed, summary.removed) == (["news/rates.md"], ["news/volcano.md"])
    assert _raw_rows(location) == {"chunks": 4, "articles": 4}  # not hidden: gone
    build_index([corpus], location, embedder=FakeEmbedder())  # a rebuild replaces every row
    assert _raw_rows(location) == {"chunks": 4, "articles": 4}


def test_an_index_of_another_schema_is_refused_with_the_rebuild_command(tmp_path: Path) -> None:
    import json

    from assistant.index.milvus.connection import META, UNUSED

    location = f"milvus-lite:{tmp_path / 'm.db'}"
    build_index([news_corpus(tmp_path / "news")], location, embedder=FakeEmbedder())
    reader = backend_for(location).reader()
    connection = reader.connection  # type: ignore[attr-defined]
    commit = {**reader.body, "schema_version": 99}  # type: ignore[attr-defined]
    connection.upsert(META, [{"key": "commit", "value": json.dumps(commit), "gen": 0, "unused": UNUSED}])
    reader.close()
    with pytest.raises(IndexCorruptError, match=r"schema 99.*assistant index build --index milvus-lite:"):
        backend_for(location).reader()


def test_an_index_of_the_previous_milvus_schema_is_rebuilt_in_place_keeping_its_removals(tmp_path: Path) -> None:
    """Schema 1 kept outlets and removals in a meta collection without generations: an update is refused with the
    rebuild command, and that rebuild works, keeps the removals remembered, and leaves nothing of schema 1."""
    import json

    from pymilvus import DataType

    from assistant.index.milvus.connection import META, UNUSED

    location = f"milvus-lite:{tmp_path / 'm.db'}"
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], location, embedder=FakeEmbedder())
    remove_articles(["news/volcano.md"], location)
    reader = backend_for(location).reader()
    connection = reader.connection  # type: ignore[attr-defined]
    body = {**reader.body, "schema_version": 1}  # type: ignore[attr-defined]
    removal = describe_index(location).removed[0]
    # The meta collection as schema 1 made it: key, value and a vector, values as plain JSON.
    client, name = connection.client, connection.names[META]
    client.drop_collection(name)
    schema = client.create_schema(auto_id=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=65_535)
    schema.add_field("value", DataType.VARCHAR, max_length=65_535)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("unused", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index)
    client.load_collection(name)
    removed = {"id": removal.id, "title": removal.title, "file": removal.file, "origin": removal.origin,
               "removed_at": removal.removed_at}  # fmt: skip
    client.upsert(name, [
        {"key": "commit", "value": json.dumps(body), "unused": UNUSED},
        {"key": f"removed/{removal.id}", "value": json.dumps(removed), "unused": UNUSED},
    ])  # fmt: skip
    reader.close()
    with pytest.raises(IndexCorruptError, match=r"schema 1.*assistant index build --index milvus-lite:"):
        update_index([corpus], location, embedder=FakeEmbedder())
    summary = build_index([corpus], location, embedder=FakeEmbedder())
    assert summary.published and summary.kept_out == ["news/volcano.md"] and summary.articles == 4
    assert [r.id for r in describe_index(location).removed] == ["news/volcano.md"]
    assert backend_for(location).check().problems == ()
    assert update_index([corpus], location, embedder=FakeEmbedder()).unchanged == 4


def test_a_writer_killed_mid_update_leaves_the_milvus_index_answering(tmp_path: Path) -> None:
    import signal

    from durability import extra_batch, kill_when_embedding
    from milvus_lite.server_manager import server_manager_instance
    from processes import child_env, program

    location = f"milvus-lite:{tmp_path / 'm.db'}"
    corpus = news_corpus(tmp_path / "news")
    build_index([corpus], location, embedder=FakeEmbedder())
    server_manager_instance.release_all()  # Milvus Lite serves one process per folder: the writer's turn
    extra = tmp_path / "extra"
    extra_batch(extra, 0, 200)
    mark = tmp_path / "embedding"
    env = child_env(
        ASSISTANT_EMBEDDER="embedders:SlowEmbedder",
        SLOW_EMBEDDER_SECONDS="0.05",
        SLOW_EMBEDDER_MARK=str(mark),
        ASSISTANT_SEGMENT_ROWS="10",  # inserted ten passages at a time: the kill finds some in Milvus
    )
    proc = subprocess.Popen(
        [*program("slow_writer"), location, str(corpus), str(extra)], env=env, stderr=subprocess.DEVNULL
    )
    kill_when_embedding(proc, mark)
    assert proc.returncode == -signal.SIGKILL
    assert _raw_rows(location)["chunks"] > 5, "the kill should have left rows of the unpublished generation"
    assert describe_index(location).generation == 1 and backend_for(location).check().problems == ()
    assert article_ids(location) == {f"news/{name}" for name in ("volcano.md", "rates.md", "rates-old.md",
                                                                    "football.md", "undated.txt")}  # fmt: skip
    summary = update_index([corpus, extra], location, embedder=FakeEmbedder())
    assert summary.published and len(summary.added) == 200 and summary.articles == 205
    assert _raw_rows(location) == {"chunks": 205, "articles": 205} and backend_for(location).check().problems == ()


def test_hostile_fields_are_stored_searched_and_removed(tmp_path: Path, index_location: str | Path) -> None:
    """A title far past Milvus's 65,535-byte field, quotes and backslashes in an id and an outlet (Milvus filter
    expressions quote them), and a right-to-left override: indexed, verified, found, filtered and removed."""
    hostile_id, outlet = 'q"uote\\back', 'Out"let\\'
    records = [
        {"id": hostile_id, "title": "Harbor ferry " * 8000, "source": outlet, "text": "The ferry carries 312 people."},
        {"id": "uni-é", "title": "RTL \u202e title", "text": "A second story about the harbor ferry."},
    ]
    build_index([write_jsonl(tmp_path / "hostile.jsonl", records)], index_location, embedder=FakeEmbedder())
    assert backend_for(index_location).check().problems == () and article_ids(index_location) == {hostile_id, "uni-é"}
    with _assistant(index_location) as assistant:
        answer = assistant.ask("How many people does the ferry carry?", sources=[outlet], **ASK)
    assert [c.article_id for c in answer.citations] == [hostile_id] and answer.citations[0].title.startswith("Harbor")
    summary = remove_articles([hostile_id], index_location)
    assert summary.removed == [hostile_id] and article_ids(index_location) == {"uni-é"}
    assert [item.id for item in describe_index(index_location).removed] == [hostile_id]
    assert backend_for(index_location).check().problems == ()

"""Shared fixtures: an isolated environment, a deterministic fake embedder, an LLM endpoint in the process, the real
packaged model, a small built index, and what the CLI costs in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fake_llm_server import ANSWER
from processes import REPO, measured_cli

from assistant.testing import FakeLLM, HashingEmbedder

if TYPE_CHECKING:
    from assistant.llm.client import ChatClient

SEED = REPO / "corpus" / "chinese-tech-giants-ai.txt"
SEED_QUESTION = "How much did Alibaba invest in AI in the first half of last year?"


# The library's own deterministic embedder (hashed bag of words): tests of the plumbing need no model, and it
# counts what it embeds, which is how tests prove that unchanged articles are not re-embedded.
FakeEmbedder = HashingEmbedder


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the run's processes keep the model converted for OpenVINO (the default backend): converted once per
    run, not in the developer's home folder."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache: Path) -> None:
    """No test reads the developer's ASSISTANT_* variables or .env, or writes to the repo's index/ or the home
    folder's model cache."""
    import os

    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ASSISTANT_PROGRESS", "false")
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "default-index"))
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(model_cache))
    monkeypatch.chdir(tmp_path)


# The index backends the behaviour suites run against: the local store, and Milvus through its embedded engine.
BACKENDS = ["local", "milvus-lite"]


@pytest.fixture(params=BACKENDS)
def index_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where a test's index goes, once per backend: a folder, or ``milvus-lite:`` and a folder (Milvus Lite runs in
    this process, one engine per folder; every engine the test started is stopped after it)."""
    if request.param == "local":
        yield tmp_path / "idx"
        return
    yield f"milvus-lite:{tmp_path / 'idx.db'}"
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_all()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_llm() -> FakeLLM:
    """An OpenAI-compatible endpoint in the process (an ``httpx.MockTransport``): answers ANSWER, lists two models."""
    return FakeLLM(ANSWER, models=["fake-model", "other"])


def mock_client(fake: FakeLLM, **options: Any) -> ChatClient:
    """A client for model "fake-model" whose requests go to ``fake`` instead of a socket."""
    from assistant.llm.client import ChatClient

    options.setdefault("timeout", 5)
    return ChatClient(fake.url, "fake-model", transport=fake, **options)


@pytest.fixture(scope="session")
def real_embedder():
    from assistant.embed.factory import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """The seed article indexed with the real model, built once: tests only search it, never change it.

    Settings are explicit because the function-scoped isolated_env is not active for session fixtures.
    """
    from assistant import build_index
    from assistant.settings import Settings

    index = tmp_path_factory.mktemp("seed") / "idx"
    build_index([SEED], index, embedder=real_embedder, settings=Settings(progress=False))
    return index


@pytest.fixture
def base_index(tmp_path: Path) -> tuple[Path, Path]:
    """The news corpus and an index of it built with the fake embedder: (corpus folder, index folder)."""
    from assistant import build_index

    corpus = news_corpus(tmp_path / "news")
    index = tmp_path / "idx"
    build_index([corpus], index, embedder=FakeEmbedder())
    return corpus, index


@pytest.fixture(scope="session")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak RSS of the CLI building a five-article corpus (``processes.measured_cli``): the cost of the code, not
    of the input."""
    tmp = tmp_path_factory.mktemp("baseline")
    run = measured_cli(tmp, "index", "build", news_corpus(tmp / "news"), "--index", tmp / "idx", "--json")
    assert run.code == 0, run.stderr
    return run.peak_mb


# Two outlets giving different costs for the same repairs, in near-identical sentences: a conflict to surface.
BRIDGE_REPORTS = [
    {
        "id": "a",
        "title": "Bridge reopens",
        "date": "2024-05-01",
        "source": "Daily One",
        "text": "The Harbor Bridge repairs cost 40 million dollars, the city said on Monday. Traffic resumed.",
    },
    {
        "id": "b",
        "title": "Bridge is open again",
        "date": "2024-05-02",
        "source": "Evening Two",
        "text": "The Harbor Bridge repairs cost 75 million dollars, the city said on Monday. Traffic resumed.",
    },
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def news_corpus(folder: Path) -> Path:
    """A small dated corpus with distinct topics, several outlets and one undated article."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = {
        "volcano.md": (
            "Volcano erupts on Iceland peninsula",
            "2024-03-10",
            "Reykjavik Post",
            "Lava flowed from a fissure near Grindavik after weeks of earthquakes. Residents were evacuated.",
        ),
        "rates.md": (
            "Central bank raises interest rates",
            "2024-03-05",
            "Finance Daily",
            "The central bank raised its benchmark interest rate by a quarter point to fight inflation.",
        ),
        "rates-old.md": (
            "Central bank holds interest rates",
            "2023-01-15",
            "Finance Daily",
            "The central bank kept its benchmark interest rate unchanged, citing slowing inflation.",
        ),
        "football.md": (
            "Local club wins the cup final",
            "2024-02-20",
            "Sports Wire",
            "The club won the cup final three goals to one in front of a record crowd.",
        ),
    }
    for name, (title, date, source, body) in articles.items():
        (folder / name).write_text(
            f"---\ntitle: {title}\ndate: {date}\nsource: {source}\n---\n\n{body}\n", encoding="utf-8"
        )
    (folder / "undated.txt").write_text(
        "Gardening tips for spring\n\nPlant tomatoes after the last frost and water them deeply.\n",
        encoding="utf-8",
    )
    return folder


def article_ids(index: str | Path) -> set[str]:
    """The ids of the articles the live generation of ``index`` (either backend) holds."""
    from assistant import describe_index

    return {article.id for article in describe_index(index, with_articles=True).article_list or ()}

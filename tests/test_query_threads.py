"""Torch threads (issue 11): a question is embedded with ``ASSISTANT_QUERY_THREADS`` (default 1) and a batch of
passages with every core, also when both happen at once in one process (the chat page adds articles while it
answers). Timings are the benchmark's business (python -m bench.answer_quality --only latency); these tests check the
thread count each model call runs with.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest
import torch

from assistant.embed.factory import embedder_from_settings
from assistant.embed.torch import SentenceTransformerEmbedder
from assistant.settings import Settings


class Recording:
    """The real model, recording the torch thread count each call runs with."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[tuple[int, int]] = []  # (texts, threads)

    def encode(self, texts: list[str], **options: Any) -> Any:
        self.calls.append((len(texts), torch.get_num_threads()))
        return self.model.encode(texts, **options)


@pytest.fixture
def recorded(real_embedder: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
    twin = copy.copy(real_embedder)  # shares the weights and the lock; the recorder is its own
    twin._model = Recording(real_embedder._model)
    return twin


def test_a_question_uses_one_thread_and_a_batch_every_core(recorded: SentenceTransformerEmbedder) -> None:
    cores = torch.get_num_threads()
    recorded.embed(["How many people will lose power in the shutoff?"])
    recorded.embed([f"Sentence {n} of the retrieved passages." for n in range(8)])
    recorded.embed([f"Passage {n} of an article being indexed." for n in range(64)])
    assert recorded._model.calls == [(1, 1), (8, 1), (64, cores)]
    assert torch.get_num_threads() == cores  # put back for everything else in the process


def test_query_threads_setting(recorded: SentenceTransformerEmbedder) -> None:
    cores = torch.get_num_threads()
    recorded.query_threads = 0  # 0: questions get every core too
    recorded.embed(["A question?"])
    recorded.query_threads = 3
    recorded.embed(["A question?"])
    assert recorded._model.calls == [(1, cores), (1, 3)]
    with pytest.raises(ValueError):
        Settings(query_threads=-1)


def test_questions_during_a_build_in_the_same_process(recorded: SentenceTransformerEmbedder) -> None:
    cores = torch.get_num_threads()
    stop = threading.Event()

    def build() -> None:
        while not stop.is_set():
            recorded.embed([f"Passage {n} of a long article being added." for n in range(32)])

    builder = threading.Thread(target=build)
    builder.start()
    try:
        for _ in range(5):
            recorded.embed(["What did the council decide?"])
    finally:
        stop.set()
        builder.join()
    calls = recorded._model.calls
    assert {threads for texts, threads in calls if texts == 1} == {1}
    assert {threads for texts, threads in calls if texts == 32} == {cores}
    assert torch.get_num_threads() == cores


def test_the_setting_reaches_the_loaded_model(monkeypatch: pytest.MonkeyPatch, real_embedder: Any) -> None:
    monkeypatch.setenv("ASSISTANT_QUERY_THREADS", "2")
    compiled = embedder_from_settings(Settings())  # the default backend: OpenVINO compiles a question's model for it
    compiled.embed(["one short question"])
    assert compiled.query_threads == 2 and int(compiled._compiled[2].get_property("INFERENCE_NUM_THREADS")) == 2
    embedder = embedder_from_settings(Settings(embed_backend="torch"))
    assert embedder.query_threads == 2 and embedder._model is real_embedder._model  # same weights, own option

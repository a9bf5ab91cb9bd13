"""The OpenAI-compatible client: requests, replies, retries and errors, through the in-process fake endpoint
(``assistant.testing.FakeLLM``, an ``httpx.MockTransport``), and a few over a real loopback socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import mock_client
from fake_llm_server import ANSWER, FakeServer, Reply, closed_port, serve

from assistant.errors import ConfigError, EndpointError
from assistant.llm.client import ChatClient
from assistant.settings import Settings
from assistant.testing import FakeLLM, FakeReply, FakeRequest, chat_chunks, chat_completion

KEY = "sk-test-0123456789abcdef"
HI = [{"role": "user", "content": "hi"}]


def ask(client: ChatClient, streamed: bool) -> str:
    return "".join(client.stream(HI)) if streamed else client.complete(HI)


# -- what reaches the transport -------------------------------------------------------------------------------
def test_stream_yields_the_pieces_and_sends_an_openai_request(fake_llm: FakeLLM) -> None:
    with mock_client(fake_llm, max_tokens=77, temperature=0.3) as client:
        pieces = list(client.stream(HI))
    assert len(pieces) > 3 and "".join(pieces) == ANSWER
    (request,) = fake_llm.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "model": "fake-model",
        "messages": HI,
        "max_tokens": 77,
        "temperature": 0.3,
        "stream": True,
    }
    assert "authorization" not in request.headers


def test_complete_returns_the_whole_reply(fake_llm: FakeLLM) -> None:
    with mock_client(fake_llm) as client:
        assert client.complete(HI, max_tokens=12) == ANSWER
    (request,) = fake_llm.chat_requests()
    assert request.body["stream"] is False and request.body["max_tokens"] == 12


def test_every_request_goes_to_the_transport_with_the_key_and_the_base_path() -> None:
    fake = FakeLLM("Yes [1].")
    with ChatClient("https://llm.example:8443/api/v1/", "m", api_key=KEY, transport=fake) as client:
        assert client.models() == ["fake-model"]
        assert client.complete(HI) == "Yes [1]."
        assert "".join(client.stream(HI)) == "Yes [1]."
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/v1/models"),
        ("POST", "/api/v1/chat/completions"),
        ("POST", "/api/v1/chat/completions"),
    ]
    assert {r.headers["host"] for r in fake.requests} == {"llm.example:8443"}
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)
    assert [r.body["model"] for r in fake.chat_requests()] == ["m", "m"]


def test_from_settings_passes_the_transport_on(fake_llm: FakeLLM) -> None:
    assert ChatClient.from_settings(Settings(), transport=fake_llm) is None
    settings = Settings(llm_base_url=fake_llm.url + "/", llm_timeout=3, llm_retries=0, llm_api_key=KEY)
    client = ChatClient.from_settings(settings, transport=fake_llm)
    assert client is not None
    with client:
        assert client.model == "fake-model" and client.models() == ["fake-model", "other"]
        assert client.timeout == 3 and client.retries == 0 and client.base_url == fake_llm.url
        assert client.complete(HI) == ANSWER
    named = ChatClient.from_settings(Settings(llm_base_url=fake_llm.url, llm_model="chosen"), transport=fake_llm)
    assert named is not None and named.model == "chosen"
    named.close()
    # The lookup, the listing asked for, the completion: a named model needs no lookup.
    assert [r.path for r in fake_llm.requests] == ["/v1/models", "/v1/models", "/v1/chat/completions"]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake_llm.requests)


def test_model_discovery_fails_clearly_when_none_is_listed(fake_llm: FakeLLM) -> None:
    fake_llm.script("/models", FakeReply(json={"data": []}))
    with pytest.raises(EndpointError, match="lists no models"):
        ChatClient.from_settings(Settings(llm_base_url=fake_llm.url), transport=fake_llm)


def test_stream_accepts_a_plain_json_reply(fake_llm: FakeLLM) -> None:
    fake_llm.script("/chat/completions", FakeReply(json=chat_completion("Whole reply [1].")))
    with mock_client(fake_llm) as client:
        assert list(client.stream(HI)) == ["Whole reply [1]."]


# -- retries --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("streamed", [True, False])
def test_a_500_is_retried(fake_llm: FakeLLM, streamed: bool) -> None:
    fake_llm.script("/chat/completions", FakeReply(status=500, json={"error": {"message": "busy"}}))
    with mock_client(fake_llm, retries=2) as client:
        assert ask(client, streamed) == ANSWER
    assert len(fake_llm.chat_requests()) == 2


@pytest.mark.parametrize("streamed", [True, False])
def test_a_lasting_500_fails_after_the_retries(fake_llm: FakeLLM, streamed: bool) -> None:
    busy = FakeReply(status=503, json={"error": {"message": "model loading"}})
    fake_llm.script("/chat/completions", busy, busy, busy)
    with mock_client(fake_llm, retries=2) as client, pytest.raises(EndpointError) as caught:
        ask(client, streamed)
    message = str(caught.value)
    assert fake_llm.url in message and "HTTP 503" in message and "model loading" in message and "3 times" in message
    assert len(fake_llm.chat_requests()) == 3


# What the network can raise, and what the library says of it: all retried, the last one excepted.
TRANSPORT_ERRORS = {
    "refused": (httpx.ConnectError("[Errno 111] Connection refused"), "is unreachable: .*Connection refused", True),
    "connect-timeout": (httpx.ConnectTimeout("timed out"), r"timed out connecting \(timeout 5 s\)", True),
    "read-timeout": (httpx.ReadTimeout("timed out"), r"timed out waiting for a reply \(timeout 5 s\)", True),
    "dropped": (httpx.RemoteProtocolError("Server disconnected"), "dropped the connection: Server disconnected", True),
    "reset": (httpx.ReadError("[Errno 104] Connection reset by peer"), "dropped the connection: .*reset", True),
    "proxy": (httpx.ProxyError("407 Proxy Authentication Required"), "request failed: ProxyError: 407", False),
}


@pytest.mark.parametrize("streamed", [True, False])
@pytest.mark.parametrize(("error", "match", "retried"), TRANSPORT_ERRORS.values(), ids=TRANSPORT_ERRORS.keys())
def test_transport_errors_become_endpoint_errors(
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: httpx.TransportError,
    match: str,
    retried: bool,
    streamed: bool,
) -> None:
    monkeypatch.setattr("assistant.llm.client._BACKOFF_SECONDS", (0.0,))  # the waits are not what is tested here
    fake_llm.script("/chat/completions", *[FakeReply(error=error)] * 3)
    with mock_client(fake_llm, retries=2) as client, pytest.raises(EndpointError, match=match) as caught:
        ask(client, streamed)
    assert str(caught.value).startswith(f"LLM endpoint {fake_llm.url} ")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no httpx traceback for the reader
    assert len(fake_llm.chat_requests()) == (3 if retried else 1)
    assert ("tried 3 times" in str(caught.value)) is retried
    retries = [r.getMessage() for r in caplog.records if r.name == "assistant.llm.client"]
    assert len(retries) == (2 if retried else 0) and all("retry" in message for message in retries)


@pytest.mark.parametrize("streamed", [True, False])
def test_a_transport_error_then_an_answer_is_retried_into_the_answer(fake_llm: FakeLLM, streamed: bool) -> None:
    fake_llm.script("/chat/completions", FakeReply(error=httpx.RemoteProtocolError("Server disconnected")))
    with mock_client(fake_llm, retries=1) as client:
        assert ask(client, streamed) == ANSWER
    assert len(fake_llm.chat_requests()) == 2


def test_a_reply_later_than_the_timeout_times_out(fake_llm: FakeLLM) -> None:
    late = FakeReply(delay=1.5, json=chat_completion("late"))
    fake_llm.script("/chat/completions", late, late)
    started = time.perf_counter()
    timed_out = pytest.raises(EndpointError, match=r"timed out waiting for a reply \(timeout 0.3 s\)")
    with mock_client(fake_llm, timeout=0.3, retries=1) as client, timed_out:
        client.complete(HI)
    assert time.perf_counter() - started < 1.4  # two 0.3 s waits and one short pause, not the reply's 1.5 s
    assert len(fake_llm.chat_requests()) == 2


def test_a_reply_within_the_timeout_arrives(fake_llm: FakeLLM) -> None:
    fake_llm.script("/chat/completions", FakeReply(delay=0.05, text="Soon [1]."))
    with mock_client(fake_llm, timeout=1, retries=0) as client:
        assert client.complete(HI) == "Soon [1]."


# -- unusable replies -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "streamed", "match"),
    [
        (FakeReply(body=b"<html>oops</html>"), False, "malformed reply"),
        (FakeReply(events=["{not json"]), True, "malformed stream event"),
        (FakeReply(json={"choices": []}), False, "without choices"),
        (FakeReply(events=[json.dumps({"choices": []}), "[DONE]"]), True, "without choices"),
        (FakeReply(json={"object": "chat.completion"}), False, "without choices"),
        (FakeReply(json=chat_completion("")), False, "empty answer"),
        (FakeReply(json=chat_completion(None)), False, "empty answer"),
        (FakeReply(events=chat_chunks("")), True, "empty answer"),
        (FakeReply(json={"error": {"message": "context overflow"}}), False, "context overflow"),
        (FakeReply(status=400, json={"error": {"message": "bad model name"}}), True, "HTTP 400.*bad model name"),
        (FakeReply(status=404, body=b"Not Found", content_type="text/plain"), False, "HTTP 404 Not Found: Not Found"),
    ],
)
def test_unusable_replies_raise_without_retrying(
    fake_llm: FakeLLM, reply: FakeReply, streamed: bool, match: str
) -> None:
    fake_llm.script("/chat/completions", reply)
    with mock_client(fake_llm, retries=2) as client, pytest.raises(EndpointError, match=match) as caught:
        ask(client, streamed)
    assert fake_llm.url in str(caught.value)
    assert len(fake_llm.chat_requests()) == 1


def test_a_stream_cut_after_the_first_token_is_not_retried(fake_llm: FakeLLM) -> None:
    fake_llm.script("/chat/completions", FakeReply(events=chat_chunks("Alibaba invested a lot", done=False)))
    received: list[str] = []
    with mock_client(fake_llm, retries=2) as client, pytest.raises(EndpointError, match="after 4 streamed pieces"):
        for piece in client.stream(HI):
            received.append(piece)
    assert "".join(received) == "Alibaba invested a lot"
    assert len(fake_llm.chat_requests()) == 1


def test_a_stream_the_network_cuts_is_not_retried_once_a_token_was_shown(fake_llm: FakeLLM) -> None:
    cut = FakeReply(events=chat_chunks("Alibaba invested", done=False), error=httpx.ReadError("connection reset"))
    fake_llm.script("/chat/completions", cut)
    received: list[str] = []
    failed = pytest.raises(EndpointError, match="after 2 streamed pieces: dropped the connection: connection reset")
    with mock_client(fake_llm, retries=2) as client, failed:
        for piece in client.stream(HI):
            received.append(piece)
    assert "".join(received) == "Alibaba invested" and len(fake_llm.chat_requests()) == 1


def test_the_api_key_is_sent_as_bearer_and_never_shown(fake_llm: FakeLLM) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    fake_llm.script("/chat/completions", FakeReply(status=401, json=body))
    with mock_client(fake_llm, api_key=KEY, retries=2) as client, pytest.raises(EndpointError) as caught:
        client.complete(HI)
    (request,) = fake_llm.chat_requests()  # a 401 is not retried
    assert request.headers.get("Authorization") == f"Bearer {KEY}"
    message = str(caught.value)
    assert "HTTP 401" in message and "API_KEY" in message and KEY not in message and "***" in message
    assert KEY not in repr(caught.value.__cause__ or "")


@pytest.mark.parametrize("url", ["localhost:8080/v1", "http://[::1/v1", "ftp://host/v1", ""])
def test_a_malformed_base_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="LLM endpoint URL"):
        ChatClient(url, "m")


# -- the fake itself ------------------------------------------------------------------------------------------
def test_the_fake_answers_by_function_and_in_the_form_asked() -> None:
    def respond(request: FakeRequest) -> FakeReply | str | None:
        question = request.body["messages"][-1]["content"]
        if "France" in question:
            return "Paris [1]."
        return FakeReply(status=429, json={"error": {"message": "slow down"}}) if "spam" in question else None

    fake = FakeLLM("Unsure.", respond=respond)
    fake.script("/chat/completions", "Scripted first.")
    with ChatClient(fake.url, "m", transport=fake, retries=0) as client:
        assert "".join(client.stream(HI)) == "Scripted first."
        assert client.complete([{"role": "user", "content": "Capital of France?"}]) == "Paris [1]."
        assert list(client.stream([{"role": "user", "content": "Capital of France?"}])) == ["Paris ", "[1]."]
        assert client.complete(HI) == "Unsure."
        with pytest.raises(EndpointError, match="HTTP 429 Too Many Requests: slow down"):
            client.complete([{"role": "user", "content": "spam"}])
    assert [r.streams for r in fake.requests] == [True, False, True, False, False]


def test_the_fake_refuses_paths_it_does_not_serve() -> None:
    fake = FakeLLM()
    with httpx.Client(transport=fake) as http:
        response = http.post(f"{fake.url}/completions", content=b"not json")
    assert response.status_code == 404 and "no route /v1/completions" in response.text
    (request,) = fake.requests
    assert request.body == b"not json" and not request.streams


# -- over a real socket: the default transport ----------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve() as fake:
        yield fake


def test_the_real_transport_lists_completes_and_streams(server: FakeServer) -> None:
    settings = Settings(llm_base_url=server.url, llm_api_key=KEY, llm_retries=0, llm_timeout=5)
    client = ChatClient.from_settings(settings)
    assert client is not None
    with client:
        assert client.model == "fake-model"
        assert client.complete(HI) == ANSWER
        pieces = list(client.stream(HI))
    assert len(pieces) > 3 and "".join(pieces) == ANSWER
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions", "/v1/chat/completions"]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in server.requests)
    assert [r.body["stream"] for r in server.chat_requests()] == [False, True]


def test_a_dropped_connection_is_retried(server: FakeServer) -> None:
    server.script("/v1/chat/completions", Reply(drop=True))
    with server.client(retries=1) as client:
        assert "".join(client.stream(HI)) == ANSWER
    assert len(server.chat_requests()) == 2


def test_a_slow_reply_times_out(server: FakeServer) -> None:
    server.script("/v1/chat/completions", Reply(delay=1.5, json=chat_completion("late")), Reply(delay=1.5))
    started = time.perf_counter()
    with server.client(timeout=0.3, retries=1) as client, pytest.raises(EndpointError, match="timed out") as caught:
        client.complete(HI)
    assert time.perf_counter() - started < 1.4  # two 0.3 s waits and one short pause, not the server's 1.5 s
    assert "0.3 s" in str(caught.value) and len(server.chat_requests()) == 2


def test_an_unreachable_endpoint_fails_clearly_and_hides_credentials() -> None:
    url = f"http://user:hunter2@127.0.0.1:{closed_port()}/v1"
    with ChatClient(url, "m", api_key=KEY, retries=1, timeout=2) as client:
        with pytest.raises(EndpointError, match="unreachable") as caught:
            list(client.stream(HI))
        message = str(caught.value)
        assert "127.0.0.1" in message and "hunter2" not in message and KEY not in message
        assert "hunter2" not in repr(client)

"""A client for OpenAI-compatible chat-completions endpoints (Ollama, vLLM, llama.cpp server, LM Studio, OpenAI).

Plain and streamed replies, timeouts and retries; every failure surfaces as
:class:`~assistant.errors.EndpointError`, so callers can fall back to extractive answers.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import ConfigError, EndpointError

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Waits before each retry: short, because a person is waiting for the answer and a local server either comes
# back within a second or two or is down.
_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0)
# A refused connection is known at once; a silent host should not hold the user for the whole read timeout.
_MAX_CONNECT_SECONDS = 10.0
_BODY_PREVIEW = 200
_HTTP_ERRORS = (httpx.HTTPError, httpx.InvalidURL)  # InvalidURL is no HTTPError: a malformed base URL


class _Failure(Exception):
    """One attempt failed; ``retry`` when another attempt may succeed (connection, timeout, 5xx)."""

    def __init__(self, detail: str, *, retry: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry = retry


class ChatClient:
    """A synchronous client for ``POST {base_url}/chat/completions``.

    ``timeout`` bounds connecting (at most 10 s) and each read, so a stream that stalls also fails. Connection
    errors, timeouts and 5xx replies are retried ``retries`` times, but never once a token was handed out: the
    caller has shown it, and a retry would repeat it.

    ``transport`` replaces the network: requests go to it instead of a socket, with the same headers, timeouts,
    retries and errors (an ``httpx.TransportError`` it raises is handled as one from the network). Tests pass an
    ``httpx.MockTransport``, such as :class:`assistant.testing.FakeLLM`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60,
        retries: int = 2,
        max_tokens: int = 400,
        temperature: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        try:
            parts = urlsplit(self.base_url)
        except ValueError as exc:
            raise ConfigError(f"invalid LLM endpoint URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the LLM endpoint URL must look like http://host:port/v1")
        self.endpoint = _public_url(self.base_url)
        self.model = model
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._secret = api_key or None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        connect = min(timeout, _MAX_CONNECT_SECONDS)
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=connect), transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> ChatClient | None:
        """The configured client, or None when no endpoint is set. Asks the endpoint for a model if none is named.

        ``transport`` is passed to the client (see :class:`ChatClient`)."""
        if not settings.llm_base_url:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
        client = cls(
            settings.llm_base_url,
            settings.llm_model or "",
            api_key=key,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            transport=transport,
        )
        if not client.model:
            try:
                names = client.models()
            except BaseException:
                client.close()
                raise
            if not names:
                client.close()
                raise client._error("lists no models; set ASSISTANT_LLM_MODEL")
            client.model = names[0]
            logger.info("using model %s, the first one %s lists", client.model, client.endpoint)
        return client

    # -- requests -------------------------------------------------------------------------------------------
    def models(self) -> list[str]:
        """Ids of the models ``GET {base_url}/models`` lists, in its order."""

        def attempt() -> list[str]:
            data = self._json(self._send("GET", "/models"), "model list")
            entries = data.get("data") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise self._fail("replied to GET /models without a 'data' list")
            return [str(e["id"]) for e in entries if isinstance(e, dict) and e.get("id")]

        return self._retrying(attempt)

    def complete(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> str:
        """The whole reply to ``messages``, once it is finished."""
        payload = self._payload(messages, stream=False, max_tokens=max_tokens)
        return self._retrying(lambda: self._content(self._json(self._send("POST", "/chat/completions", payload))))

    def stream(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> Iterator[str]:
        """Pieces of the reply as the endpoint produces them (server-sent events)."""
        payload = self._payload(messages, stream=True, max_tokens=max_tokens)
        for attempt in range(self.retries + 1):
            yielded = 0
            try:
                with self._http.stream("POST", f"{self.base_url}/chat/completions", json=payload) as response:
                    if response.is_error or not response.headers.get("content-type", "").startswith("text/event"):
                        # An error, or a server that ignored "stream": true and sent one JSON reply.
                        response.read()
                        yield self._content(self._json(self._checked(response)))
                        return
                    for piece in self._events(response):
                        yielded += 1
                        yield piece
                if not yielded:
                    raise self._fail("streamed an empty answer")
                return
            except (*_HTTP_ERRORS, _Failure) as exc:
                failure = exc if isinstance(exc, _Failure) else self._transport(exc)
                if yielded:
                    raise self._error(f"failed after {yielded} streamed pieces: {failure.detail}") from None
                if not failure.retry or attempt >= self.retries:
                    raise self._final(failure, attempt) from None
                self._pause(attempt, failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChatClient({self.endpoint!r}, model={self.model!r})"

    # -- helpers --------------------------------------------------------------------------------------------
    def _payload(self, messages: list[dict[str, Any]], *, stream: bool, max_tokens: int | None) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }

    def _send(self, method: str, path: str, payload: dict[str, Any] | None = None) -> str:
        try:
            response = self._http.request(method, f"{self.base_url}{path}", json=payload)
        except _HTTP_ERRORS as exc:
            raise self._transport(exc) from None
        return self._checked(response)

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        for number in range(self.retries + 1):
            try:
                return attempt()
            except _Failure as failure:
                if not failure.retry or number >= self.retries:
                    raise self._final(failure, number) from None
                self._pause(number, failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, attempt: int, failure: _Failure) -> None:
        delay = _BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)]
        logger.warning(
            "LLM endpoint %s %s; retry %d of %d in %.1f s", self.endpoint, failure, attempt + 1, self.retries, delay
        )
        time.sleep(delay)

    def _final(self, failure: _Failure, attempt: int) -> EndpointError:
        return self._error(failure.detail + (f" (tried {attempt + 1} times)" if attempt else ""))

    def _error(self, detail: str) -> EndpointError:
        return EndpointError(f"LLM endpoint {self.endpoint} {self._scrub(detail)}")

    def _fail(self, detail: str, *, retry: bool = False) -> _Failure:
        return _Failure(self._scrub(detail), retry=retry)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _transport(self, exc: Exception) -> _Failure:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for a reply"
            return self._fail(f"timed out {kind} (timeout {self.timeout:g} s)", retry=True)
        if isinstance(exc, httpx.ConnectError):
            return self._fail(f"is unreachable: {reason}", retry=True)
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            return self._fail(f"dropped the connection: {reason}", retry=True)
        return self._fail(f"request failed: {type(exc).__name__}: {reason}")

    def _checked(self, response: httpx.Response) -> str:
        """The body of a successful reply; an HTTP error becomes a failure (retried when it is a 5xx)."""
        if not response.is_error:
            return response.text
        status = response.status_code
        detail = f"returned HTTP {status} {response.reason_phrase}".rstrip()
        message = _error_message(response.text)
        detail += f": {message}" if message else ""
        detail += " (check ASSISTANT_LLM_API_KEY)" if status in (401, 403) else ""
        raise self._fail(detail, retry=status >= 500)

    def _json(self, text: str, what: str = "reply") -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise self._fail(f"sent a malformed {what} (not JSON): {preview(text)!r}") from None

    def _content(self, data: Any) -> str:
        choice = self._first_choice(data)
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else choice.get("text")  # or legacy shape
        if not isinstance(content, str) or not content.strip():
            raise self._fail("returned an empty answer")
        if choice.get("finish_reason") == "length":
            logger.warning("LLM endpoint %s cut the answer at max_tokens", self.endpoint)
        return content

    def _first_choice(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and data.get("error"):
            raise self._fail(f"reported an error: {_error_message(json.dumps(data))}")
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._fail(f"sent a reply without choices: {preview(json.dumps(data))!r}")
        return choices[0]

    def _events(self, response: httpx.Response) -> Iterator[str]:
        """Content pieces of a server-sent-event stream, up to ``data: [DONE]``."""
        finished = False
        lines: list[str] = []
        for line in itertools.chain(response.iter_lines(), [""]):
            if line.startswith("data:"):
                lines.append(line[5:].removeprefix(" "))
                continue
            if line or not lines:  # comments, event names and ids carry nothing we use
                continue
            data, lines = "\n".join(lines), []
            if data.strip() == "[DONE]":
                return
            choice = self._first_choice(self._json(data, "stream event"))
            delta = choice.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(piece, str) and piece:
                yield piece
            finished = finished or bool(choice.get("finish_reason"))
        if not finished:
            raise self._fail("ended the stream before it was finished (no [DONE])", retry=True)


def _error_message(body: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the start of the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return preview(body)
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message") or error
        return preview(error if isinstance(error, str) else json.dumps(error))
    return preview(body)


def preview(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _BODY_PREVIEW else text[:_BODY_PREVIEW] + "…"


def _public_url(url: str) -> str:
    """The URL without user:password, which must not reach logs or error messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))

"""Fetching a web page or a feed without letting a URL reach the server's own network.

A URL typed into the page, or linked from a feed entry, is fetched by the server, so by default every address it
(or a redirect) leads to must be public: otherwise the page or a feed would be a way to read internal services
(SSRF). Feeds are fetched conditionally (ETag / If-Modified-Since), and every request names the project in its
user agent.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from importlib import metadata

import httpx

from ..errors import FetchError

__all__ = ["FETCH_REDIRECTS", "USER_AGENT", "Fetched", "fetch", "fetch_page", "public_address", "resolve"]

logger = logging.getLogger(__name__)

# News sites redirect http → https → canonical page; more hops than this is a loop or someone probing.
FETCH_REDIRECTS = 5


def _version() -> str:
    try:
        return metadata.version("newsqa-assistant")
    except metadata.PackageNotFoundError:
        return "dev"


# Sites and feed hosts see who fetches; an anonymous or browser-like agent is what scrapers send.
USER_AGENT = f"newsqa-assistant/{_version()} (offline news question answering; feed reader)"


@dataclass(frozen=True)
class Fetched:
    """What a GET returned: the body (empty when ``not_modified``), the final URL, and the validators to send next
    time (``etag``, ``last_modified``)."""

    url: str
    body: bytes
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None


def public_address(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, multicast, reserved,
    unspecified or shared), looking through the IPv6 forms that carry an IPv4 address to the kernel or a gateway."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is not part of the address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # is_global alone lets multicast through (224.0.0.1 is "global"), hence the explicit list.
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedTransport(httpx.HTTPTransport):
    """Connects to an address checked beforehand, whatever the URL's host name resolves to by then.

    Without it httpx would resolve the name again, and a DNS answer that changed in between (rebinding) would
    reach an address nobody checked. The Host header and TLS (SNI and certificate) still use the name.
    """

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=self.address),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": request.url.host},
        )
        return super().handle_request(pinned)


def fetch_page(url: str, max_bytes: int, *, allow_private: bool = False) -> bytes:
    """Download a web page for indexing, at most ``max_bytes`` of it (see :func:`fetch`)."""
    return fetch(url, max_bytes, allow_private=allow_private).body


def fetch(
    url: str,
    max_bytes: int,
    *,
    allow_private: bool = False,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 20.0,
) -> Fetched:
    """GET ``url``, at most ``max_bytes`` of it; with ``etag`` / ``last_modified`` (what the last fetch returned),
    conditionally: a 304 comes back as ``not_modified`` with no body.

    Only http(s). Unless ``allow_private``, every address the host resolves to must be public, and so must every
    address a redirect leads to: redirects are followed here, one checked hop at a time, never by httpx.
    Environment proxies are not used (the connection goes to the checked address). Every failure is a
    :class:`FetchError` with the reason, the HTTP status and the server's ``Retry-After`` when it gave them.
    """
    from ..documents import web_url

    headers = {"User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    for _ in range(FETCH_REDIRECTS + 1):
        if web_url(current) is None:
            moved = "" if current == url else f" ({url} redirects to {current})"
            raise FetchError(f"only http(s) URLs can be fetched{moved}")
        try:
            target = httpx.URL(current)
        except httpx.InvalidURL as exc:
            raise FetchError(f"not a valid URL: {current}") from exc
        if not target.raw_host:
            raise FetchError(f"not a valid URL: {current}")
        addresses = resolve(target.raw_host.decode("ascii"), target.port or (443 if target.scheme == "https" else 80))
        if not allow_private:
            internal = [address for address in addresses if not public_address(address)]
            if internal:
                logger.warning("refused to fetch %s: %s resolves to %s", current, target.host, ", ".join(internal))
                raise FetchError(
                    f"refusing {target.host}: it is not a public address (ASSISTANT_UI_FETCH_PRIVATE=true allows it)"
                )
        response, data = _get(target, addresses, max_bytes, headers, timeout)
        if response.has_redirect_location:
            current = str(target.join(response.headers["location"]))
            continue
        if response.status_code == 304:
            return Fetched(current, b"", True, etag, last_modified)
        if not response.is_success:
            raise FetchError(
                f"could not fetch {url}: HTTP {response.status_code}",
                status=response.status_code,
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        return Fetched(current, data, False, response.headers.get("etag"), response.headers.get("last-modified"))
    raise FetchError(f"could not fetch {url}: more than {FETCH_REDIRECTS} redirects")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: a number of seconds, or an HTTP date; None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _get(
    url: httpx.URL, addresses: list[str], max_bytes: int, headers: dict[str, str], timeout: float
) -> tuple[httpx.Response, bytes]:
    """GET from the first address that takes the connection; the body only for a success, and at most max_bytes."""
    failure: Exception | None = None
    for address in addresses:
        try:
            with (
                httpx.Client(transport=_PinnedTransport(address), timeout=timeout, headers=headers) as client,
                client.stream("GET", url) as response,
            ):
                if not response.is_success:
                    return response, b""
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"{url} is larger than {max_bytes / 1024 / 1024:g} MB")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:  # the declared length may be missing or wrong
                        raise FetchError(f"{url} is larger than {max_bytes / 1024 / 1024:g} MB")
                return response, bytes(data)
        except httpx.ConnectError as exc:
            failure = exc  # try the host's next address, as a browser would
        except httpx.TimeoutException as exc:
            raise FetchError(f"could not fetch {url}: timed out after {timeout:g} s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch {url}: {exc}") from exc
    raise FetchError(f"could not fetch {url}: {failure}")

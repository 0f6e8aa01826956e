"""The candidate check a commons passes before it may join: does it answer like a commons?

The gateway GETs ``{base_url}/_status``, then ``{base_url}/index/_status``, then
``{base_url}/ga4gh/drs/v1/service-info`` until one answers well: a 2xx whose body is a JSON object or the
indexd text ``Healthy``. Bodies are streamed and cut at ``max_bytes``; compressed bodies are not asked for;
redirects are followed by hand, at most :data:`MAX_REDIRECTS`, and only on the declared host. The whole
check runs under one deadline (``timeout`` seconds), so a hanging candidate costs the joiner that and no
more. An unreachable candidate or an off-host redirect ends the check at once; any other failure moves on
to the next path, and the refusal lists what each path did.

The decisions (:func:`judge_answer`, :func:`redirect_verdict`) are pure; :func:`check_candidate` does the I/O.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson

STATUS_PATHS = ("/_status", "/index/_status", "/ga4gh/drs/v1/service-info")
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What answered the check, for the audit log and the join response."""

    url: str
    path: str
    status: int
    latency_ms: float
    body: Literal["json", "healthy"]
    redirects: tuple[str, ...] = ()

    def to_doc(self) -> dict[str, object]:
        return {"url": self.url, "path": self.path, "status": self.status, "latency_ms": self.latency_ms,
                "body": self.body, "redirects": list(self.redirects)}


class CandidateRefused(Exception):
    """The candidate failed the check; ``str()`` says exactly why (fit for a 422 body)."""


class _Stop(Exception):
    """A failure that ends the whole check (unreachable, deadline, off-host redirect)."""


class _Next(Exception):
    """A failure of one path; the next path is tried."""


# --- pure decisions ----------------------------------------------------------------------------------


def judge_answer(status: int, body: bytes) -> tuple[Literal["json", "healthy"] | None, str]:
    """(``"json"``/``"healthy"``, "") for a well-formed answer, else (``None``, why not)."""
    if not 200 <= status < 300:
        return None, f"HTTP {status}"
    if body.strip() == b"Healthy":
        return "healthy", ""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, "malformed answer: neither a JSON object nor the indexd text 'Healthy'"
    if not isinstance(doc, dict):
        return None, f"malformed answer: JSON {type(doc).__name__}, expected an object"
    return "json", ""


def _origin(url: httpx.URL) -> tuple[str, int | None]:
    return url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme)


def redirect_verdict(current: httpx.URL, location: str, origin: httpx.URL) -> httpx.URL:
    """Where a redirect from ``current`` leads, if it stays on ``origin``'s host and port (an http → https
    upgrade on default ports included); else :class:`_Stop` naming the other host."""
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError):
        raise _Next("malformed redirect Location") from None
    if target.scheme not in _DEFAULT_PORTS:
        raise _Stop(f"redirect to a non-HTTP URL ({target.scheme}:) refused")
    same = _origin(target) == _origin(origin)
    upgrade = (
        target.host.lower() == origin.host.lower() and origin.scheme == "http" and target.scheme == "https"
        and origin.port in (None, 80) and target.port in (None, 443)
    )
    if not (same or upgrade):
        where = target.host + (f":{target.port}" if target.port else "")
        raise _Stop(f"redirect off the declared host to {where} refused")
    return target


# --- I/O ---------------------------------------------------------------------------------------------


def _connect_reason(exc: Exception) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return f"cannot connect ({exc or type(exc).__name__})"


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _Next(f"response too large: Content-Length {length} exceeds {max_bytes} bytes")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _Next(f"malformed answer: compressed body ({encoding}) although identity was asked for")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise _Next(f"response too large: body exceeds {max_bytes} bytes")
    return bytes(body)


async def _try_path(
    client: httpx.AsyncClient, base_url: str, path: str, max_bytes: int
) -> CheckResult:
    origin = httpx.URL(base_url + path)
    url, hops = origin, []
    started = time.perf_counter()
    while True:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code in REDIRECTS and "location" in response.headers:
                    if len(hops) >= MAX_REDIRECTS:
                        raise _Next(f"more than {MAX_REDIRECTS} redirects")
                    url = redirect_verdict(url, response.headers["location"], origin)
                    hops.append(str(url))
                    continue
                body = await _read_capped(response, max_bytes)
                status = response.status_code
        except httpx.ConnectError as exc:
            raise _Stop(f"unreachable: {_connect_reason(exc)}") from None
        except httpx.TimeoutException:
            raise _Stop("unreachable: no answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _Next(f"malformed HTTP answer ({type(exc).__name__})") from None
        kind, why = judge_answer(status, body)
        if kind is None:
            raise _Next(why)
        latency = round((time.perf_counter() - started) * 1000, 1)
        return CheckResult(str(url), path, status, latency, kind, tuple(hops))


def forbidden_address(addresses: list[str], deny: list[str]) -> str | None:
    """The first of ``addresses`` inside a denied network, or ``None`` (pure)."""
    networks = [ipaddress.ip_network(n, strict=False) for n in deny]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip.version == net.version and ip in net for net in networks):
            return address
    return None


async def refuse_denied_hosts(base_url: str, deny: list[str]) -> None:
    """:class:`CandidateRefused` when the candidate's host resolves into a denied network (cloud metadata,
    private ranges…): the join check must not become a way to make the gateway call inside its network.
    Same-host redirects only, so a redirect cannot lead elsewhere afterwards."""
    if not deny:
        return
    host = httpx.URL(base_url).host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CandidateRefused(f"candidate {base_url} refused: unreachable: cannot resolve {host} ({exc})") from None
    hit = forbidden_address([info[4][0] for info in infos], deny)
    if hit is not None:
        raise CandidateRefused(f"candidate {base_url} refused: {host} resolves to {hit}, inside a network the "
                               "registry does not join (registry.join_deny_networks)")


async def check_candidate(
    base_url: str, *, timeout: float, max_bytes: int, transport: httpx.AsyncBaseTransport | None = None
) -> CheckResult:
    """The first status path that answers well, or :class:`CandidateRefused` saying what each one did."""
    reasons: list[str] = []
    limits = httpx.Timeout(timeout)
    headers = {"Accept": "application/json, text/plain;q=0.5", "Accept-Encoding": "identity",
               "User-Agent": "gateway-registry-check"}
    async with httpx.AsyncClient(timeout=limits, follow_redirects=False, trust_env=False, headers=headers,
                                 transport=transport) as client:
        try:
            async with asyncio.timeout(timeout):
                for path in STATUS_PATHS:
                    try:
                        return await _try_path(client, base_url, path, max_bytes)
                    except _Next as exc:
                        reasons.append(f"{path}: {exc}")
        except _Stop as exc:
            raise CandidateRefused(f"candidate {base_url} refused: {path}: {exc}") from None
        except TimeoutError:
            raise CandidateRefused(
                f"candidate {base_url} refused: unreachable: no answer within {timeout:g}s"
                + (f" ({'; '.join(reasons)})" if reasons else "")
            ) from None
    raise CandidateRefused(f"candidate {base_url} refused: no status endpoint answered well: " + "; ".join(reasons))

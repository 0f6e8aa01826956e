"""The candidate check a commons passes before it may join: does it answer like a commons?

The gateway GETs ``{base_url}/_status``, then ``{base_url}/index/_status``, then
``{base_url}/ga4gh/drs/v1/service-info`` until one answers well: a 2xx whose body is a JSON object or the
indexd text ``Healthy``. Bodies are streamed and cut at ``max_bytes``; compressed bodies are not asked for (and
refused); redirects follow :data:`gateway.core.redirects.SAME_HOST`: by hand, at most :data:`MAX_REDIRECTS`, and
only on the declared host. The whole check runs under one deadline (``timeout`` seconds), so a hanging candidate
costs the joiner that and no more. An unreachable candidate or an off-host redirect ends the check at once; any
other failure moves on to the next path, and the refusal lists what each path did.

The candidate's address is the egress policy's to allow (:mod:`gateway.core.egress`: the gateway's one policy,
``egress.*``, without its exceptions, since a joiner names the address): :func:`refuse_denied_hosts` refuses a host
that is, or resolves into, a denied network before anything is sent, and the check's client enforces the same
policy on every connection it opens.

A :class:`CandidateRefused`'s text says exactly why (what answered, what did not, which address is denied): it is
for the registry's operators (the audit log, an admin making the call), not for an anonymous joiner, who would
learn from it what listens inside the gateway's network.

The decision on an answer (:func:`judge_answer`) is pure; :func:`check_candidate` does the I/O.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson

from gateway.core.egress import EgressDenied, EgressPolicy
from gateway.core.http_client import BodyEncoded, BodyTooLarge, build_client, read_capped
from gateway.core.redirects import SAME_HOST, RedirectRefused

STATUS_PATHS = ("/_status", "/index/_status", "/ga4gh/drs/v1/service-info")
MAX_REDIRECTS = SAME_HOST.max_hops


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
    """The candidate failed the check; ``str()`` says exactly why (for operators: see the module's note)."""


class _Stop(Exception):
    """A failure that ends the whole check (unreachable, refused by the egress policy, off-host redirect)."""


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


# --- I/O ---------------------------------------------------------------------------------------------


def _connect_reason(exc: Exception) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return f"cannot connect ({exc or type(exc).__name__})"


def _not_followed(refused: RedirectRefused) -> Exception:
    """The check's verdict on a redirect it does not follow: :class:`_Stop` when it leads away, else
    :class:`_Next`."""
    target = refused.target
    if refused.reason == "too_many":
        return _Next(f"more than {MAX_REDIRECTS} redirects")
    if refused.reason == "malformed" or target is None:
        return _Next("malformed redirect Location")
    if refused.reason == "scheme":
        return _Stop(f"redirect to a non-HTTP URL ({target.scheme}:) refused")
    where = target.host + (f":{target.port}" if target.port else "")
    return _Stop(f"redirect off the declared host to {where} refused")


def _body_refused(refused: BodyTooLarge | BodyEncoded) -> _Next:
    if isinstance(refused, BodyEncoded):
        return _Next(f"malformed answer: compressed body ({refused.encoding}) although identity was asked for")
    if refused.declared is not None:
        return _Next(f"response too large: Content-Length {refused.declared} exceeds {refused.limit} bytes")
    return _Next(f"response too large: body exceeds {refused.limit} bytes")


async def _try_path(
    client: httpx.AsyncClient, base_url: str, path: str, max_bytes: int
) -> CheckResult:
    origin = httpx.URL(base_url + path)
    url, hops = origin, list[str]()
    started = time.perf_counter()
    while True:
        try:
            async with client.stream("GET", url) as response:
                hop = SAME_HOST.follow(origin=origin, current=url, method="GET", status=response.status_code,
                                       location=response.headers.get("location"), hops=len(hops))
                if hop is not None:
                    url = hop.url
                    hops.append(str(url))
                    continue
                body = await read_capped(response, max_bytes, identity_only=True)
                status = response.status_code
        except RedirectRefused as refused:
            raise _not_followed(refused) from None
        except (BodyTooLarge, BodyEncoded) as refused:
            raise _body_refused(refused) from None
        except EgressDenied as exc:
            raise _Stop(f"refused by the egress policy: {exc}") from None
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


async def refuse_denied_hosts(base_url: str, egress: EgressPolicy) -> None:
    """:class:`CandidateRefused` when the candidate's host is, or resolves into, a network ``egress`` denies (cloud
    metadata, private ranges…): the join check must not become a way to make the gateway call inside its
    network. Same-host redirects only, and the check's client enforces the same policy on every connection."""
    if egress.denies_nothing:
        return
    host = httpx.URL(base_url).host
    try:
        await egress.check_host(host)
    except EgressDenied as exc:
        raise CandidateRefused(f"candidate {base_url} refused: {exc}: the gateway does not connect there "
                               "(egress.deny_networks)") from None
    except OSError as exc:
        raise CandidateRefused(f"candidate {base_url} refused: unreachable: cannot resolve {host} ({exc})") from None


async def check_candidate(
    base_url: str, *, timeout: float, max_bytes: int, egress: EgressPolicy
) -> CheckResult:
    """The first status path that answers well, or :class:`CandidateRefused` saying what each one did. Every
    connection goes through ``egress``."""
    reasons: list[str] = []
    headers = {"Accept": "application/json, text/plain;q=0.5", "Accept-Encoding": "identity",
               "User-Agent": "gateway-registry-check"}
    async with build_client(egress=egress, timeout=httpx.Timeout(timeout), headers=headers,
                            trust_env=False) as client:
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

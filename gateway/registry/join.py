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

Then the check asks what the member will be asked (:func:`discover_capabilities`): each capability's own call at
its service's endpoint (``member.endpoints``, :data:`CAPABILITY_CALLS`), under the same rules (egress, same-host
redirects from that endpoint, capped bodies, one deadline), and judges each answer (:func:`judge_capability`, pure):
``yes``, ``no`` (the service answered, not as it should: a 404 page, HTML, another JSON) or ``unknown`` (unreachable,
a 5xx: nothing learnt). A candidate whose records call answers ``no`` is refused naming that call: an indexd at its
root joined with the Gen3 layout's defaults answers ``/_status`` but 404 under ``/index/index``. What it offers is
recorded on the member (:class:`~gateway.core.member.Capabilities`); the health prober asks the same calls again
(:mod:`gateway.registry.health`), keeping the last finding where the answer is ``unknown``.

The decisions on an answer (:func:`judge_answer`, :func:`judge_capability`, :func:`capabilities_from`) are pure;
:func:`check_candidate` and :func:`discover_capabilities` do the I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson

from gateway.core.egress import EgressDenied, EgressPolicy
from gateway.core.http_client import BodyEncoded, BodyTooLarge, build_client, read_capped
from gateway.core.member import CAPABILITIES, Capabilities, Endpoints, Member
from gateway.core.redirects import SAME_HOST, RedirectRefused
from gateway.members.drs import bulk_length

STATUS_PATHS = ("/_status", "/index/_status", "/ga4gh/drs/v1/service-info")
MAX_REDIRECTS = SAME_HOST.max_hops
PROBE_ID = "dg.0000/00000000-0000-4000-8000-000000000000"
"""An id no commons holds: what the record calls that need one ask for."""
PROBE_UUID = PROBE_ID.partition("/")[2]
Verdict = Literal["yes", "no", "unknown"]


@dataclass(frozen=True, slots=True)
class CapabilityCall:
    """The call that shows a capability: ``method`` ``<endpoint of service><path>`` (``body``: JSON to send)."""

    capability: str
    service: str
    method: str
    path: str
    expect: Literal["listing", "list", "object", "answer", "drs_answer", "bulk_info"]
    """``listing``: indexd's ``{"records": [...]}``; ``list``: a JSON list; ``object``: a JSON object (2xx); ``answer``:
    a JSON object with any status but 5xx (an API's own 404 for an id it does not hold, or a 401/403);
    ``drs_answer``: ``answer``, or a 401/403/404 whose body is not an HTML page (a DRS server's terse refusal);
    ``bulk_info``: a DRS service-info advertising a bulk length."""
    body: Any = None


CAPABILITY_CALLS = {
    "gen3": (
        CapabilityCall("records", "indexd", "GET", "/index?limit=1", "listing"),
        CapabilityCall("bulk", "indexd", "POST", "/bulk/documents", "list", [PROBE_ID]),
        CapabilityCall("signed_urls", "fence", "GET", f"/data/download/{PROBE_UUID}", "answer"),
        CapabilityCall("cohort_search", "guppy", "GET", "/_status", "object"),
        CapabilityCall("study_discovery", "mds", "GET", "/metadata?_guid_type=discovery_metadata&data=true&limit=1",
                       "object"),
        CapabilityCall("authz_mapping", "authz", "GET", "/mapping", "object"),
        CapabilityCall("dictionary", "dictionary", "GET", "/v0/submission/_dictionary", "object"),
    ),
    "drs": (
        CapabilityCall("records", "drs", "GET", f"/ga4gh/drs/v1/objects/{PROBE_UUID}", "drs_answer"),
        CapabilityCall("bulk", "drs", "GET", "/ga4gh/drs/v1/service-info", "bulk_info"),
    ),
}
"""What each kind is asked, capability by capability: the calls its adapter makes (indexd's listing and bulk lookup,
fence's download route for an id it does not hold, Guppy's status, MDS's discovery query, Arborist's mapping,
sheepdog's dictionary; a DRS server's object route and service-info). A DRS member's access is its objects' business:
``signed_urls`` follows ``records``."""


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


class _Broken(_Next):
    """The connection broke mid-answer (no answer to judge): the next status path is tried; a capability call learns
    nothing (``unknown``)."""


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


def judge_capability(call: CapabilityCall, status: int, body: bytes) -> tuple[Verdict, str]:
    """What one answer says of ``call``'s capability: (verdict, why not) (pure)."""
    if status >= 500 or status == 429:
        return "unknown", f"HTTP {status}"
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        if call.expect == "drs_answer" and status in (401, 403, 404) and not body.lstrip().startswith(b"<"):
            return "yes", ""
        return "no", f"HTTP {status}, not JSON"
    if call.expect in ("answer", "drs_answer"):
        return ("yes", "") if isinstance(doc, dict) else ("no", f"HTTP {status}, not a JSON object")
    if not 200 <= status < 300:
        return "no", f"HTTP {status}"
    if call.expect == "listing":
        if isinstance(doc, dict) and isinstance(doc.get("records"), list):
            return "yes", ""
        return "no", "HTTP 200 but not an indexd listing (no records list)"
    if call.expect == "list":
        return ("yes", "") if isinstance(doc, list) else ("no", "HTTP 200 but not a JSON list")
    if call.expect == "bulk_info":
        return ("yes", "") if bulk_length(doc) > 0 else ("no", "its service-info advertises no maxBulkRequestLength")
    return ("yes", "") if isinstance(doc, dict) else ("no", "HTTP 200 but not a JSON object")


@dataclass(frozen=True, slots=True)
class Finding:
    """One capability as one check found it; ``why``: the call and what it answered, when not ``yes``."""

    capability: str
    verdict: Verdict
    why: str = ""


def capabilities_from(findings: Sequence[Finding], at: str, previous: Capabilities | None = None) -> Capabilities:
    """The capabilities ``findings`` show (pure). With ``previous`` (the prober's re-check), an ``unknown`` keeps the
    previous finding (never checked: offered); without (the join), an ``unknown`` is not offered, but for ``records``
    (the candidate answered its status route; the prober asks again: :func:`refusal_for`). A DRS member's
    ``signed_urls`` follows its ``records``; a capability without a call (no endpoint) is simply not offered."""
    offers: set[str] = set()
    missing: dict[str, str] = {}
    for finding in findings:
        if finding.verdict == "yes":
            offers.add(finding.capability)
        elif finding.verdict == "unknown" and previous is not None:
            if previous.why_not(finding.capability) is None:
                offers.add(finding.capability)
            else:
                missing[finding.capability] = previous.why_not(finding.capability) or ""
        elif finding.verdict == "unknown" and finding.capability == "records":
            offers.add("records")  # reachable (its status answered) but slow: the prober finds out
        else:
            missing[finding.capability] = finding.why
    return Capabilities(frozenset(offers), tuple((c, missing[c]) for c in CAPABILITIES if c in missing), at)


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


async def _fetch(
    client: httpx.AsyncClient, target: str, max_bytes: int, method: str = "GET", json: Any = None
) -> tuple[int, bytes, httpx.URL, list[str]]:
    """``method target``, following same-host redirects from ``target``'s host: (status, capped body, final URL,
    the redirects followed); :class:`_Stop` or :class:`_Next` as the check's rules say."""
    origin = httpx.URL(target)
    url, hops = origin, list[str]()
    while True:
        try:
            async with client.stream(method, url, json=json) as response:
                hop = SAME_HOST.follow(origin=origin, current=url, method=method, status=response.status_code,
                                       location=response.headers.get("location"), hops=len(hops))
                if hop is not None:
                    url, method = hop.url, hop.method
                    json = json if hop.keeps_body else None
                    hops.append(str(url))
                    continue
                body = await read_capped(response, max_bytes, identity_only=True)
                return response.status_code, body, url, hops
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
        except httpx.InvalidURL as exc:
            raise _Next(f"malformed HTTP answer ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _Broken(f"malformed HTTP answer ({type(exc).__name__})") from None


async def _try_path(client: httpx.AsyncClient, target: str, path: str, max_bytes: int) -> CheckResult:
    started = time.perf_counter()
    status, body, url, hops = await _fetch(client, target, max_bytes)
    kind, why = judge_answer(status, body)
    if kind is None:
        raise _Next(why)
    latency = round((time.perf_counter() - started) * 1000, 1)
    return CheckResult(str(url), path, status, latency, kind, tuple(hops))


def status_targets(base_url: str, endpoints: Endpoints | None) -> list[tuple[str, str]]:
    """``(URL, label)`` of the status routes the check tries, in order: the commons' ``/_status``, indexd's
    ``_status`` and DRS service-info at their endpoints (labelled by their path under ``base_url`` when there)."""
    indexd = endpoints.indexd if endpoints is not None else base_url + "/index"
    drs = endpoints.drs if endpoints is not None else base_url
    urls = [base_url + STATUS_PATHS[0]]
    if indexd:
        urls.append(indexd + "/_status")
    if drs:
        urls.append(drs + STATUS_PATHS[2])
    return [(url, url.removeprefix(base_url) if url.startswith(base_url + "/") else url)
            for url in dict.fromkeys(urls)]


async def refuse_denied_hosts(base_url: str, egress: EgressPolicy, endpoints: Endpoints | None = None) -> None:
    """:class:`CandidateRefused` when the candidate's host is, or resolves into, a network ``egress`` denies (cloud
    metadata, private ranges…): the join check must not become a way to make the gateway call inside its
    network. Same-host redirects only, and the check's client enforces the same policy on every connection."""
    if egress.denies_nothing:
        return
    urls = [base_url, *(endpoints.hosts() if endpoints is not None else [])]
    for host in dict.fromkeys(httpx.URL(url).host for url in urls):
        try:
            await egress.check_host(host)
        except EgressDenied as exc:
            raise CandidateRefused(f"candidate {base_url} refused: {exc}: the gateway does not connect there "
                                   "(egress.deny_networks)") from None
        except OSError as exc:
            raise CandidateRefused(
                f"candidate {base_url} refused: unreachable: cannot resolve {host} ({exc})") from None


HEADERS = {"Accept": "application/json, text/plain;q=0.5", "Accept-Encoding": "identity",
           "User-Agent": "gateway-registry-check"}


async def check_candidate(
    base_url: str, *, timeout: float, max_bytes: int, egress: EgressPolicy, endpoints: Endpoints | None = None
) -> CheckResult:
    """The first status route that answers well (:func:`status_targets`), or :class:`CandidateRefused` saying what
    each one did. Every connection goes through ``egress``."""
    reasons: list[str] = []
    async with build_client(egress=egress, timeout=httpx.Timeout(timeout), headers=HEADERS,
                            trust_env=False) as client:
        try:
            async with asyncio.timeout(timeout):
                for target, path in status_targets(base_url, endpoints):
                    try:
                        return await _try_path(client, target, path, max_bytes)
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


async def _find(client: httpx.AsyncClient, call: CapabilityCall, root: str, max_bytes: int) -> Finding:
    target = root + call.path
    said = f"{call.method} {target.partition('?')[0]}"
    try:
        status, body, _, _ = await _fetch(client, target, max_bytes, call.method, call.body)
    except (_Stop, _Broken) as exc:
        return Finding(call.capability, "unknown", f"{said}: {exc}")
    except _Next as exc:
        return Finding(call.capability, "no", f"{said}: {exc}")
    verdict, why = judge_capability(call, status, body)
    return Finding(call.capability, verdict, f"{said}: {why}" if why else "")


async def discover_capabilities(
    member: Member, *, timeout: float, max_bytes: int, egress: EgressPolicy
) -> list[Finding]:
    """Ask ``member`` each call of its kind (:data:`CAPABILITY_CALLS`) at its endpoints, all at once under one
    deadline (``timeout`` seconds; a call without an answer by then is ``unknown``). A capability whose service has
    no endpoint is not asked (``no``: no such service)."""
    endpoints = member.endpoints
    calls = CAPABILITY_CALLS.get(member.kind, ())
    findings: list[Finding] = []
    asked: list[tuple[CapabilityCall, str]] = []
    for call in calls:
        root = getattr(endpoints, call.service)
        if root is None:
            findings.append(Finding(call.capability, "no", f"it has no {call.service} service"))
        else:
            asked.append((call, root))
    async with build_client(egress=egress, timeout=httpx.Timeout(timeout), headers=HEADERS,
                            trust_env=False) as client:
        tasks = [asyncio.ensure_future(_find(client, call, root, max_bytes)) for call, root in asked]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for (call, root), task in zip(asked, tasks):
            if task.done() and not task.cancelled() and task.exception() is None:
                findings.append(task.result())
            else:
                task.cancel()
                findings.append(Finding(call.capability, "unknown",
                                        f"{call.method} {root}{call.path.partition('?')[0]}: no answer in time"))
        await asyncio.gather(*tasks, return_exceptions=True)
    if member.kind == "drs":
        records = next((f for f in findings if f.capability == "records"), None)
        if records is not None:
            findings.append(Finding("signed_urls", records.verdict, records.why))
    order = {c: n for n, c in enumerate(CAPABILITIES)}
    return sorted(findings, key=lambda f: order.get(f.capability, len(order)))


def refusal_for(base_url: str, findings: Sequence[Finding]) -> CandidateRefused | None:
    """The refusal of a candidate whose records call answered, but not like indexd/DRS (``None``: it did, or gave no
    answer in time: its status route answered, so it is no layout error as far as the check can tell, and the
    prober asks again)."""
    records = next((f for f in findings if f.capability == "records"), None)
    if records is None or records.verdict != "no":
        return None
    return CandidateRefused(
        f"candidate {base_url} refused: its records path does not answer like indexd/DRS: {records.why} (declare "
        "where the service is with endpoints: docs/members.md)")

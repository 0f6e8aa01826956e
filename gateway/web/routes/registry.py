"""HTTP surface of the registry: join, admin lifecycle, listing, health, audit, GA4GH Service Registry.

=======================================  ======  =====================================================
route                                    auth    what
=======================================  ======  =====================================================
``POST /registry/v1/commons``            none    join (candidate checked; rate-limited per address)
``GET /registry/v1/commons``             none    list (``?status=pending|active|suspended``)
``GET /registry/v1/commons/{id}``        none    one member
``PATCH /registry/v1/commons/{id}``      admin   change fields; added keys claimed, dropped ones freed
``DELETE /registry/v1/commons/{id}``     admin   remove; frees its prefixes and hostnames
``POST …/{id}/approve``, ``…/suspend``   admin   pending|suspended → active; active|pending → suspended
``GET /registry/v1/commons/{id}/health`` none    health state, last success, latency, recent failures
``GET /registry/v1/audit``               admin   every change (``?after=<seq>&limit=``)
``GET /services[/{id}]``, ``/types``     none    active members as GA4GH service-info objects
=======================================  ======  =====================================================

Admin routes need ``Authorization: Bearer <admin_token>`` (401 without or wrong; 403 when the gateway
has no admin token). Responses carry :meth:`Member.public` forms only: credentials never leave.

A join whose candidate fails the check is 422: the reason (what answered, which address is denied) goes to the
audit log (``join_refused``) and to the log under the request id, and into the answer only when an admin makes the
call; anyone else gets :data:`JOIN_REFUSED` and the request id to quote. An admin's change of ``base_url`` into a
network the egress policy denies is 422 with the reason.

GA4GH service type: every kind serves DRS (Gen3 and the reference commons at ``/ga4gh/drs/v1``), so each
member is ``{"group": "org.ga4gh", "artifact": "drs"}`` with version ``1.5.0`` for the reference commons
(which implements DRS 1.5) and ``1.2.0`` for ``gen3`` and ``drs`` members (the baseline the gateway
relies on). ``url`` is the member's ``base_url`` (DRS clients append ``/ga4gh/drs/v1``).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.core.egress import EgressDenied
from gateway.core.errors import ApiError, bad_request, conflict, forbidden, not_found, unauthorized
from gateway.core.logs import request_id_var
from gateway.core.member import MEMBER_ID_RE, Member, Status
from gateway.registry.join import CandidateRefused, check_candidate, refuse_denied_hosts
from gateway.registry.repository import InvalidTransition, MemberNotFound, RegistryConflict
from gateway.registry.schemas import JoinRequest, UpdateRequest
from gateway.web.body import read_model
from gateway.web.keys import REGISTRY
from gateway.web.openapi import operation
from gateway.web.query import query_int
from gateway.web.render import json_response
from gateway.web.state import Registry

OPERATION_ID_PREFIX = "registry.api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
TAGS = ("registry",)
SR_TAGS = ("service-registry",)
RATE_WINDOW = 3600
MAX_AUDIT_PAGE = 1000
_SEQ = re.compile(r"^\d{1,20}(-\d{1,20})?$")
SERVICE_VERSIONS = {"gen3": "1.2.0", "drs": "1.2.0", "reference": "1.5.0"}
JOIN_REFUSED = "the candidate did not pass the join check; the registry's operators can see why"
"""What an anonymous joiner learns of a refused candidate (the reason would map the gateway's network)."""
log = logging.getLogger("gateway.web.routes.registry")


# --- helpers -----------------------------------------------------------------------------------------


def _registry(request: web.Request) -> Registry:
    return request.app[REGISTRY]


@contextmanager
def _translated() -> Iterator[None]:
    """Registry failures as HTTP errors."""
    try:
        yield
    except MemberNotFound as exc:
        raise not_found(str(exc)) from None
    except (RegistryConflict, InvalidTransition) as exc:
        raise conflict(str(exc)) from None
    except ValueError as exc:
        raise bad_request(f"invalid change: {exc}") from None


def _member_id(request: web.Request) -> str:
    member_id = request.match_info["id"]
    if not MEMBER_ID_RE.match(member_id):
        raise not_found(f"no member commons {member_id[:80]!r}")
    return member_id


async def _member(request: web.Request) -> Member:
    member_id = _member_id(request)
    with _translated():
        return await _registry(request).repository.require(member_id)


def require_admin(request: web.Request) -> str:
    """403 when admin is disabled, 401 without the right bearer token; the actor name otherwise."""
    configured = _registry(request).settings.admin_token
    secret = configured.get_secret_value() if configured is not None else ""
    if not secret:
        raise forbidden("admin disabled: no admin token is configured (admin_token / GATEWAY_ADMIN_TOKEN)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise unauthorized("admin token required: Authorization: Bearer <admin token>")
    if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), secret.encode("utf-8", "replace")):
        raise unauthorized("invalid admin token")
    return "admin"


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


async def _rate_limit(request: web.Request, registry: Registry) -> None:
    """At most ``join_rate_limit`` joins per client address per clock hour (429 with ``Retry-After``)."""
    now = time.time()
    window = int(now // RATE_WINDOW)
    count = await registry.cache.incr(f"registry:join:{_client(request)}:{window}", ttl=RATE_WINDOW)
    limit = registry.settings.registry.join_rate_limit
    if count > limit:
        retry = int((window + 1) * RATE_WINDOW - now) + 1
        raise ApiError(429, f"too many join requests from {_client(request)}: at most {limit} per hour; "
                            f"retry in {retry}s", headers={"Retry-After": str(retry)})


# --- join, listing --------------------------------------------------------------------------------------


@routes.post("/registry/v1/commons")
@operation("Join the federation: a commons asks to be registered (pending until approved)", tags=TAGS,
           request=JoinRequest, responses={201: "registered, pending", 409: "id, prefix or hostname owned",
                                           422: "candidate failed the check", 429: "rate limited"})
async def join(request: web.Request) -> web.Response:
    registry = _registry(request)
    await _rate_limit(request, registry)
    body = await read_model(request, JoinRequest)
    candidate = body.to_member(now="")
    with _translated():
        await registry.repository.precheck(candidate)
    cfg = registry.settings.registry
    try:
        await refuse_denied_hosts(candidate.base_url, registry.egress)
        check = await check_candidate(candidate.base_url, timeout=cfg.join_probe_timeout,
                                      max_bytes=cfg.join_max_body_bytes, egress=registry.egress)
    except CandidateRefused as exc:
        raise await _join_refused(request, registry, candidate, exc) from None
    with _translated():
        member = await registry.repository.create(
            candidate, actor=f"join:{_client(request)}", detail={"check": check.to_doc()})
    return json_response({**member.public(), "check": check.to_doc()}, status=201,
                         headers={"Location": f"/registry/v1/commons/{member.id}"})


def _admin_caller(request: web.Request) -> str | None:
    """The admin making this call, else ``None`` (no or a wrong token: the caller is anonymous)."""
    if "Authorization" not in request.headers:
        return None
    try:
        return require_admin(request)
    except ApiError:
        return None


async def _join_refused(request: web.Request, registry: Registry, candidate: Member,
                        refused: CandidateRefused) -> ApiError:
    """The 422 of a refused candidate; its reason is audited and logged under the request id, and answered to an
    admin only."""
    reference = request_id_var.get() or ""
    reason = str(refused)
    await registry.repository.note(f"join:{_client(request)}", "join_refused", candidate.id,
                                   {"base_url": candidate.base_url, "reason": reason, "request_id": reference})
    log.info("join refused", extra={"member_id": candidate.id, "reason": reason})
    if _admin_caller(request) is not None:
        return ApiError(422, reason)
    return ApiError(422, f"{JOIN_REFUSED} (reference {reference})")


@routes.get("/registry/v1/commons")
@operation("List member commons", tags=TAGS, query=("status",))
async def list_members(request: web.Request) -> web.Response:
    raw = request.query.get("status")
    if raw is not None and raw not in Status.__members__:
        raise bad_request(f"status must be one of {', '.join(Status.__members__)}, not {raw[:40]!r}")
    registry = _registry(request)
    members = await registry.repository.members(Status(raw) if raw else None)
    return json_response({"commons": [m.public() for m in members],
                          "version": await registry.repository.version()})


@routes.get("/registry/v1/commons/{id}")
@operation("One member commons", tags=TAGS, responses={404: "no such member"})
async def get_member(request: web.Request) -> web.Response:
    return json_response((await _member(request)).public())


@routes.get("/registry/v1/commons/{id}/health")
@operation("Health of a member: state, last success, latency, recent failures", tags=TAGS,
           responses={404: "no such member"})
async def get_health(request: web.Request) -> web.Response:
    member = await _member(request)
    return json_response(await _registry(request).health.snapshot(member))


# --- admin ---------------------------------------------------------------------------------------------


def _declared_in_config(member: Member) -> None:
    if member.source == "config":
        raise conflict(f"member {member.id!r} is declared in the configuration file; change it there")


@routes.patch("/registry/v1/commons/{id}")
@operation("Change a member (admin); added prefixes and hostnames are claimed atomically", tags=TAGS,
           request=UpdateRequest, responses={401: "no or wrong admin token", 403: "admin disabled",
                                             404: "no such member", 409: "prefix or hostname owned",
                                             422: "base_url inside a network the egress policy denies"})
async def patch_member(request: web.Request) -> web.Response:
    actor = require_admin(request)
    member_id = _member_id(request)
    change = await read_model(request, UpdateRequest)
    registry = _registry(request)
    current = await _member(request)
    _declared_in_config(current)
    if change.base_url is not None:
        with _translated():
            moved = change.apply(current).base_url
        try:
            await registry.egress.check_host(urlsplit(moved).hostname or "")
        except EgressDenied as exc:
            raise ApiError(422, f"invalid change: base_url {moved}: {exc}; the gateway does not connect there "
                                "(egress.deny_networks)") from None
        except OSError:
            pass  # no address yet: whatever it resolves to later is checked on every connection
    with _translated():
        member = await registry.repository.update(member_id, change.apply, actor=actor)
    return json_response(member.public())


@routes.delete("/registry/v1/commons/{id}")
@operation("Remove a member (admin); frees its prefixes and hostnames", tags=TAGS,
           responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member"})
async def delete_member(request: web.Request) -> web.Response:
    actor = require_admin(request)
    _declared_in_config(await _member(request))
    with _translated():
        member = await _registry(request).repository.remove(_member_id(request), actor=actor)
    return json_response({"deleted": member.id})


async def _transition(request: web.Request, status: Status, allowed: set[Status]) -> web.Response:
    actor = require_admin(request)
    member_id = _member_id(request)
    with _translated():
        member = await _registry(request).repository.set_status(member_id, status, actor=actor,
                                                                allowed_from=allowed)
    return json_response(member.public())


@routes.post("/registry/v1/commons/{id}/approve")
@operation("Approve a member (admin): pending or suspended → active", tags=TAGS,
           responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member"})
async def approve(request: web.Request) -> web.Response:
    response = await _transition(request, Status.active, {Status.pending, Status.suspended})
    registry = _registry(request)
    member = await registry.repository.get(_member_id(request))
    if member is not None and member.status == Status.active:
        registry.health.probe_soon(member)  # its health is known at once, not after up to one interval
    return response


@routes.post("/registry/v1/commons/{id}/suspend")
@operation("Suspend a member (admin): active or pending → suspended", tags=TAGS,
           responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member"})
async def suspend(request: web.Request) -> web.Response:
    return await _transition(request, Status.suspended, {Status.active, Status.pending})


@routes.get("/registry/v1/audit")
@operation("The registry's audit log (admin)", tags=TAGS, query=("after", "limit"),
           responses={401: "no or wrong admin token", 403: "admin disabled"})
async def audit(request: web.Request) -> web.Response:
    require_admin(request)
    after = request.query.get("after")
    if after is not None and not (_SEQ.match(after) and all(int(p) < 2**63 for p in after.split("-"))):
        raise bad_request(f"after must be a sequence id from a previous page, not {after[:40]!r}")
    limit = query_int(request.query, "limit", 100, minimum=1) or 100
    if limit > MAX_AUDIT_PAGE:
        raise bad_request(f"limit must be at most {MAX_AUDIT_PAGE}")
    try:
        entries = await _registry(request).repository.audit(after=after or None, limit=limit)
    except (ValueError, OverflowError):
        raise bad_request(f"after must be a sequence id from a previous page, not {after!r}") from None
    return json_response({"entries": [{"seq": e.seq, **e.doc} for e in entries],
                          "next": entries[-1].seq if entries else None})


# --- GA4GH Service Registry ----------------------------------------------------------------------------


def service_type(member: Member) -> dict[str, str]:
    return {"group": "org.ga4gh", "artifact": "drs", "version": SERVICE_VERSIONS[member.kind]}


def _contact_url(contact: str) -> str | None:
    if contact.startswith(("mailto:", "https://", "http://")):
        return contact
    return f"mailto:{contact}" if "@" in contact else None


def service_entry(member: Member) -> dict[str, Any]:
    """A member as a GA4GH service-info object (pure)."""
    entry: dict[str, Any] = {
        "id": member.id,
        "name": member.name,
        "type": service_type(member),
        "description": f"{member.kind} commons in the federation"
                       + (f", GUID prefixes {', '.join(member.prefixes)}" if member.prefixes else ""),
        "organization": {"name": member.name, "url": member.base_url},
        "version": "unknown",
        "url": member.base_url,
        "createdAt": member.created,
        "updatedAt": member.updated,
    }
    if (contact := _contact_url(member.contact)) is not None:
        entry["contactUrl"] = contact
    return entry


@routes.get("/services")
@operation("GA4GH Service Registry: every active member as a service-info object", tags=SR_TAGS)
async def list_services(request: web.Request) -> web.Response:
    members = await _registry(request).repository.members(Status.active)
    return json_response([service_entry(m) for m in members])


@routes.get("/services/types")
@operation("GA4GH Service Registry: the service types of the active members", tags=SR_TAGS)
async def list_service_types(request: web.Request) -> web.Response:
    members = await _registry(request).repository.members(Status.active)
    types = {tuple(service_type(m).items()) for m in members}
    return json_response([dict(t) for t in sorted(types)])


@routes.get("/services/{id}")
@operation("GA4GH Service Registry: one active member", tags=SR_TAGS, responses={404: "no such active member"})
async def get_service(request: web.Request) -> web.Response:
    member = await _member(request)
    if member.status != Status.active:
        raise not_found(f"no active member commons {member.id!r}")
    return json_response(service_entry(member))

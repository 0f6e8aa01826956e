"""HTTP surface of the registry: join, admin lifecycle, listing, health, audit, GA4GH Service Registry.

=========================================  ======  =====================================================
route                                      auth    what
=========================================  ======  =====================================================
``POST /registry/v1/commons``              none(*) join, pending (candidate checked; rate-limited per address)
``GET /registry/v1/commons``               none    list (``?status=pending|active|suspended``); pending
                                                   members show ``expires`` and their ``conflicts``
``GET /registry/v1/commons/{id}``          none    one member
``PATCH /registry/v1/commons/{id}``        admin   change fields; added keys claimed, dropped ones freed
``DELETE /registry/v1/commons/{id}``       admin   remove; frees its prefixes and hostnames
``GET /registry/v1/commons/{id}/approval`` admin   what approving would do: auth in words, claims, conflicts
``POST …/{id}/approve``, ``…/suspend``     admin   pending|suspended → active; active|pending → suspended
``GET /registry/v1/commons/{id}/health``   none    health state, last success, latency, recent failures
``GET /registry/v1/audit``                 admin   every change (``?after=<seq>&limit=``)
``GET|POST /registry/v1/admins``           admin   list the named admins; add one (its token shown once)
``DELETE /registry/v1/admins/{name}``      admin   revoke a named admin (refused at once on every replica)
``GET /services[/{id}]``, ``/types``       none    active members as GA4GH service-info objects
``POST /registry/v1/cache/purge``          admin   purge ids (any spelling) or a member from every cache on
                                                   every replica (:mod:`gateway.resolver.purge`)
=========================================  ======  =====================================================

(*) with ``registry.anonymous_join: false`` only an admin may join a commons (403 otherwise); a join that carries
an ``Authorization`` header must carry a valid admin token (401), and is then not rate-limited.

A pending join asks for its prefixes and hostnames and claims nothing (:mod:`gateway.registry.repository`): it
never blocks another join, an admin or a declared member; the approval claims them all or nothing (409 naming the
holder). Approving a member that will be sent callers' credentials needs ``{"accept_passthrough": true}`` (422
without it; :mod:`gateway.registry.approval`).

Admin routes need ``Authorization: Bearer <token>``: the configured ``admin_token`` (the admin named
``bootstrap``) or a named admin's token (:mod:`gateway.registry.admins`); 401 without or wrong, 403 when the
gateway has neither. The audit log names the admin who acted (``admin:<name>``). Responses carry
:meth:`Member.public` forms only: credentials never leave.

A join checks a status route, then asks each service the calls its adapter will make, at the endpoints the body
declares (``endpoints``, over the kind's defaults; :mod:`gateway.registry.join`, docs/members.md): what the member
offers is recorded (``capabilities``) and shown with its resolved ``endpoints`` in every listing. A join whose
candidate fails the check (its records path included) is 422: the reason (what answered, which address is denied)
goes to the audit log (``join_refused``) and to the log under the request id, and into the answer only when an
admin makes the call; anyone else gets :data:`JOIN_REFUSED` and the request id to quote. An admin's change of
``base_url`` or an endpoint into a network the egress policy denies is 422 with the reason.

GA4GH service type: every kind serves DRS (Gen3 and the reference commons at ``/ga4gh/drs/v1``), so each
member is ``{"group": "org.ga4gh", "artifact": "drs"}`` with version ``1.5.0`` for the reference commons
(which implements DRS 1.5) and ``1.2.0`` for ``gen3`` and ``drs`` members (the baseline the gateway
relies on). ``url`` is the member's ``base_url`` (DRS clients append ``/ga4gh/drs/v1``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.cache.window import count_in_window
from gateway.core.egress import EgressDenied
from gateway.core.errors import ApiError, bad_request, conflict, forbidden, not_found, unauthorized
from gateway.core.logs import request_id_var
from gateway.core.member import MEMBER_ID_RE, Member, Status
from gateway.registry import token_guessing
from gateway.registry.admins import ADMIN_NAME_RE, AdminError, AdminNotFound, admin_actor
from gateway.registry.approval import conflicts, preview
from gateway.registry.config_members import REFCOMMONS_ID
from gateway.registry.join import (
    CandidateRefused,
    capabilities_from,
    check_candidate,
    discover_capabilities,
    refusal_for,
    refuse_denied_hosts,
)
from gateway.registry.repository import (
    AcknowledgementRequired,
    InvalidTransition,
    MemberNotFound,
    RegistryConflict,
    utc_now,
)
from gateway.registry.schemas import AdminAddRequest, ApproveRequest, JoinRequest, UpdateRequest
from gateway.resolver import purge
from gateway.resolver.endpoints import drs_endpoint
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.web.body import parse_as, read_json, read_model
from gateway.web.caller import client_address
from gateway.web.keys import DRS, REGISTRY, RESOLVER
from gateway.web.openapi import ADMIN, Query, operation
from gateway.web.query import query_int
from gateway.web.render import json_response
from gateway.web.shapes import MemberListShape, MemberShape
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
MIN_DISCOVERY = 0.1
"""Seconds the capability calls get at least when the status check took (nearly) all of the join's deadline."""
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
    except AcknowledgementRequired as exc:
        raise ApiError(422, str(exc)) from None
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


def _public(registry: Registry, member: Member) -> dict[str, Any]:
    """The member's public form, with ``expires`` while it is pending."""
    doc = member.public()
    if (expires := registry.repository.expires(member)) is not None:
        doc["expires"] = expires
    return doc


async def require_admin(request: web.Request) -> str:
    """403 when admin is disabled (no ``admin_token`` and no named admin), 401 without a valid admin bearer token,
    429 once the client presented too many wrong ones (:mod:`gateway.registry.token_guessing`); the audit actor
    (``admin:<name>``) otherwise. Named admins are read from the store on every call, so a revocation holds at once
    on every replica."""
    registry = _registry(request)
    configured = registry.settings.admin_token
    bootstrap = configured.get_secret_value() if configured is not None else ""
    if not bootstrap and not await registry.admins.exist():
        raise forbidden("admin disabled: no admin token is configured (admin_token / GATEWAY_ADMIN_TOKEN) and no "
                        "named admin exists (gateway admin add NAME)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise unauthorized("admin token required: Authorization: Bearer <admin token>")
    try:
        name = await token_guessing.guarded(
            registry.cache, client_address(request), registry.settings.registry.admin_token_failures,
            lambda: registry.admins.verify(given.strip(), bootstrap=bootstrap or None))
    except token_guessing.LockedOut as locked:
        raise ApiError(429, str(locked), headers={"Retry-After": str(locked.wait)}) from None
    if name is None:
        raise unauthorized("invalid admin token")
    return admin_actor(name)


async def _rate_limit(request: web.Request, registry: Registry) -> None:
    """At most ``join_rate_limit`` joins per client address per clock hour (429 with ``Retry-After``)."""
    client = client_address(request)
    counted = await count_in_window(registry.cache, f"registry:join:{client}", RATE_WINDOW)
    limit = registry.settings.registry.join_rate_limit
    if counted.count > limit:
        retry = counted.retry_after
        raise ApiError(429, f"too many join requests from {client}: at most {limit} per hour; "
                            f"retry in {retry}s", headers={"Retry-After": str(retry)})


# --- join, listing --------------------------------------------------------------------------------------


@routes.post("/registry/v1/commons")
@operation("Join the federation: a commons asks to be registered (pending until approved; it claims nothing "
           "until then)", tags=TAGS,
           request=JoinRequest, security=((), (ADMIN,)),
           responses={201: "registered, pending", 401: "a wrong admin token",
                                           403: "anonymous joining is switched off",
                                           409: "id taken, or a prefix or hostname owned by an admitted member",
                                           422: "candidate failed the check", 429: "rate limited"})
async def join(request: web.Request) -> web.Response:
    registry = _registry(request)
    admin = await require_admin(request) if "Authorization" in request.headers else None
    if admin is None and not registry.settings.registry.anonymous_join:
        raise forbidden("anonymous joining is switched off on this gateway: an administrator registers new members")
    if admin is None:
        await _rate_limit(request, registry)
    body = await read_model(request, JoinRequest)
    candidate = body.to_member(now="")
    with _translated():
        await registry.repository.precheck(candidate)
    cfg = registry.settings.registry
    deadline = time.monotonic() + cfg.join_probe_timeout  # one deadline for the whole check
    try:
        await refuse_denied_hosts(candidate.base_url, registry.egress, candidate.endpoints)
        check = await check_candidate(candidate.base_url, timeout=cfg.join_probe_timeout,
                                      max_bytes=cfg.join_max_body_bytes, egress=registry.egress,
                                      endpoints=candidate.endpoints)
        findings = await discover_capabilities(candidate, timeout=max(MIN_DISCOVERY, deadline - time.monotonic()),
                                               max_bytes=cfg.join_max_body_bytes, egress=registry.egress)
        if (refused := refusal_for(candidate.base_url, findings)) is not None:
            raise refused
    except CandidateRefused as exc:
        raise await _join_refused(request, registry, candidate, exc, admin=admin) from None
    candidate = replace(candidate, capabilities=capabilities_from(findings, utc_now()))
    checked = {**check.to_doc(), "capabilities": [{"capability": f.capability, "verdict": f.verdict, "why": f.why}
                                                  for f in findings]}
    with _translated():
        member = await registry.repository.create(
            candidate, actor=admin or f"join:{client_address(request)}", detail={"check": checked})
    return json_response({**_public(registry, member), "check": checked}, status=201,
                         headers={"Location": f"/registry/v1/commons/{member.id}"})


async def _join_refused(request: web.Request, registry: Registry, candidate: Member,
                        refused: CandidateRefused, *, admin: str | None) -> ApiError:
    """The 422 of a refused candidate; its reason is audited and logged under the request id, and answered to an
    admin only."""
    reference = request_id_var.get() or ""
    reason = str(refused)
    await registry.repository.note(admin or f"join:{client_address(request)}", "join_refused", {
        "member_id": candidate.id,
        "detail": {"base_url": candidate.base_url, "reason": reason, "request_id": reference}})
    log.info("join refused", extra={"member_id": candidate.id, "reason": reason})
    if admin is not None:
        return ApiError(422, reason)
    return ApiError(422, f"{JOIN_REFUSED} (reference {reference})")


@routes.get("/registry/v1/commons")
@operation("List member commons", tags=TAGS, response=MemberListShape,
           query=(Query("status", {"type": "string", "enum": ["pending", "active", "suspended"]}),))
async def list_members(request: web.Request) -> web.Response:
    raw = request.query.get("status")
    if raw is not None and raw not in Status.__members__:
        raise bad_request(f"status must be one of {', '.join(Status.__members__)}, not {raw[:40]!r}")
    registry = _registry(request)
    everyone = await registry.repository.members()
    listed = [m for m in everyone if raw is None or m.status == Status(raw)]
    return json_response({"commons": [_listed(registry, m, everyone) for m in listed],
                          "version": await registry.repository.version()})


def _listed(registry: Registry, member: Member, everyone: list[Member]) -> dict[str, Any]:
    """A member as listed: a pending one with when it expires and what its asks clash with."""
    doc = _public(registry, member)
    if member.status == Status.pending:
        doc["conflicts"] = [c.to_doc() for c in conflicts(member, everyone)]
    return doc


@routes.get("/registry/v1/commons/{id}")
@operation("One member commons", tags=TAGS, response=MemberShape, responses={404: "no such member"})
async def get_member(request: web.Request) -> web.Response:
    return json_response(_public(_registry(request), await _member(request)))


@routes.get("/registry/v1/commons/{id}/health")
@operation("Health of a member: state, last success, latency, recent failures", tags=TAGS,
           responses={404: "no such member"})
async def get_health(request: web.Request) -> web.Response:
    member = await _member(request)
    return json_response(await _registry(request).health.snapshot(member))


# --- admin ---------------------------------------------------------------------------------------------


MAX_PURGE_IDS = 1000


class PurgeRequest(BaseModel):
    """``ids`` (any spelling) or ``member``: exactly one."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = Field(None, min_length=1, max_length=MAX_PURGE_IDS,
                                  description="Ids to purge, in any spelling (bare UUID, prefixed, drs:// URI).")
    member: str | None = Field(None, description="A member id: every cached resolution (of every member) is retired.")

    @model_validator(mode="after")
    def _one(self) -> PurgeRequest:
        if (self.ids is None) == (self.member is None):
            raise ValueError("give exactly one of ids and member")
        return self


@routes.post("/registry/v1/cache/purge")
@operation("Purge ids (in any spelling) or a whole member from every cache on every replica (admin; audited): the "
           "next lookup asks the member again. Shared caches miss the ids' usual spellings at once; every cached "
           "resolution is retired on every replica within the registry's recheck interval", tags=TAGS,
           request=PurgeRequest, security=ADMIN,
           responses={400: "neither or both of ids and member, or an id that is not one",
                      401: "no or wrong admin token", 403: "admin disabled", 404: "no such member",
                      413: "more than 1000 ids"})
async def purge_cache(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    raw = await read_json(request)
    if isinstance(raw, dict) and isinstance(raw.get("ids"), list) and len(raw["ids"]) > MAX_PURGE_IDS:
        raise ApiError(413, f"at most {MAX_PURGE_IDS} ids per purge, got {len(raw['ids'])}")
    body = parse_as(PurgeRequest, raw)
    resolver = request.app[RESOLVER]
    drs = request.app.get(DRS)
    routes_now, generation = await resolver.scope()
    fields: dict[str, Any]
    if body.ids is not None:
        try:
            idents = purge.parsed(body.ids)
        except InvalidIdentifier as exc:
            raise bad_request(str(exc)) from None
        await purge.forget(resolver, idents, routes_now, generation)
        if drs is not None:
            await drs.forget(list(idents), routes_now, generation)
        fields = {"ids": body.ids[:100], "count": len(body.ids)}
    else:
        with _translated():
            member = await _registry(request).repository.require(body.member or "")
        fields = {"member_id": member.id}
    new = await purge.retire_all(resolver, f"purge by {actor}")
    await _registry(request).repository.note(actor, "cache.purge", {**fields, "generation": new})
    log.info("cache purged", extra={"actor": actor, **fields, "generation": new})
    return json_response({"purged": fields, "generation": new})


def _declared_in_config(member: Member) -> None:
    if member.source == "config":
        raise conflict(f"member {member.id!r} is declared in the configuration file; change it there")


@routes.patch("/registry/v1/commons/{id}")
@operation("Change a member (admin); added prefixes and hostnames are claimed atomically", tags=TAGS,
           response=MemberShape,
           request=UpdateRequest, security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled",
                                             404: "no such member", 409: "prefix or hostname owned",
                                             422: "base_url or an endpoint inside a network the egress policy "
                                                  "denies"})
async def patch_member(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    member_id = _member_id(request)
    change = await read_model(request, UpdateRequest)
    registry = _registry(request)
    current = await _member(request)
    _declared_in_config(current)
    if change.base_url is not None or change.endpoints is not None:
        with _translated():
            changed = change.apply(current)
        for moved in dict.fromkeys([changed.base_url, *changed.endpoints.hosts()]):
            try:
                await registry.egress.check_host(urlsplit(moved).hostname or "")
            except EgressDenied as exc:
                raise ApiError(422, f"invalid change: {moved}: {exc}; the gateway does not connect there "
                                    "(egress.deny_networks)") from None
            except OSError:
                pass  # no address yet: whatever it resolves to later is checked on every connection
    with _translated():
        member = await registry.repository.update(member_id, change.apply, actor=actor)
    return json_response(_public(registry, member))


@routes.delete("/registry/v1/commons/{id}")
@operation("Remove a member (admin); frees its prefixes and hostnames", tags=TAGS,
           security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member"})
async def delete_member(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    current = await _member(request)
    if current.id != REFCOMMONS_ID:  # its URL is an instance's fact: removing it moves it to this instance
        _declared_in_config(current)
    registry = _registry(request)
    with _translated():
        member = await registry.repository.remove(_member_id(request), actor=actor)
        if member.id == REFCOMMONS_ID and registry.keeper is not None:
            await registry.keeper.reassert_now()  # written again at once, under this instance's URL
    return json_response({"deleted": member.id})


async def _preview(registry: Registry, member: Member) -> dict[str, Any]:
    return preview(member, await registry.repository.members())


@routes.get("/registry/v1/commons/{id}/approval")
@operation("What approving a member would do (admin): the auth it asked for in plain words (whether callers' "
           "credentials will be sent to it), the prefixes and hostnames it claims, and every conflict", tags=TAGS,
           security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member"})
async def approval(request: web.Request) -> web.Response:
    await require_admin(request)
    registry = _registry(request)
    member = await _member(request)
    return json_response({"member": _public(registry, member), **await _preview(registry, member)})


@routes.post("/registry/v1/commons/{id}/approve")
@operation("Approve a member (admin): pending or suspended → active. It claims every prefix and hostname it asked "
           "for, or nothing (409 naming the holder). A member that would be sent callers' credentials (auth "
           "passthrough or passport) needs {\"accept_passthrough\": true}. The answer shows what it receives.",
           tags=TAGS, request=ApproveRequest,
           security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member",
                      409: "a prefix or hostname is owned by another member",
                      422: "passthrough not accepted (accept_passthrough)"})
async def approve(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    member_id = _member_id(request)
    await _member(request)
    body = parse_as(ApproveRequest, await read_json(request, allow_empty=True) or {})
    registry = _registry(request)
    with _translated():
        member = await registry.repository.approve(member_id, actor=actor, accepted_forwarding=body.accept_passthrough)
    if member.status == Status.active:
        registry.health.probe_soon(member)  # its health is known at once, not after up to one interval
    return json_response({**_public(registry, member), "approval": await _preview(registry, member)})


@routes.post("/registry/v1/commons/{id}/suspend")
@operation("Suspend a member (admin): active or pending → suspended (a suspended member keeps its claims: leaving "
           "pending claims them, 409 naming the holder)", response=MemberShape, tags=TAGS,
           security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such member",
                      409: "a prefix or hostname is owned by another member"})
async def suspend(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    member_id = _member_id(request)
    registry = _registry(request)
    with _translated():
        member = await registry.repository.set_status(member_id, Status.suspended, actor=actor,
                                                      allowed_from={Status.active, Status.pending})
    return json_response(_public(registry, member))


@routes.get("/registry/v1/audit")
@operation("The registry's audit log (admin)", tags=TAGS, query=("after", "limit"),
           security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled"})
async def audit(request: web.Request) -> web.Response:
    await require_admin(request)
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


# --- named admins ----------------------------------------------------------------------------------------------


@routes.get("/registry/v1/admins")
@operation("The named admins (admin): names, when and by whom added; never a token", tags=TAGS,
           security=ADMIN, responses={401: "no or wrong admin token", 403: "admin disabled"})
async def list_admins(request: web.Request) -> web.Response:
    await require_admin(request)
    registry = _registry(request)
    configured = registry.settings.admin_token
    return json_response({"admins": [a.public() for a in await registry.admins.admins()],
                          "bootstrap": bool(configured is not None and configured.get_secret_value())})


@routes.post("/registry/v1/admins")
@operation("Add a named admin (admin); the answer carries its token, shown this once (only a hash is kept)",
           tags=TAGS, request=AdminAddRequest,
           security=ADMIN,
           responses={201: "added", 400: "bad name", 401: "no or wrong admin token", 403: "admin disabled",
                      409: "that name exists"})
async def add_admin(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    body = await read_model(request, AdminAddRequest)
    try:
        admin, token = await _registry(request).admins.add(body.name, by=actor)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    except AdminError as exc:  # the name exists, or too many admins
        raise conflict(str(exc)) from None
    return json_response({**admin.public(), "token": token}, status=201,
                         headers={"Cache-Control": "no-store"})


@routes.delete("/registry/v1/admins/{name}")
@operation("Revoke a named admin (admin): its token is refused from the next request on, on every replica",
           tags=TAGS, security=ADMIN,
           responses={401: "no or wrong admin token", 403: "admin disabled", 404: "no such admin"})
async def revoke_admin(request: web.Request) -> web.Response:
    actor = await require_admin(request)
    name = request.match_info["name"]
    if not ADMIN_NAME_RE.match(name):
        raise not_found(f"no admin named {name[:80]!r}")
    try:
        await _registry(request).admins.revoke(name, by=actor)
    except AdminNotFound as exc:
        raise not_found(str(exc)) from None
    return json_response({"revoked": name})


# --- GA4GH Service Registry ----------------------------------------------------------------------------


def service_type(member: Member) -> dict[str, str]:
    return {"group": "org.ga4gh", "artifact": "drs", "version": SERVICE_VERSIONS[member.kind]}


def _contact_url(contact: str) -> str | None:
    if contact.startswith(("mailto:", "https://", "http://")):
        return contact
    return f"mailto:{contact}" if "@" in contact else None


def service_entry(member: Member) -> dict[str, Any]:
    """A member as a GA4GH service-info object (pure): every kind is reached as a DRS service, whose root
    (:func:`~gateway.resolver.endpoints.drs_endpoint`) is its ``url``; the organization's is the member's base."""
    entry: dict[str, Any] = {
        "id": member.id,
        "name": member.name,
        "type": service_type(member),
        "description": f"{member.kind} commons in the federation"
                       + (f", GUID prefixes {', '.join(member.prefixes)}" if member.prefixes else ""),
        "organization": {"name": member.name, "url": member.base_url},
        "version": "unknown",
        "url": drs_endpoint(member),
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

"""The web portal's pages (HTML for people; docs/portal.md): parse the request, call a portal page model over the
very services the JSON API's handlers use, render a Jinja2 template.

- ``GET /``: the home page, GUID lookup; ``POST /lookup`` (form: ``ids``) the same page with a row per id;
  ``GET /guid/{id}``: the permalink of one id (any form: GUID, bare UUID, ``drs://`` URI…).
- ``GET /portal/download?id=&access_id=``: the signed URL of an object's access method, fetched only now (a
  ``303`` to it): no page embeds one.
- ``GET /federation``: the members, their prefixes, status and health over time (as the prober records it);
  ``POST /federation/sign-in`` (form: ``token``, the admin bearer token) and ``POST /federation/sign-out``: an
  admin session (:mod:`gateway.portal.admin`); ``POST /federation/{id}/approve`` and ``…/suspend``: a signed-in
  admin's actions, through the registry's repository as the API's.
- ``GET /studies?q=&tag=&offset=``: study discovery (full text, tag filters, stale snapshots marked);
  ``GET /studies/{guid}``: one study's metadata.
- ``GET /explore?f.<facet>=<value>…``: the cohort explorer (tiered counts, per-member status, a chart per facet);
  ``POST /explore/export``: an export job of the cohort (PFB, or a manifest of its subjects' files),
  ``GET /explore/jobs/{id}`` its progress.
- ``GET /passport``, ``POST /passport``: what a pasted Passport grants, Visa by Visa (POST only).
- ``GET /portal/static/{name}``: the pages' assets, from memory (:mod:`gateway.portal.assets`).

Every page carries the strict Content-Security-Policy of :mod:`gateway.portal.csp`; every form the CSRF token of
:mod:`gateway.portal.csrf` (checked on each ``POST``). The handlers are marked :func:`~gateway.web.openapi.page`:
they are not part of the JSON API nor of its OpenAPI document. A page's failures are pages too (HTML with the
right status), not the API's JSON errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from gateway.core.errors import ApiError
from gateway.core.member import MEMBER_ID_RE, Status
from gateway.discovery.documents import CountHider
from gateway.discovery.harvest import DiscoveryView
from gateway.export.job import JOB_ID, is_expired, public_doc
from gateway.export.plan import ExportFailed, ExportRequest, plan_export
from gateway.export.runner import JobMissing, JobsFull
from gateway.passports.evaluation import PassportRejected
from gateway.portal import admin, csp, csrf
from gateway.portal.assets import HTMX, STATIC_PATH
from gateway.portal.explore import (
    INDEX,
    CohortNotListed,
    cohort_subjects,
    explore,
    files_filter,
    guppy_filter,
    selection,
)
from gateway.portal.federation import federation_view
from gateway.portal.lookup import look_up, signed_url, split_ids
from gateway.portal.passport import inspect
from gateway.portal.studies import search_page, study_page
from gateway.registry import token_guessing
from gateway.registry.repository import AcknowledgementRequired, InvalidTransition, MemberNotFound, RegistryConflict
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.resolver.outcomes import ResolutionError
from gateway.search.mapping.translate import UntranslatableQuery
from gateway.search.question import check_filter
from gateway.web.caller import caller_from_request, client_address
from gateway.web.keys import (
    COHORT,
    COUNT_HIDER,
    DICTIONARIES,
    DRS,
    EXPORT,
    GATE,
    HARVESTER,
    JOBS,
    OPEN_AUTHZ,
    OWN_HOST,
    PORTAL,
    REGISTRY,
)
from gateway.web.openapi import page
from gateway.web.routes.discovery import COUNTED_FIELDS

routes = web.RouteTableDef()

MAX_FORM_TEXT = 256 * 1024
"""Longest pasted text a lookup form may carry (characters)."""


# --- rendering ----------------------------------------------------------------------------------------------------


def _csrf_token(request: web.Request) -> tuple[str, bool]:
    """The browser's CSRF token, or a new one (``True``: to be set as the cookie)."""
    cookie = request.cookies.get(csrf.COOKIE)
    return (cookie, False) if cookie is not None and csrf.well_formed(cookie) else (csrf.new_token(), True)


def render(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """``template`` rendered with the portal's shared context, with the page headers and, when the browser has
    none, the CSRF cookie."""
    site = request.app[PORTAL]
    token, fresh = _csrf_token(request)
    shared = {"asset": site.urls, "htmx": HTMX.file, "csrf": token, "csrf_field": csrf.FIELD,
              "max_ids": site.config.max_ids}
    response = aiohttp_jinja2.render_template(template, request, {**shared, **context}, status=status)
    response.headers.update(csp.PAGE_HEADERS)
    if fresh:
        response.set_cookie(csrf.COOKIE, token, httponly=True, samesite="Strict", path="/", secure=request.secure)
    return response


def problem(request: web.Request, status: int, title: str, message: str, *, back: str = "/") -> web.Response:
    """The page saying why a request failed, with its status. Asked by htmx (a form swapping part of a page), it
    replaces the page's main content instead, so the person sees it rather than stale results."""
    response = render(request, "problem.html", {"title": title, "message": message, "back": back, "nav": None},
                      status=status)
    if request.headers.get("HX-Request") == "true":
        response.headers.update({"HX-Retarget": "#main", "HX-Reselect": "#main", "HX-Reswap": "outerHTML"})
    return response


def _origins(request: web.Request) -> list[str]:
    return [f"{request.scheme}://{request.host}", request.app[PORTAL].public_origin]


async def checked_form(request: web.Request) -> tuple[Mapping[str, str], web.Response | None]:
    """The posted form's fields, or the page refusing it (CSRF, not a form, too large)."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}, problem(request, 415, "Not a form", "this address takes the portal's own forms only")
    try:
        posted = await request.post()
    except (ValueError, UnicodeDecodeError):
        return {}, problem(request, 400, "Not a form", "the form could not be read")
    fields = {k: v for k, v in posted.items() if isinstance(v, str)}
    refused = csrf.refusal(request.cookies.get(csrf.COOKIE), fields.get(csrf.FIELD), request.headers.get("Origin"),
                           _origins(request))
    if refused is not None:
        return fields, problem(request, 403, "Form refused", refused)
    return fields, None


# --- home and GUID lookup -----------------------------------------------------------------------------------------


async def _lookup_page(request: web.Request, text: str, ids: list[str], dropped: int, *, title: str) -> web.Response:
    rows = None
    refused = None
    if ids:
        try:
            rows = await look_up(request.app[DRS], request.app.get(OPEN_AUTHZ), ids, client=client_address(request))
        except ApiError as exc:  # past the fan-out budget: the whole lookup is refused, as on the API
            rows, refused = [], exc.message
    return render(request, "home.html", {"title": title, "nav": "lookup", "text": text, "rows": rows,
                                         "dropped": dropped, "refused": refused})


@routes.get("/")
@page
async def home(request: web.Request) -> web.Response:
    return await _lookup_page(request, "", [], 0, title="Look up identifiers")


@routes.post("/lookup")
@page
async def lookup(request: web.Request) -> web.Response:
    fields, refused = await checked_form(request)
    if refused is not None:
        return refused
    text = fields.get("ids", "")[:MAX_FORM_TEXT]
    ids, dropped = split_ids(text, request.app[PORTAL].config.max_ids)
    return await _lookup_page(request, text, ids, dropped, title="Look up identifiers")


@routes.get("/guid/{id:.+}")
@page
async def guid(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    return await _lookup_page(request, raw, [raw], 0, title=raw[:80])


@routes.get("/portal/download")
@page
async def download(request: web.Request) -> web.StreamResponse:
    """A ``303`` to the signed URL of ``id``'s access method ``access_id``, asked only now."""
    raw, access_id = request.query.get("id", ""), request.query.get("access_id", "")
    if not raw or not access_id:
        return problem(request, 400, "Nothing to download", "a download needs an id and an access method")
    back = f"/guid/{raw}"
    try:
        url = await signed_url(request.app[DRS], raw, access_id, client=client_address(request))
    except InvalidIdentifier as exc:
        return problem(request, 400, "Not an identifier", str(exc))
    except ResolutionError as exc:
        if exc.status in (401, 403):
            return problem(request, exc.status, "Controlled access",
                           "this file is not open data: download it through the API with your credentials or a "
                           "Passport", back=back)
        return problem(request, exc.status, "Download unavailable", exc.message, back=back)
    except ApiError as exc:
        return problem(request, exc.status, "Download unavailable", exc.message, back=back)
    if url.headers:
        return problem(request, 502, "Download unavailable",
                       "this file's URL needs request headers a browser link cannot send: use the DRS API", back=back)
    if urlsplit(url.url).scheme not in ("http", "https"):
        return problem(request, 502, "Download unavailable",
                       "the member commons answered a URL a browser cannot open", back=back)
    raise web.HTTPSeeOther(url.url, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


# --- federation -------------------------------------------------------------------------------------------------


def _sessions(request: web.Request) -> admin.AdminSessions:
    registry = request.app[REGISTRY]

    def bootstrap() -> str | None:
        configured = registry.settings.admin_token
        return configured.get_secret_value() if configured is not None else None

    return admin.AdminSessions(registry.admins, registry.repository.store, bootstrap)


async def _federation_page(request: web.Request, *, status: int = 200, message: str | None = None,
                           signed_in: admin.SignedIn | None = None, check: bool = True) -> web.Response:
    registry = request.app[REGISTRY]
    sessions = _sessions(request)
    if check:
        signed_in = await sessions.current(request.cookies.get(admin.COOKIE))
    view = await federation_view(registry.repository, registry.health)
    return render(request, "federation.html", {"title": "Federation", "nav": "federation", "view": view,
                                               "admin": signed_in, "admin_enabled": await sessions.enabled(),
                                               "message": message}, status=status)


@routes.get("/federation")
@page
async def federation(request: web.Request) -> web.Response:
    return await _federation_page(request)


@routes.post("/federation/sign-in")
@page
async def federation_sign_in(request: web.Request) -> web.StreamResponse:
    """An admin session for the posted admin token (the token is checked and forgotten; the browser gets only an
    opaque session id)."""
    fields, refused = await checked_form(request)
    if refused is not None:
        return refused
    sessions = _sessions(request)
    if not await sessions.enabled():
        return problem(request, 403, "Admin disabled", "this gateway has no admin token and no named admin",
                       back="/federation")
    registry = request.app[REGISTRY]
    given = fields.get("token", "")[:MAX_FORM_TEXT]
    try:
        opened = await token_guessing.guarded(registry.cache, client_address(request),
                                              registry.settings.registry.admin_token_failures,
                                              lambda: sessions.sign_in(given), counts=bool(given.strip()))
    except token_guessing.LockedOut as locked:
        refused = problem(request, 429, "Too many wrong admin tokens", str(locked).capitalize() + ".",
                          back="/federation")
        refused.headers["Retry-After"] = str(locked.wait)
        return refused
    if opened is None:
        return await _federation_page(request, status=401, message="That is not an admin token of this gateway.",
                                      check=False)
    session_id, _ = opened
    response = web.HTTPSeeOther("/federation", headers={"Cache-Control": "no-store"})
    response.set_cookie(admin.COOKIE, session_id, httponly=True, samesite="Strict", path=admin.COOKIE_PATH,
                        secure=request.secure, max_age=admin.TTL)
    raise response


@routes.post("/federation/sign-out")
@page
async def federation_sign_out(request: web.Request) -> web.StreamResponse:
    _, refused = await checked_form(request)
    if refused is not None:
        return refused
    await _sessions(request).sign_out(request.cookies.get(admin.COOKIE))
    response = web.HTTPSeeOther("/federation", headers={"Cache-Control": "no-store"})
    response.del_cookie(admin.COOKIE, path=admin.COOKIE_PATH)
    raise response


@routes.post(r"/federation/{id}/{action:approve|suspend}")
@page
async def federation_action(request: web.Request) -> web.StreamResponse:
    """A signed-in admin approves or suspends a member: the repository calls of ``POST
    /registry/v1/commons/{id}/approve`` and ``…/suspend``, audited under the admin's name."""
    fields, refused = await checked_form(request)
    if refused is not None:
        return refused
    signed_in = await _sessions(request).current(request.cookies.get(admin.COOKIE))
    if signed_in is None:
        return problem(request, 403, "Admins only", "sign in as an admin on this page first", back="/federation")
    member_id, action = request.match_info["id"], request.match_info["action"]
    if not MEMBER_ID_RE.match(member_id):
        return problem(request, 404, "No such member", "no member commons has this id", back="/federation")
    registry = request.app[REGISTRY]
    try:
        if action == "approve":
            member = await registry.repository.approve(member_id, actor=signed_in.actor,
                                                       accepted_forwarding=fields.get("accept_passthrough") == "yes")
            if member.status == Status.active:
                registry.health.probe_soon(member)
        else:
            await registry.repository.set_status(member_id, Status.suspended, actor=signed_in.actor,
                                                 allowed_from={Status.active, Status.pending})
    except MemberNotFound as exc:
        return problem(request, 404, "No such member", str(exc), back="/federation")
    except (RegistryConflict, InvalidTransition) as exc:
        return await _federation_page(request, status=409, message=str(exc), signed_in=signed_in, check=False)
    except AcknowledgementRequired as exc:
        return await _federation_page(request, status=422, message=str(exc), signed_in=signed_in, check=False)
    raise web.HTTPSeeOther(f"/federation#member-{member_id}", headers={"Cache-Control": "no-store"})


# --- study discovery --------------------------------------------------------------------------------------------

MAX_SELECTED_TAGS = 50


async def _discovery(request: web.Request) -> tuple[DiscoveryView, CountHider | None, float]:
    harvester = request.app[HARVESTER]
    view = await harvester.view()
    factory = request.app.get(COUNT_HIDER)
    hider = await factory(request, view.snapshots) if factory is not None else None
    return view, hider, harvester.clock()


@routes.get("/studies")
@page
async def studies(request: web.Request) -> web.Response:
    text = request.query.get("q", "")[:1000]
    selected = list(dict.fromkeys(request.query.getall("tag", [])))[:MAX_SELECTED_TAGS]
    try:
        offset = max(0, min(int(request.query.get("offset", "0")), 1_000_000))
    except ValueError:
        offset = 0
    view, hider, now = await _discovery(request)
    try:
        found = search_page(view, now, q=text, selected=selected, offset=offset, count_hider=hider,
                            counted_fields=COUNTED_FIELDS)
    except ValueError as exc:  # over the search's limits: the API's 400
        return problem(request, 400, "Search not understood", str(exc), back="/studies")

    def query_for(at: int) -> str:
        return urlencode([("q", text), *(("tag", t) for t in selected), ("offset", str(at))])

    return render(request, "studies.html", {"title": "Studies", "nav": "studies", "page": found,
                                            "query_for": query_for})


@routes.get("/studies/{guid:.+}")
@page
async def study(request: web.Request) -> web.Response:
    guid = request.match_info["guid"]
    view, hider, now = await _discovery(request)
    found = study_page(view, now, guid, count_hider=hider, counted_fields=COUNTED_FIELDS)
    if found is None:
        return problem(request, 404, "No such study", f"no member commons has a study {guid[:200]!r}",
                       back="/studies")
    return render(request, "study.html", {"title": found.row.title, "nav": "studies", "study": found})


# --- cohort explorer --------------------------------------------------------------------------------------------


def _selection(request: web.Request, fields: MultiMapping[Any] | None = None) -> dict[str, tuple[str, ...]]:
    """The explorer's selection from the query string, or from a posted form's ``fields``."""
    facets = request.app[PORTAL].config.explore_facets
    source: MultiMapping[Any] = request.query if fields is None else fields
    values = {f"f.{facet}": [v for v in source.getall(f"f.{facet}", []) if isinstance(v, str)] for facet in facets}
    return selection(values, facets)


@routes.get("/explore")
@page
async def explore_page(request: web.Request) -> web.Response:
    facets = request.app[PORTAL].config.explore_facets
    selected = _selection(request)
    flt = guppy_filter(selected)
    try:
        if flt is not None:
            check_filter(flt)
        view = await explore(request.app[COHORT], await caller_from_request(request), facets, selected)
    except ApiError as exc:
        return problem(request, exc.status, "Search not possible", exc.message, back="/explore")
    except UntranslatableQuery as exc:
        return problem(request, 400, "Search not possible", str(exc), back="/explore")
    return render(request, "explore.html", {"title": "Explore a cohort", "nav": "explore", "view": view},
                  status=200 if view.answered or not view.sources else 503)


@routes.post("/explore/export")
@page
async def explore_export(request: web.Request) -> web.StreamResponse:
    """Start an export job of the cohort, as ``POST /search/v1/export`` with ``delivery: job`` does, and show its
    progress page: ``format=pfb`` (default), the cohort's accessible subjects as PFB; ``format=manifest``, a
    manifest of their files (the file index, filtered to the cohort's subject ids)."""
    fields, refused = await checked_form(request)
    if refused is not None:
        return refused
    posted = await request.post()  # read once by checked_form; aiohttp keeps it
    selected = _selection(request, posted)
    caller = await caller_from_request(request)
    try:
        if fields.get("format") == "manifest":
            subjects = await cohort_subjects(request.app[COHORT], caller, selected)
            if not subjects:
                return problem(request, 404, "Nothing to export", "this cohort has no subject you can access",
                               back="/explore")
            body = ExportRequest(index="file", filter=files_filter(subjects), format="manifest", delivery="job")
        else:
            body = ExportRequest(index=INDEX, filter=guppy_filter(selected), format="pfb", delivery="job")
        if body.filter is not None:
            check_filter(body.filter)
        plan = await plan_export(request.app[COHORT], body, caller, request.app[EXPORT], request.app[DICTIONARIES])
        production = plan.produce(request.app[COHORT], caller, request.app[EXPORT], asyncio.get_running_loop(),
                                  request.app[OWN_HOST])
        job = await request.app[JOBS].submit(plan, production)
    except CohortNotListed as exc:
        return problem(request, 409, "Export not possible", str(exc), back="/explore")
    except ExportFailed as exc:
        return problem(request, exc.status, "Export not possible", str(exc), back="/explore")
    except ApiError as exc:
        return problem(request, exc.status, "Export not possible", exc.message, back="/explore")
    except UntranslatableQuery as exc:
        return problem(request, 400, "Export not possible", str(exc), back="/explore")
    except JobsFull:
        return problem(request, 429, "Export not possible now", "the gateway runs as many exports as it may; "
                       "try again in a minute", back="/explore")
    raise web.HTTPSeeOther(f"/explore/jobs/{job.id}")


@routes.get("/explore/jobs/{job_id}")
@page
async def explore_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    service = request.app[JOBS]
    if not JOB_ID.fullmatch(job_id):
        return problem(request, 404, "No such export", "no export job has this address", back="/explore")
    try:
        job = await service.read(job_id)
    except JobMissing:
        return problem(request, 404, "No such export", "unknown, deleted, or expired", back="/explore")
    if is_expired(job, service.clock()):
        return problem(request, 410, "Export expired", "this export's file is no longer kept", back="/explore")
    return render(request, "export_job.html", {"title": "Export", "nav": "explore", "job": public_doc(job)})


# --- Passports ---------------------------------------------------------------------------------------------------


@routes.get("/passport")
@page
async def passport_form(request: web.Request) -> web.Response:
    return render(request, "passport.html", {"title": "Your Passport", "nav": "passport",
                                             "enabled": request.app.get(GATE) is not None, "view": None,
                                             "refused": None})


@routes.post("/passport")
@page
async def passport_check(request: web.Request) -> web.Response:
    """What the posted Passport grants (the Passport is read from the body only and never echoed)."""
    fields, refused = await checked_form(request)
    if refused is not None:
        return refused
    gate = request.app.get(GATE)
    context: dict[str, Any] = {"title": "Your Passport", "nav": "passport", "enabled": gate is not None,
                               "view": None, "refused": None}
    if gate is None:
        return render(request, "passport.html", context, status=404)
    try:
        context["view"] = await inspect(gate, fields.get("passport", ""))
    except PassportRejected as exc:
        context.update(refused=exc.reason, refused_status=exc.status)
        return render(request, "passport.html", context, status=exc.status)
    return render(request, "passport.html", context)


# --- assets -------------------------------------------------------------------------------------------------------


@routes.get(STATIC_PATH + "/{name}")
@page
async def static(request: web.Request) -> web.Response:
    asset = request.app[PORTAL].assets.get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    headers = {**csp.ASSET_HEADERS, "ETag": asset.etag}
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})

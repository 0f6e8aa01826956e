"""HTTP routes of the fence subset: API-key exchange and management, ``/user``, JWKS, signed download URLs
(:data:`routes`); the byte endpoint they point to (``/storage/...``, :data:`storage_routes`, a stand-in for the
bucket); the WTS stub gen3 drs-pull calls (:data:`wts_routes`).

Paths are fence's own (``/credentials/...``, ``/data/download/{guid}``); Gen3's proxy serves them under ``/user``
(:mod:`refcommons.layout`), so the unmodified Gen3 SDK works against the reference commons.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote, urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from gateway.core.errors import bad_request, not_found, unauthorized
from gateway.web.body import parse_as, read_json
from gateway.web.methods import only
from gateway.web.openapi import operation
from gateway.web.query import query_int
from gateway.web.render import json_response
from refcommons.commons import ReferenceCommons
from refcommons.fence.service import Principal
from refcommons.routes.keys import COMMONS

OPERATION_ID_PREFIX = "refcommons.fence_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
storage_routes = web.RouteTableDef()
wts_routes = web.RouteTableDef()
log = logging.getLogger("refcommons.fence")

TAGS = ("fence",)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Credentials(BaseModel):
    """Gen3 credentials JSON (``credentials.json``)."""

    model_config = ConfigDict(extra="ignore")
    api_key: str
    key_id: str | None = None


class NewApiKey(BaseModel):
    """Optional body of an API-key creation request."""

    model_config = ConfigDict(extra="ignore")
    expires_in: int | None = None
    scope: list[str] | None = None


class AccessToken(BaseModel):
    access_token: str


class SignedUrl(BaseModel):
    url: str


def _commons(request: web.Request) -> ReferenceCommons:
    return request.config_dict[COMMONS]


async def _caller(request: web.Request) -> tuple[Principal, str]:
    """The authenticated caller and their user name (401 without a valid bearer access token)."""
    principal = await _commons(request).fence.principal(request.headers.get("Authorization"))
    if principal.user is None:
        raise unauthorized("this endpoint needs an Authorization: Bearer <access token> header")
    return principal, principal.user


def content_disposition(file_name: str) -> str:
    """``attachment; filename="..."`` with quotes and control characters made safe (RFC 6266)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in file_name) or "download"
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != file_name:
        header += f"; filename*=UTF-8''{quote(file_name, safe='')}"
    return header


@routes.post("/credentials/api/access_token")
@routes.post("/credentials/cdis/access_token")
@operation(
    "Exchange an API key for an access token",
    tags=TAGS,
    request=Credentials,
    response=AccessToken,
    responses={400: "no api_key", 401: "unknown, revoked, expired or malformed API key"},
)
async def exchange_api_key(request: web.Request) -> web.Response:
    """Body: the credentials JSON ``{"api_key", "key_id"?}`` or a form with ``api_key``."""
    if request.content_type in _FORM_TYPES:
        try:
            form = await request.post()
        except (ValueError, UnicodeError):  # no boundary, truncated multipart, bytes that are not text
            raise bad_request("the form body could not be read") from None
        api_key = form.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise bad_request("the form must carry api_key")
    else:
        api_key = parse_as(Credentials, await read_json(request)).api_key
    token = await _commons(request).fence.exchange(api_key)
    return json_response({"access_token": token})


# DELETE /credentials/{api,cdis}/{key_id} matches these paths too: other methods get 405 naming POST only
routes.route("*", "/credentials/cdis/access_token")(only("POST"))
routes.route("*", "/credentials/api/access_token")(only("POST"))


@routes.post("/credentials/api/")
@routes.post("/credentials/cdis/")
@operation(
    "Create an API key for the caller",
    tags=TAGS,
    request=NewApiKey,
    responses={401: "no valid access token"},
)
async def create_api_key(request: web.Request) -> web.Response:
    """Answers Gen3 credentials ``{"key_id", "api_key"}``; ``expires_in`` is capped at the configured lifetime."""
    _, user = await _caller(request)
    body = parse_as(NewApiKey, await read_json(request, allow_empty=True) or {})
    fence = _commons(request).fence
    cap = fence.settings.api_key_ttl_seconds
    if body.expires_in is not None and body.expires_in <= 0:
        raise bad_request("expires_in must be a positive integer")
    ttl = min(body.expires_in, cap) if body.expires_in is not None else cap
    return json_response(await fence.create_api_key(user, ttl_seconds=ttl))


@routes.get("/credentials/api/")
@routes.get("/credentials/cdis/")
@operation("List the caller's active API keys", tags=TAGS, responses={401: "no valid access token"})
async def list_api_keys(request: web.Request) -> web.Response:
    """``{"jwt_keys": [{"jti", "exp"}]}`` for the caller's unrevoked, unexpired keys."""
    _, user = await _caller(request)
    now = int(time.time())
    keys = await _commons(request).fence.list_api_keys(user)
    active = [{"jti": k["key_id"], "exp": k["expires"]} for k in keys if not k["revoked"] and k["expires"] > now]
    return json_response({"jwt_keys": active})


@routes.delete("/credentials/api/{key_id}")
@routes.delete("/credentials/cdis/{key_id}")
@operation(
    "Revoke an API key", tags=TAGS, responses={204: "revoked", 401: "no valid access token", 404: "no such key"}
)
async def revoke_api_key(request: web.Request) -> web.Response:
    """Callers may revoke their own keys; an admin may revoke anyone's."""
    caller, user = await _caller(request)
    key_id = request.match_info["key_id"]
    owner = None if caller.is_admin else user
    if not await _commons(request).fence.revoke_api_key(key_id, owner):
        raise not_found(f"no API key {key_id} of yours")
    return web.Response(status=204)


@routes.get("/.well-known/jwks")
@operation("The JWK set verifying this commons' tokens", tags=TAGS)
async def jwks(request: web.Request) -> web.Response:
    return json_response(_commons(request).fence.jwks())


@routes.get("/jwt/keys")
@operation("Fence's legacy public-key list: {keys: [[kid, PEM]]}", tags=TAGS)
async def jwt_keys(request: web.Request) -> web.Response:
    return json_response(_commons(request).fence.public_keys())


@routes.get("/user")
@operation("The caller's identity and authz map", tags=TAGS, responses={401: "no valid access token"})
async def user_info(request: web.Request) -> web.Response:
    caller, _ = await _caller(request)
    return json_response(_commons(request).fence.user_info(caller))


@routes.get("/data/download/{guid:.+}")
@operation(
    "A signed URL to download a file",
    tags=TAGS,
    response=SignedUrl,
    query=("protocol", "expires_in"),
    responses={
        400: "unknown protocol or bad expires_in",
        401: "a credential is needed",
        403: "not granted (or a gateway token for another object)",
        404: "unknown guid",
        503: "a trusted gateway's keys are unreachable",
    },
)
async def download_url(request: web.Request) -> web.Response:
    """``{"url": ...}`` valid for ``expires_in`` seconds (capped at an hour, and at a gateway token's
    ``access_until``); open files need no token."""
    commons = _commons(request)
    guid = request.match_info["guid"]
    record = await commons.index.get(guid)
    if record is None:
        raise not_found(f"no record {guid}")
    expires_in = query_int(request.query, "expires_in", minimum=1)
    grant = await commons.fence.authorize_download(request.headers.get("Authorization"), record)
    available = list(dict.fromkeys(urlsplit(u).scheme for u in record.urls if urlsplit(u).scheme))
    if not available:
        raise not_found(f"record {guid} has no storage locations")
    protocol = request.query.get("protocol") or available[0]
    if protocol not in available:
        raise bad_request(f"protocol {protocol!r} is not available for {guid}; choose from {', '.join(available)}")
    url = await commons.fence.download_url(guid, protocol, expires_in, grant.user, not_after=grant.not_after)
    return json_response({"url": url})


@storage_routes.get("/storage/{guid:.+}")
@operation(
    "The bytes behind a signed download URL",
    tags=TAGS,
    query=("protocol", "expires", "user", "sig"),
    responses={403: "bad or expired signature", 404: "no such file"},
)
async def storage(request: web.Request) -> web.Response:
    """Serves ``application/octet-stream`` with an exact ``Content-Length`` (HEAD too)."""
    commons = _commons(request)
    guid = request.match_info["guid"]
    commons.fence.verify_download(guid, request.query)
    record = await commons.index.get(guid)
    content = await commons.index.content(guid)
    if record is None or content is None:
        raise not_found(f"no file {guid}")
    log.info(
        "download served",
        extra={"guid": guid, "user": request.query.get("user"), "protocol": request.query.get("protocol"),
               "bytes": len(content), "method": request.method},
    )
    return web.Response(
        body=content,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": content_disposition(record.file_name or guid.rsplit("/", 1)[-1]),
        },
    )


@wts_routes.get("/external_oidc/")
@wts_routes.get("/external_oidc")
@operation("Workspace token service IdPs (none here)", tags=("wts",))
async def external_oidc(request: web.Request) -> web.Response:
    return json_response({"providers": []})

"""The gateway's HTTP surface: JSON errors everywhere, request ids, status, service-info, OpenAPI."""

from __future__ import annotations

import pytest

from gateway.web.keys import STATE
from gateway.web.openapi import iter_routes

SERVICE_INFO_KEYS = {
    "id", "name", "type", "description", "organization", "contactUrl", "documentationUrl",
    "createdAt", "updatedAt", "environment", "version",
}


async def test_status_reports_store_and_cache(gateway):
    r = await gateway.client.get("/_status")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"store": "ok", "cache": "ok", "registry": "ok"}


async def test_status_degrades_when_store_is_gone(gateway):
    state = gateway.app[STATE]
    await state.store.close()
    r = await gateway.client.get("/_status")
    assert r.status_code == 200  # degraded, not pulled from the load balancer (docs/operations.md)
    assert r.json()["status"] == "degraded" and r.json()["checks"]["store"] == "down"


async def test_service_info_is_ga4gh_shaped(gateway):
    r = await gateway.client.get("/service-info")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= SERVICE_INFO_KEYS
    assert {"id", "name", "type", "organization", "version"} <= set(body)
    assert set(body["type"]) == {"group", "artifact", "version"}
    assert set(body["organization"]) == {"name", "url"}


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/no/such/route", {"error", "status_code"}),
        ("/ga4gh/drs/v1/no-such-route", {"msg", "status_code"}),
        ("/refcommons/ga4gh/drs/v1/nope/nope", {"msg", "status_code"}),
    ],
)
async def test_unknown_routes_get_json_404_in_route_shape(gateway, path, shape):
    r = await gateway.client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == shape
    assert body["status_code"] == 404


async def test_wrong_method_is_json_405_with_allow(gateway):
    r = await gateway.client.delete("/service-info")
    assert r.status_code == 405
    assert r.json()["status_code"] == 405
    assert "GET" in r.headers["allow"]


async def test_oversized_body_is_json_413(gateway):
    big = b'["' + b"x" * 10_000 + b'"]'
    r = await gateway.client.post(
        "/refcommons/index/bulk/documents", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {"error": "request body too large", "status_code": 413}


async def test_oversized_body_on_drs_route_is_drs_413(gateway):
    big = b'{"bulk_object_ids": ["' + b"x" * 10_000 + b'"]}'
    r = await gateway.client.post(
        "/refcommons/ga4gh/drs/v1/objects", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {"msg": "request body too large", "status_code": 413}


async def test_malformed_json_is_400(gateway):
    r = await gateway.client.post(
        "/refcommons/index/bulk/documents", content=b"[not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["error"]


async def test_wrong_content_type_is_415(gateway):
    r = await gateway.client.post(
        "/refcommons/ga4gh/drs/v1/objects", content=b"bulk_object_ids=x", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415
    assert set(r.json()) == {"msg", "status_code"}


async def test_request_id_is_echoed_or_generated(gateway):
    r = await gateway.client.get("/_status", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await gateway.client.get("/_status", headers={"X-Request-Id": "bad id with spaces"})
    generated = r.headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32
    r2 = await gateway.client.get("/no/such")
    assert r2.headers["x-request-id"] and r2.headers["x-request-id"] != generated


async def test_openapi_lists_every_route(gateway):
    r = await gateway.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    served = {(info.method, info.path) for info in iter_routes(gateway.app)}
    assert served == documented
    # the in-process reference commons is part of the surface
    assert any(p.startswith("/refcommons/index/") for _, p in served)
    assert ("GET", "/openapi.json") in served


async def test_every_documented_get_route_answers_json_or_text_not_500(gateway):
    spec = (await gateway.client.get("/openapi.json")).json()
    for path, ops in spec["paths"].items():
        if "get" not in ops:
            continue
        concrete = path.replace("{", "x").replace("}", "x")
        r = await gateway.client.get(concrete)
        assert r.status_code < 500, (path, r.status_code, r.text[:200])


async def test_operation_ids_keep_their_published_names(gateway):
    """operationIds are API (clients generate code from them): a handler that moves to another module keeps the
    id it was first published under."""
    spec = (await gateway.client.get("/openapi.json")).json()
    published = {
        ("/ga4gh/drs/v1/objects/{object_id}", "get"): "get_gateway.drs.api.get_object",
        ("/resolver/v1/resolve", "post"): "post_gateway.resolver.api.resolve_many",
        ("/search/v1/cohort", "post"): "post_gateway.aggregate.api.cohort",
        ("/registry/v1/commons", "post"): "post_registry.api.join",
        ("/refcommons/index/index/{guid}", "get"): "get_refcommons.indexd_api.get_record",
    }
    for (path, method), op_id in published.items():
        assert spec["paths"][path][method]["operationId"] == op_id, path

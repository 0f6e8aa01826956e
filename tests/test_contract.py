"""The API contract: ``/openapi.json`` describes what the gateway does, checked by schemathesis (every check).

A real gateway (in-process reference commons, seeded data) serves on 127.0.0.1; the unmodified schemathesis CLI
runs against its ``/openapi.json`` with every check (undocumented status or content type, response schemas,
schema-valid requests refused, schema-invalid requests accepted, ``Allow`` headers, auth, server errors) and the
project's settings in ``tests/contract/schemathesis.toml``. ``make test`` runs a modest, deterministic budget
(``CONTRACT_EXAMPLES``, default 3 per operation, deterministic: ~15 s); ``make fuzz`` a larger one
(``FUZZ_EXAMPLES``, ``FUZZ_SEED``).

The behaviour bugs schemathesis found are also pinned here one by one (empty query values, the ``Allow`` header
of ``/index/bulk/documents``, 413 for too many ids on ``POST /resolver/v1/resolve``), and the document itself:
every operation has a 200 schema, the edge statuses and the security schemes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest
from servers import start_gateway

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "contract" / "schemathesis.toml"
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "3"))
SEED = os.environ.get("CONTRACT_SEED")
"""Unset (``make test``): schemathesis' deterministic mode, the same cases every run. Set (``make fuzz``): a seed."""
BUDGET_S = float(os.environ.get("CONTRACT_BUDGET_S", "240"))


def _schemathesis() -> str:
    exe = Path(sys.executable).parent / "schemathesis"
    found = str(exe) if exe.exists() else shutil.which("schemathesis")
    assert found, "schemathesis is a test dependency (pip install -e '.[test]')"
    return found


@pytest.fixture
async def gateway(tmp_path):
    server = await start_gateway(
        store={"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"},
        refcommons={"subjects": 20, "data_dir": tmp_path / "refcommons"},
        max_body_bytes=65536,
        admin_token="contract-admin-token",  # admin enabled: a missing token is 401 (403 says admin is off)
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_schemathesis_finds_no_mismatch(gateway, tmp_path):
    """Every check (schemathesis 4 enables all by default; ``--checks all`` would also override the few
    per-operation exceptions of the config file), every operation, 0 failures."""
    cmd = [
        _schemathesis(), "--config-file", str(CONFIG), "run", f"{gateway.base_url}/openapi.json",
        "--max-examples", str(EXAMPLES),
        *(["--seed", SEED] if SEED else ["--generation-deterministic"]),
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--request-timeout", "20", "--no-color",
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), BUDGET_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-20000:]
    assert "Tested:" in text and "failures" not in text.splitlines()[-1], text[-3000:]


async def test_document_declares_statuses_schemas_and_security(gateway):
    spec = (await gateway.client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert {"adminBearer", "bearerAuth", "passport"} <= set(schemes)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            assert "schema" in next(iter(responses["200"]["content"].values())), (method, path)
            assert {"400", "429", "503"} <= set(responses), (method, path)
            assert "500" not in responses
            if method in ("post", "put", "patch", "delete"):
                assert "413" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
    admin = spec["paths"]["/registry/v1/admins"]["get"]
    assert admin["security"] == [{"adminBearer": []}]
    assert {"401", "403"} <= set(admin["responses"])
    drs = spec["paths"]["/ga4gh/drs/v1/objects/{object_id}"]["get"]
    assert {"bearerAuth": []} in drs["security"] and {} in drs["security"]
    drs_ok = drs["responses"]["200"]["content"]["application/json"]["schema"]
    assert "$ref" in drs_ok


async def test_empty_query_values_are_absent(gateway):
    """``?status=`` is no ``status``: it used to be 400 "status must be one of ..., not ''"."""
    for path in ("/registry/v1/commons?status=", "/mds/aggregate/metadata?limit=&offset=&flatten=",
                 "/refcommons/ga4gh/drs/v1/objects?limit=&page=&form="):
        r = await gateway.client.get(path)
        assert r.status_code == 200, (path, r.text)


async def test_bulk_documents_allow_names_post_only(gateway):
    """``GET /index/{guid:.+}`` also matches the path: the 405 used to say ``Allow: GET,HEAD,POST``."""
    for path in ("/index/bulk/documents", "/refcommons/index/bulk/documents"):
        for method in ("OPTIONS", "PUT", "GET"):
            r = await gateway.client.request(method, path)
            assert r.status_code == 405, (method, path, r.status_code)
            assert r.headers["Allow"] == "POST"


async def test_resolve_many_answers_413_for_too_many_ids(gateway):
    """Every bulk route answers 413 above its item limit; this one used to answer 400."""
    r = await gateway.client.post("/resolver/v1/resolve", json={"ids": ["a1"] * 1001})
    assert r.status_code == 413, r.text
    assert r.json()["status_code"] == 413
    r = await gateway.client.post("/index/bulk/documents", json=["a1"] * 1001)
    assert r.status_code == 413


async def test_main_routes_answer_what_their_200_schema_says(gateway):
    """Schemathesis rarely draws an id that exists; here the main routes answer 200 for a real record and every
    body is checked against the schema the document declares for it."""
    from jsonschema import Draft202012Validator

    spec = (await gateway.client.get("/openapi.json")).json()
    listed = (await gateway.client.get("/refcommons/index/index?limit=1")).json()
    did = listed["records"][0]["did"]
    calls = [
        ("get", "/resolver/v1/resolve", {"params": {"id": did}}),
        ("post", "/resolver/v1/resolve", {"json": {"ids": [did, "dg.NOPE/0"]}}),
        ("get", "/index/index/{guid}", {"url": f"/index/index/{did}"}),
        ("get", "/index/{guid}", {"url": f"/index/{did}"}),
        ("post", "/index/bulk/documents", {"json": [did]}),
        ("get", "/registry/v1/commons", {}),
        ("get", "/registry/v1/commons/{id}", {"url": "/registry/v1/commons/refcommons"}),
        ("get", "/ga4gh/drs/v1/objects/{object_id}", {"url": f"/ga4gh/drs/v1/objects/{did}"}),
    ]
    for method, path, kwargs in calls:
        url = kwargs.pop("url", path)
        r = await gateway.client.request(method.upper(), url, **kwargs)
        assert r.status_code == 200, (method, url, r.text[:300])
        schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, (method, path)
        Draft202012Validator({**schema, "components": spec["components"]}).validate(r.json())


def test_every_route_that_requires_an_admin_declares_the_admin_scheme():
    """A handler that calls ``require_admin`` must say so in its ``@operation`` (``security=…``): the document's
    security is declared by hand, so a new admin route (the cache purge was one) could otherwise ship without it."""
    import ast

    routes = HERE.parent / "gateway" / "web" / "routes"
    missing = []
    for path in sorted(routes.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            if "require_admin" not in calls or node.name == "require_admin":
                continue
            declared = any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "operation"
                           and any(k.arg == "security" for k in d.keywords) for d in node.decorator_list)
            if not declared:
                missing.append(f"{path.name}:{node.name}")
    assert missing == []

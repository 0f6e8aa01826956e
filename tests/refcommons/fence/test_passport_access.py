"""GA4GH Passports at a running reference commons: a development broker on 127.0.0.1 signs real Passports and
Visas, the commons validates them with its own engine and decides per object (all-of over ``authz``); plus the
in-process entry point (:meth:`Fence.authorize_download`) and the ``serve`` flags."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging

import httpx
import pytest
from passport_kit import DRS, SUB, Broker, dev_broker, expires_of, files, now, passports_config, phs_of, user_of
from servers import Server, start_commons

from gateway.core.errors import ApiError
from gateway.settings.passports import PassportsConfig
from refcommons import cli
from refcommons.authz.default_policy import RESEARCHER_USER
from refcommons.fence.gateway_trust import TrustedGateway
from refcommons.fence.service import DownloadGrant
from refcommons.indexd.records import IndexRecord

LEEWAY = PassportsConfig.model_fields["leeway"].default
"""A Passport or Visa counts until its exp + leeway (rule 20): the decision, and the URL it yields, end then."""


@pytest.fixture
async def broker(tmp_path) -> Broker:
    async with dev_broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
async def commons(broker: Broker) -> Server:
    server = await start_commons("dg.PPT1", seed=5, subjects=20, passports=passports_config(broker.url))
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def plain() -> Server:
    """A commons without a passports configuration."""
    server = await start_commons("dg.PPT2", seed=5, subjects=20)
    try:
        yield server
    finally:
        await server.stop()


def assert_drs_error(r: httpx.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status and body["msg"]
    for word in words:
        assert word in body["msg"], body["msg"]
    return body


async def access(server: Server, record: IndexRecord, body: object, access_id: str = "s3",
                 headers: dict[str, str] | None = None) -> httpx.Response:
    return await server.client.post(f"{DRS}/objects/{record.did}/access/{access_id}", json=body, headers=headers)


# --- single access -------------------------------------------------------------------------------------------------


async def test_a_c1_passport_reaches_the_c1_file_and_the_url_ends_with_the_visa(commons, broker):
    f = await files(commons)
    visa_exp = now() + 600
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1", exp=visa_exp)])
    r = await access(commons, f["c1"], {"passports": [token]})
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert set(r.json()) == {"url"}
    assert expires_of(url) == visa_exp + LEEWAY  # clamped from the default hour to the decision's end
    assert user_of(url) == SUB
    async with httpx.AsyncClient(timeout=10) as c:
        data = await c.get(url)
    assert data.status_code == 200 and hashlib.sha256(data.content).hexdigest() == f["c1"].hashes["sha256"]
    gs = await access(commons, f["c1"], {"passports": [token]}, "gs")  # the other access method, same decision
    assert gs.status_code == 200 and expires_of(gs.json()["url"]) == visa_exp + LEEWAY


async def test_a_passport_expiring_first_ends_the_url(commons, broker):
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1", ttl=3000)], ttl=300)
    r = await access(commons, f["c1"], {"passports": [token]})
    assert r.status_code == 200, r.text
    assert now() + 290 + LEEWAY <= expires_of(r.json()["url"]) <= now() + 300 + LEEWAY


async def test_a_c1_passport_does_not_reach_c2_or_another_study(commons, broker):
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    assert_drs_error(await access(commons, f["c2"], {"passports": [token]}), 403, f["c2"].authz[0])
    assert_drs_error(await access(commons, f["other"], {"passports": [token]}), 403)
    both = broker.passport([broker.visa(phs_of(f["c1"]), "c1"), broker.visa(phs_of(f["c1"]), "c2")])
    assert (await access(commons, f["c2"], {"passports": [both]})).status_code == 200


async def test_a_passport_without_grants_is_403(commons, broker):
    f = await files(commons)
    empty = broker.passport([])
    assert_drs_error(await access(commons, f["c1"], {"passports": [empty]}), 403)
    stranger = broker.passport([broker.visa("phs999999", "c1")])
    assert_drs_error(await access(commons, f["c1"], {"passports": [stranger]}), 403)


async def test_passports_with_an_authorization_header_are_400(commons, broker):
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    r = await access(commons, f["c1"], {"passports": [token]}, headers={"Authorization": "Bearer whatever"})
    assert_drs_error(r, 400, "rule 2")
    r = await access(commons, f["open"], {"passports": [token]}, headers={"Authorization": "Bearer whatever"})
    assert_drs_error(r, 400, "rule 2")


async def test_an_expired_visa_is_ignored_and_an_expired_passport_rejected(commons, broker):
    f = await files(commons)
    phs = phs_of(f["c1"])
    stale_visa = broker.passport([broker.visa(phs, "c1", exp=now() - 120)])
    assert_drs_error(await access(commons, f["c1"], {"passports": [stale_visa]}), 403)
    stale_passport = broker.passport([broker.visa(phs, "c1")], ttl=-120)
    assert_drs_error(await access(commons, f["c1"], {"passports": [stale_passport]}), 401)


@pytest.mark.parametrize("body, status", [
    ({"passports": "one"}, 400),
    ({"passports": [1]}, 400),
    ({"passports": [None]}, 400),
    ({"passports": {"a": "b"}}, 400),
    ({"passports": []}, 401),
    ({"passports": ["not-a-jws"]}, 401),
    ({"passports": ["a.b.c"]}, 401),
])
async def test_malformed_envelopes_and_tokens(commons, body, status):
    f = await files(commons)
    assert_drs_error(await access(commons, f["c1"], body), status)


async def test_too_many_passports_is_413(commons, broker):
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    assert_drs_error(await access(commons, f["c1"], {"passports": [token] * 11}), 413)


async def test_untrusted_brokers_and_visa_issuers(commons, broker, tmp_path):
    f = await files(commons)
    async with dev_broker(tmp_path / "evil") as evil:
        forged = evil.passport([evil.visa(phs_of(f["c1"]), "c1")])
        assert_drs_error(await access(commons, f["c1"], {"passports": [forged]}), 401, "rule 13")
        laundered = broker.passport([evil.visa(phs_of(f["c1"]), "c1")])  # a trusted broker, an untrusted Visa
        assert_drs_error(await access(commons, f["c1"], {"passports": [laundered]}), 403)
        assert evil.hits == []  # trust is checked before any key lookup


async def test_errors_and_logs_never_echo_tokens(commons, broker, caplog):
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    with caplog.at_level(logging.DEBUG):
        denied = await access(commons, f["c2"], {"passports": [token]})
        allowed = await access(commons, f["c1"], {"passports": [token]})
        rejected = await access(commons, f["c1"], {"passports": [token[:-4] + "AAAA"]})
    assert denied.status_code == 403 and allowed.status_code == 200 and rejected.status_code == 401
    text = denied.text + rejected.text + "\n".join(
        f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records)
    for part in token.split("."):
        assert part not in text
    decided = [r for r in caplog.records
               if r.name == "refcommons.fence" and r.getMessage() == "passport access decided"]
    assert {r.allowed for r in decided} == {True, False}
    assert all(r.passport_iss == broker.url and r.passport_sub == SUB for r in decided)


async def test_open_data_needs_no_passport_and_controlled_data_still_needs_a_credential(commons, broker):
    f = await files(commons)
    junk = {"passports": ["x.y.z"]}
    r = await access(commons, f["open"], junk)  # open data: the passports are not examined
    assert r.status_code == 200 and user_of(r.json()["url"]) is None
    assert (await commons.client.get(f"{DRS}/objects/{f['open'].did}/access/s3")).status_code == 200
    assert_drs_error(await commons.client.get(f"{DRS}/objects/{f['c1'].did}/access/s3"), 401)
    assert_drs_error(await access(commons, f["c1"], {}), 401)
    assert_drs_error(await access(commons, f["c1"], {"passports": None}), 401)


async def test_fence_tokens_still_work_where_passports_are_configured(commons):
    f = await files(commons)
    creds = await commons.commons.fence.create_api_key(RESEARCHER_USER)
    token = (await commons.client.post("/user/credentials/api/access_token", json=creds)).json()["access_token"]
    r = await commons.client.get(f"{DRS}/objects/{f['c1'].did}/access/s3", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


async def test_a_commons_without_passports_says_so(plain, broker):
    f = await files(plain)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    assert_drs_error(await access(plain, f["c1"], {"passports": [token]}), 400, "does not accept GA4GH Passports")
    assert (await access(plain, f["open"], {"passports": [token]})).status_code == 200
    assert broker.hits == []
    options = (await plain.client.request("OPTIONS", f"{DRS}/objects/{f['c1'].did}")).json()
    assert options["supported_types"] == ["BearerAuth"] and "passport_auth_issuers" not in options


# --- bulk access ---------------------------------------------------------------------------------------------------


def bulk(*items: tuple[IndexRecord, dict | None], passports: list[str] | None = None) -> dict:
    body: dict = {"bulk_object_access_ids": [
        {"bulk_object_id": r.did, "bulk_access_ids": ["s3"], **(extra or {})} for r, extra in items]}
    if passports is not None:
        body["passports"] = passports
    return body


async def test_bulk_access_with_top_level_and_per_item_passports(commons, broker):
    f = await files(commons)
    visa_exp = now() + 500
    c1 = broker.passport([broker.visa(phs_of(f["c1"]), "c1", exp=visa_exp)])
    other = broker.passport([broker.visa(phs_of(f["other"]), "c1")])
    body = bulk((f["c1"], None), (f["c2"], None), (f["open"], None), (f["other"], {"passports": [other]}),
                passports=[c1])
    r = await commons.client.post(f"{DRS}/objects/access", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["summary"] == {"requested": 4, "resolved": 3, "unresolved": 1}
    assert out["unresolved_drs_objects"] == [{"error_code": 403, "object_ids": [f["c2"].did]}]
    urls = {u["drs_object_id"]: u["url"] for u in out["resolved_drs_object_access_urls"]}
    assert set(urls) == {f["c1"].did, f["open"].did, f["other"].did}
    assert expires_of(urls[f["c1"].did]) == visa_exp + LEEWAY


async def test_bulk_access_refusals(commons, broker):
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    with_header = await commons.client.post(f"{DRS}/objects/access", json=bulk((f["c1"], None), passports=[token]),
                                            headers={"Authorization": "Bearer x"})
    assert_drs_error(with_header, 400, "rule 2")
    per_item_header = await commons.client.post(
        f"{DRS}/objects/access", json=bulk((f["c1"], {"passports": [token]})), headers={"Authorization": "Bearer x"})
    assert_drs_error(per_item_header, 400, "rule 2")
    assert_drs_error(await commons.client.post(f"{DRS}/objects/access", json=bulk((f["c1"], None), passports="x")),
                     400)
    body = bulk((f["c1"], None), (f["c2"], None), (f["open"], None), passports=["a.b.c"])
    junk = await commons.client.post(f"{DRS}/objects/access", json=body)
    assert junk.status_code == 200
    assert junk.json()["unresolved_drs_objects"] == [{"error_code": 401, "object_ids": [f["c1"].did, f["c2"].did]}]
    assert junk.json()["summary"]["resolved"] == 1


async def test_bulk_passports_at_a_commons_without_passports(plain, broker):
    f = await files(plain)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    r = await plain.client.post(f"{DRS}/objects/access", json=bulk((f["c1"], None), (f["open"], None),
                                                                   passports=[token]))
    assert r.status_code == 200
    assert r.json()["unresolved_drs_objects"] == [{"error_code": 400, "object_ids": [f["c1"].did]}]


# --- OPTIONS -------------------------------------------------------------------------------------------------------


async def test_options_lists_passport_auth_and_the_visa_issuers(commons, broker):
    f = await files(commons)
    controlled = (await commons.client.request("OPTIONS", f"{DRS}/objects/{f['c1'].did}")).json()
    assert controlled["supported_types"] == ["BearerAuth", "PassportAuth"]
    assert controlled["passport_auth_issuers"] == [broker.url]
    assert controlled["bearer_auth_issuers"] == [f"{commons.base_url}/user"]
    opened = (await commons.client.request("OPTIONS", f"{DRS}/objects/{f['open'].did}")).json()
    assert opened["supported_types"] == ["None"] and "passport_auth_issuers" not in opened
    r = await commons.client.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": [f["c2"].did,
                                                                                             f["open"].did]})
    resolved = {a["drs_object_id"]: a for a in r.json()["resolved_drs_object"]}
    assert resolved[f["c2"].did]["supported_types"] == ["BearerAuth", "PassportAuth"]
    assert resolved[f["c2"].did]["passport_auth_issuers"] == [broker.url]
    assert resolved[f["open"].did]["supported_types"] == ["None"]


# --- in process ----------------------------------------------------------------------------------------------------


async def test_authorize_download_in_process(commons, broker):
    fence = commons.commons.fence
    f = await files(commons)
    visa_exp = now() + 400
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1", exp=visa_exp)])
    grant = await fence.authorize_download(None, f["c1"], passports=[token])
    assert grant == DownloadGrant(user=SUB, not_after=visa_exp + LEEWAY)
    url = fence.signed_url(f["c1"].did, "s3", 3600, user=grant.user, not_after=grant.not_after)
    assert expires_of(url) == visa_exp + LEEWAY
    assert expires_of(fence.signed_url(f["c1"].did, "s3", 60, not_after=grant.not_after)) <= now() + 60
    with pytest.raises(ApiError) as err:
        fence.signed_url(f["c1"].did, "s3", not_after=now() - 1)
    assert err.value.status == 401
    assert await fence.authorize_download(None, f["open"]) == DownloadGrant(None, None)
    with pytest.raises(ApiError) as err:
        await fence.authorize_download(None, f["c1"])
    assert err.value.status == 401
    await fence.flush()


async def test_unmapped_resources_are_403_in_process(commons, broker):
    fence = commons.commons.fence
    f = await files(commons)
    token = broker.passport([broker.visa(phs_of(f["c1"]), "c1")])
    extra = dataclasses.replace(f["c1"], authz=[*f["c1"].authz, "/orgX/programs/custom"])
    with pytest.raises(ApiError) as err:
        await fence.authorize_download(None, extra, passports=[token])
    assert err.value.status == 403 and "/orgX/programs/custom" in err.value.message
    nothing = dataclasses.replace(f["c1"], authz=[])
    with pytest.raises(ApiError) as err:
        await fence.authorize_download(None, nothing, passports=[token])
    assert err.value.status == 403
    assert fence.passport_issuers(extra.authz) == [] and fence.passport_issuers(f["c1"].authz) == [broker.url]


async def test_an_unusable_passports_section_refuses_to_start():
    config = passports_config("https://broker.example.org").model_copy(update={"trusted_brokers": []})
    with pytest.raises(ValueError):
        await start_commons("dg.PPT3", seed=5, subjects=5, passports=config)


# --- the serve flags -----------------------------------------------------------------------------------------------


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["refcommons", "serve", "--port", "8799", *argv])


def test_settings_from_args_with_a_passports_file(tmp_path):
    section = passports_config("https://broker.example.org").model_dump(mode="json", exclude_none=True)
    yaml_file = tmp_path / "passports.yaml"
    yaml_file.write_text(json.dumps({"passports": section}))  # JSON is YAML
    settings = cli.settings_from_args(serve_args(
        "--passports-config", str(yaml_file), "--trust-gateway", "https://gw.example.org=https://gw.example.org/jwks",
        "--trust-gateway", "http://127.0.0.1:9=http://127.0.0.1:9/.well-known/jwks.json", "--allow-insecure-loopback",
    ))
    assert settings.passports is not None and settings.passports_enabled
    assert [b.issuer for b in settings.passports.trusted_brokers] == ["https://broker.example.org"]
    assert settings.trusted_gateways == (
        TrustedGateway("https://gw.example.org", "https://gw.example.org/jwks"),
        TrustedGateway("http://127.0.0.1:9", "http://127.0.0.1:9/.well-known/jwks.json"),
    )
    assert settings.allow_insecure_loopback and settings.base_url == "http://127.0.0.1:8799"
    json_file = tmp_path / "passports.json"
    json_file.write_text(json.dumps(section))  # the bare section
    assert cli.settings_from_args(serve_args("--passports-config", str(json_file))).passports == settings.passports
    bare = cli.settings_from_args(serve_args())
    assert bare.passports is None and bare.trusted_gateways == () and not bare.allow_insecure_loopback


def test_the_descriptor_records_only_harmless_facts(tmp_path):
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text(json.dumps(passports_config("https://broker.example.org").model_dump(mode="json")))
    args = serve_args("--passports-config", str(yaml_file), "--data-dir", str(tmp_path / "data"),
                      "--trust-gateway", "https://gw.example.org=https://gw.example.org/jwks")
    cli.write_descriptor(cli.settings_from_args(args), passports_config=args.passports_config)
    info = json.loads((tmp_path / "data" / cli.DESCRIPTOR).read_text())
    assert info["passports_config"] == str(yaml_file.resolve()) and info["passports_enabled"] is True
    assert info["trusted_gateways"] == [{"issuer": "https://gw.example.org", "jwks_uri": "https://gw.example.org/jwks"}]
    assert cli.read_descriptor(tmp_path / "data").prefix == "dg.TST1"


@pytest.mark.parametrize("content, words", [
    ("enabled: [", "not valid"),
    ("- a list", "must hold a mapping"),
    ("enabled: true\nunknown_field: 1", "unknown_field"),
    ("enabled: true", "trusted_brokers"),
    ("enabled: true\ntrusted_brokers: [{issuer: 'http://broker.example.org', discovery: true}]", "unusable"),
])
def test_a_bad_passports_file_exits_2_with_a_clear_error(tmp_path, capsys, content, words):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SystemExit) as err:
        cli.settings_from_args(serve_args("--passports-config", str(path)))
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert words in message and str(path) in message and message.count("\n") == 1


def test_a_missing_passports_file_and_bad_gateways_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        cli.settings_from_args(serve_args("--passports-config", str(tmp_path / "nope.yaml")))
    assert err.value.code == 2 and "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        cli.settings_from_args(serve_args("--trust-gateway", "http://gw.example.org=http://gw.example.org/jwks"))
    assert err.value.code == 2 and "is not https" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:  # argparse itself: not ISSUER=URL
        serve_args("--trust-gateway", "no-equals-sign")
    assert err.value.code == 2
    twice = "https://gw.example.org=https://gw.example.org/jwks"
    with pytest.raises(SystemExit) as err:
        cli.settings_from_args(serve_args("--trust-gateway", twice, "--trust-gateway", twice))
    assert err.value.code == 2 and "listed twice" in capsys.readouterr().err

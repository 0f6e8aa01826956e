"""Passport and Visa claim rules (rulebook rules 1–5, 17–31, 41–46)."""

from __future__ import annotations

import pytest
import tokens_kit as kit
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.passports.jose import jws
from gateway.passports.rules.audit import audit_record
from gateway.passports.rules.claims import MAX_NUMERIC_DATE, numeric_date
from gateway.passports.rules.envelope import EnvelopeError, check_envelope, check_same_person
from gateway.passports.rules.expiry import cache_ttl, clamp_ttl, decision_cache_key, decision_expiry
from gateway.passports.rules.passport import PassportError, PassportRules, read_passport
from gateway.passports.rules.visa import (
    Visa,
    VisaFormat,
    VisaResult,
    VisaRules,
    VisaStatus,
    read_visa,
    read_visas,
    split_visas,
)

NOW = kit.NOW
RULES = PassportRules(audiences=frozenset({kit.AUD}))


VISA_RULES = VisaRules()


def reject(token: str, rule: int, rules: PassportRules = RULES, now: int = NOW) -> PassportError:
    with pytest.raises(PassportError) as exc:
        read_passport(token, now, rules)
    assert exc.value.rule == rule, exc.value
    assert exc.value.status == (413 if rule == 3 else 401)  # every size cap is a 413 (rules 3, 45)
    return exc.value


def ignored(token: object, rule: int, rules: VisaRules = VISA_RULES, now: int = NOW) -> VisaResult:
    result = read_visa(token, now, rules)
    assert result.status is VisaStatus.IGNORED, result
    assert result.rule == rule, result.reason
    assert result.visa is None
    return result


def accepted(token: str, rules: VisaRules = VISA_RULES, now: int = NOW) -> Visa:
    result = read_visa(token, now, rules)
    assert result.valid, (result.rule, result.reason)
    assert result.visa is not None
    return result.visa


# --- §A envelope -------------------------------------------------------------------------------------------------


def test_envelope():
    assert check_envelope(["a.b.c"]) == ["a.b.c"]
    cases = [
        ({"passports": None}, 1, 401),
        ({"passports": []}, 1, 401),
        ({"passports": "a.b.c"}, 1, 400),
        ({"passports": [{"a": 1}]}, 1, 400),
        ({"passports": ["a.b.c"], "has_authorization": True}, 2, 400),
        ({"passports": ["a.b.c"] * 11}, 3, 413),
        ({"passports": ["A" * (256 * 1024 + 1)]}, 3, 413),
    ]
    for kwargs, rule, status in cases:
        with pytest.raises(EnvelopeError) as exc:
            check_envelope(**kwargs)
        assert (exc.value.rule, exc.value.status) == (rule, status)


def test_same_person():
    a = read_passport(kit.make_passport(), NOW, RULES)
    b = read_passport(kit.make_passport(jti="other"), NOW, RULES)
    c = read_passport(kit.make_passport(sub="someone-else"), NOW, RULES)
    check_same_person([a, b])
    with pytest.raises(EnvelopeError) as exc:
        check_same_person([a, c])
    assert exc.value.rule == 5 and exc.value.status == 400
    check_same_person([a, c], linked=lambda x, y: {x[1], y[1]} == {kit.SUB, "someone-else"})


# --- §D passports ------------------------------------------------------------------------------------------------


def test_valid_passport():
    v = kit.make_visa()
    p = read_passport(kit.make_passport([v], aud=[kit.AUD, "other"]), NOW, RULES)
    assert p.identity == (kit.BROKER, kit.SUB)
    assert (p.iat, p.exp, p.jti, p.aud) == (NOW - 10, NOW + 3600, "passport-jti", (kit.AUD, "other"))
    assert p.visas == (v,)
    jws.verify(p.jws, kit.rsa_key().public_key())


def test_empty_visa_list_is_a_valid_passport():
    assert read_passport(kit.make_passport([]), NOW, RULES).visas == ()


@pytest.mark.parametrize("claim", ["iss", "sub", "iat", "exp", "ga4gh_passport_v1"])
def test_required_passport_claims(claim):
    payload = kit.passport_claims([])
    del payload[claim]
    reject(kit.sign(kit.header(typ=kit.TYP_PASSPORT), payload), 18)


@pytest.mark.parametrize("claim,value", [
    ("iss", ""), ("iss", 1), ("iss", None), ("iss", ["a"]), ("sub", ""), ("sub", "x" * 1025), ("jti", 5),
    ("ga4gh_passport_v1", "a.b.c"), ("ga4gh_passport_v1", {"a": 1}), ("ga4gh_passport_v1", None),
])
def test_ill_typed_passport_claims(claim, value):
    reject(kit.make_passport(**{claim: value}) if claim != "ga4gh_passport_v1"
           else kit.sign(kit.header(typ=kit.TYP_PASSPORT), dict(kit.passport_claims(), ga4gh_passport_v1=value)), 18)


def test_passport_string_limit_is_one_kib():
    read_passport(kit.make_passport(sub="x" * 1024), NOW, RULES)
    reject(kit.make_passport(sub="é" * 513), 18)  # 1026 bytes in UTF-8


# rule 12 on passports


def test_passport_typ():
    reject(kit.make_passport(typ="JWT"), 12)
    reject(kit.make_passport(typ=None), 12)
    legacy = PassportRules(audiences=frozenset({kit.AUD}), legacy_typ=True)
    read_passport(kit.make_passport(typ="JWT"), NOW, legacy)
    read_passport(kit.make_passport(typ=None), NOW, legacy)
    for confused in ("vnd.ga4gh.visa+jwt", "at+jwt"):
        reject(kit.make_passport(typ=confused), 12, legacy)


def test_passport_parse_errors_keep_their_rule():
    reject("a.b.c.d.e", 6)
    reject(kit.make_passport(alg="ES256", header_extra={"crit": ["exp"]}), 11)
    reject(kit.make_passport(header_extra={"alg": "none"}), 8)
    reject(kit.make_passport(kid=None), 10)
    reject(kit.sign('{"alg":"RS256","kid":"a","typ":"vnd.ga4gh.passport+jwt","kid":"b"}', kit.passport_claims()), 7)
    reject(kit.sign(kit.header(typ=kit.TYP_PASSPORT), '{"iss":"a","iss":"b"}'), 7)


def test_passport_algorithm_narrowed_per_broker():
    rs_only = PassportRules(audiences=frozenset({kit.AUD}), algorithms=frozenset({"RS256"}))
    reject(kit.make_passport(alg="ES256"), 8, rs_only)
    read_passport(kit.make_passport(alg="ES256"), NOW, RULES)


# rule 19 aud


def test_aud():
    read_passport(kit.make_passport(aud=kit.AUD), NOW, RULES)
    read_passport(kit.make_passport(), NOW, RULES)  # absent: accepted by default
    reject(kit.make_passport(), 19, PassportRules(audiences=frozenset({kit.AUD}), require_aud=True))
    for bad in ("https://other.example", [], ["https://other.example"], [1], kit.AUD + "/", kit.AUD.upper(),
                {"a": kit.AUD}, 7):
        reject(kit.make_passport(aud=bad), 19)
    reject(kit.make_passport(aud=kit.AUD), 19, PassportRules())  # present but nothing configured


# rule 20 times


def test_expired_passport():
    reject(kit.make_passport(iat=NOW - 7200, exp=NOW - 61), 20)
    read_passport(kit.make_passport(iat=NOW - 7200, exp=NOW - 59), NOW, RULES)  # within the leeway
    reject(kit.make_passport(iat=NOW - 7200, exp=NOW - 1), 20, PassportRules(audiences=frozenset({kit.AUD}),
                                                                              leeway=0))


def test_not_yet_valid_passport():
    reject(kit.make_passport(nbf=NOW + 61), 20)
    read_passport(kit.make_passport(nbf=NOW + 60), NOW, RULES)


def test_future_iat_passport():
    reject(kit.make_passport(iat=NOW + 61), 20)
    read_passport(kit.make_passport(iat=NOW + 60, exp=NOW + 3600), NOW, RULES)


def test_exp_before_iat():
    reject(kit.make_passport(iat=NOW, exp=NOW - 1), 20)


@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
@pytest.mark.parametrize("value", [str(NOW), "9999999999", True, False, None, NOW + 0.5, [NOW], {"t": NOW}, -1,
                                   10**20])
def test_timestamps_strictly_typed(claim, value):
    reject(kit.make_passport(**{claim: value}), 18)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_json_numbers_rejected_at_parse(value):
    reject(kit.make_passport(exp=value), 7)  # NaN/Infinity are not JSON


def test_integral_float_timestamps_allowed():
    p = read_passport(kit.make_passport(iat=float(NOW - 10), exp=float(NOW + 10)), NOW, RULES)
    assert (p.iat, p.exp) == (NOW - 10, NOW + 10) and isinstance(p.iat, int)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.booleans(), st.text(max_size=12), st.none(), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(min_value=-(2**70), max_value=2**70), st.lists(st.integers(), max_size=2)))
def test_numeric_date_strictness(value):
    result = numeric_date(value)
    if result is None:
        return
    assert type(result) is int and 0 <= result <= MAX_NUMERIC_DATE
    assert not isinstance(value, (bool, str))
    assert result == value


# rule 21 token confusion


def test_passport_scoped_access_token_rejected():
    at = kit.sign(kit.header(typ=kit.TYP_PASSPORT), {"iss": kit.BROKER, "sub": kit.SUB, "iat": NOW, "exp": NOW + 60,
                                                   "scope": "openid ga4gh_passport_v1"})
    reject(at, 21)
    # the same token with its own at+jwt typ is rejected by rule 12 first
    reject(kit.sign(kit.header(typ="at+jwt"), {"iss": kit.BROKER, "sub": kit.SUB, "iat": NOW, "exp": NOW + 60,
                                               "scope": "openid ga4gh_passport_v1"}), 12)


def test_visa_presented_as_passport_rejected():
    as_passport = kit.sign(kit.header(typ=kit.TYP_PASSPORT), kit.visa_claims())
    reject(as_passport, 21)
    reject(kit.make_passport(ga4gh_visa_v1=kit.visa_object()), 21)
    # and a Visa with its own typ fails the typ check
    reject(kit.make_visa(typ=kit.TYP_VISA), 12, PassportRules(audiences=frozenset({kit.AUD}), legacy_typ=True))


# rule 3 counts and sizes


def test_too_many_visas_rejects_passport():
    v = kit.make_visa()
    read_passport(kit.make_passport([v] * 200), NOW, RULES)
    reject(kit.make_passport([v] * 201), 3)
    reject(kit.make_passport([v] * 11), 3, PassportRules(audiences=frozenset({kit.AUD}), max_visas=10))


def test_oversized_passport_rejected():
    reject(kit.make_passport(pad="x" * (256 * 1024)), 3)


# --- §E visas ----------------------------------------------------------------------------------------------------


def test_valid_document_token_visa():
    visa = accepted(kit.make_visa())
    assert visa.format is VisaFormat.DOCUMENT_TOKEN and visa.jku == kit.JKU
    assert (visa.iss, visa.sub, visa.type, visa.value, visa.source, visa.by) == (
        kit.VISA_ISSUER, kit.SUB, kit.CAG, kit.DATASET, kit.DAC, "dac")
    # the one leeway rule (rule 20): a Visa counts until exp + leeway, for the claims checks and the decision alike
    assert visa.asserted == NOW - 3600 and visa.exp == NOW + 3600 and visa.expires == NOW + 3600 + VISA_RULES.leeway
    assert visa.conditions == () and visa.jti == "visa-jti" and visa.identity == (kit.VISA_ISSUER, kit.SUB)
    jws.verify(visa.jws, kit.rsa_key().public_key())


def test_valid_access_token_visa_ras_style():
    perms = [{"phs_id": "phs000991", "consent_group": "c1", "expiration": NOW + 100}]
    visa = accepted(kit.make_visa(access_token=True, typ="JWT", ras_dbgap_permissions=perms, txn="t-1",
                                  scope="openid ga4gh_passport_v1 email profile",
                                  obj=kit.visa_object("https://ras.nih.gov/visas/v1.1",
                                                      "https://sts.nih.gov/passport/dbgap/v1.1",
                                                      "https://ncbi.nlm.nih.gov/gap", by=None)))
    assert visa.format is VisaFormat.ACCESS_TOKEN and visa.jku is None
    assert visa.jws.payload["ras_dbgap_permissions"] == perms  # for the grants module


def test_es256_visa():
    accepted(kit.make_visa(alg="ES256"))
    ignored(kit.make_visa(alg="ES256"), 8, VisaRules(algorithms=frozenset({"RS256"})))


def test_visa_not_a_string_ignored():
    for bad in ({"ga4gh_visa_v1": {}}, 1, None, ["a.b.c"]):
        ignored(bad, 22)


def test_visa_parse_failures_are_ignored_not_raised():
    ignored("a.b.c.d.e", 6)
    ignored(kit.make_visa(header_extra={"alg": "none"}), 8)
    ignored(kit.make_visa(header_extra={"crit": ["x"]}), 11)
    ignored(kit.make_visa(kid=None), 10)
    ignored(kit.sign('{"alg":"RS256","kid":"k","jku":"https://a","jku":"https://b"}', kit.visa_claims()), 7)
    ignored(kit.sign(kit.header(jku=kit.JKU), '{"iss":"a","iss":"b"}'), 7)
    ignored(kit.make_visa(pad="x" * (32 * 1024)), 3)


# rule 17 format


def test_visa_format_consistency():
    ignored(kit.make_visa(scope="openid"), 17)  # jku + openid
    ignored(kit.make_visa(jku=None), 17)  # neither
    ignored(kit.make_visa(jku=None, scope="ga4gh_passport_v1"), 17)  # no jku, no openid
    ignored(kit.make_visa(scope=["openid"]), 17)  # scope must be a string
    accepted(kit.make_visa(scope="ga4gh_passport_v1"))  # document token with a non-openid scope


# rule 12 on visas


def test_visa_typ():
    accepted(kit.make_visa(typ=None))
    accepted(kit.make_visa(typ=kit.TYP_VISA))
    ignored(kit.make_visa(typ=kit.TYP_PASSPORT), 12)  # a passport typ on a visa
    ignored(kit.make_visa(typ="at+jwt"), 12)  # access-token typ on a document token
    accepted(kit.make_visa(access_token=True, typ="at+jwt"))
    ignored(kit.make_visa(access_token=True, typ=kit.TYP_VISA), 12)
    ignored(kit.make_visa(access_token=True, typ=kit.TYP_PASSPORT), 12)
    ignored(kit.make_visa(access_token=True, typ=None), 12)
    accepted(kit.make_visa(access_token=True, typ=None), VisaRules(legacy_typ=True))


def test_passport_is_not_a_visa():
    # a whole passport dropped into ga4gh_passport_v1: passport typ → ignored, and nothing inside is unwrapped
    ignored(kit.make_passport([kit.make_visa()]), 17)  # no jku, no scope
    ignored(kit.make_passport([kit.make_visa()], header_extra={"jku": kit.JKU}), 12)
    ignored(kit.make_passport([kit.make_visa()], typ="JWT", header_extra={"jku": kit.JKU}), 23)


# rule 23 required claims and times


@pytest.mark.parametrize("claim", ["iss", "sub", "iat", "exp", "ga4gh_visa_v1"])
def test_required_visa_claims(claim):
    payload = kit.visa_claims()
    del payload[claim]
    ignored(kit.sign(kit.header(kid="k", typ="JWT", jku=kit.JKU), payload), 23)


@pytest.mark.parametrize("claim,value", [
    ("iss", ""), ("sub", 3), ("jti", ["x"]), ("iat", str(NOW)), ("exp", True), ("nbf", "0"), ("exp", NOW + 0.25),
    ("ga4gh_visa_v1", "x"), ("ga4gh_visa_v1", [kit.visa_object()]),
])
def test_ill_typed_visa_claims(claim, value):
    ignored(kit.make_visa(**{claim: value}), 23)


def test_visa_times():
    ignored(kit.make_visa(iat=NOW - 7200, exp=NOW - 61), 20)
    ignored(kit.make_visa(nbf=NOW + 61), 20)
    ignored(kit.make_visa(iat=NOW + 61, obj=kit.visa_object(asserted=NOW)), 20)
    accepted(kit.make_visa(iat=NOW + 60, obj=kit.visa_object(asserted=NOW)))


def test_aud_not_allowed_on_access_token_visas():
    ignored(kit.make_visa(access_token=True, aud=kit.AUD), 23)
    accepted(kit.make_visa(aud=kit.AUD))


# rule 24 visa object


@pytest.mark.parametrize("field,value", [
    ("type", ""), ("type", 1), ("value", None), ("value", ["x"]), ("source", ""), ("source", {"a": 1}),
    ("type", "t" * 256), ("value", "v" * 256), ("source", "s" * 256),
    ("asserted", str(NOW - 10)), ("asserted", True), ("asserted", None), ("asserted", 1.5),
    ("by", "DAC"), ("by", "admin"), ("by", 1), ("by", ""),
])
def test_visa_object_fields(field, value):
    obj = kit.visa_object()
    obj[field] = value
    ignored(kit.make_visa(obj=obj), 24)


@pytest.mark.parametrize("field", ["type", "value", "source", "asserted"])
def test_visa_object_required_fields(field):
    obj = kit.visa_object()
    del obj[field]
    ignored(kit.make_visa(obj=obj), 24)


def test_255_chars_is_the_limit_for_url_claims():
    accepted(kit.make_visa(obj=kit.visa_object(value="v" * 255, source="s" * 255, type="t" * 255)))


@pytest.mark.parametrize("vtype", ["AcceptedTermsAndPolicies", "ControlledAccessGrants"])
def test_by_required_for_some_types(vtype):
    ignored(kit.make_visa(obj=kit.visa_object(vtype, by=None)), 24)
    accepted(kit.make_visa(obj=kit.visa_object(vtype, by="so")))


def test_by_optional_elsewhere_and_unknown_stays_none():
    for vtype in ("AffiliationAndRole", "ResearcherStatus", "https://custom.example/type"):
        assert accepted(kit.make_visa(obj=kit.visa_object(vtype, by=None))).by is None
    link = kit.visa_object("LinkedIdentities", "alice,https%3A%2F%2Fidp.example", by=None)
    assert accepted(kit.make_visa(obj=link)).by is None
    for by in ("self", "peer", "system", "so", "dac"):
        assert accepted(kit.make_visa(obj=kit.visa_object(by=by))).by == by


def test_conditions_kept_raw():
    cond = [[{"type": "AffiliationAndRole", "value": "const:faculty@example.org"}]]
    visa = accepted(kit.make_visa(obj=kit.visa_object(conditions=cond)))
    assert list(visa.conditions) == cond
    assert accepted(kit.make_visa(obj=kit.visa_object(conditions=[]))).conditions == ()
    ignored(kit.make_visa(obj=kit.visa_object(conditions={"a": 1})), 33)


def test_custom_string_claims_kept():
    visa = accepted(kit.make_visa(obj=kit.visa_object(custom="x")))
    assert visa.object["custom"] == "x"


# rule 25 asserted


def test_asserted_after_iat_ignored():
    ignored(kit.make_visa(iat=NOW - 100, obj=kit.visa_object(asserted=NOW - 99)), 25)
    accepted(kit.make_visa(iat=NOW - 100, obj=kit.visa_object(asserted=NOW - 100)))


def test_asserted_in_the_future_ignored():
    ignored(kit.make_visa(iat=NOW + 60, obj=kit.visa_object(asserted=NOW + 61)), 25)


def test_max_authz_ttl_bounds_expiry():
    rules = VisaRules(max_authz_ttl=7200)
    visa = accepted(kit.make_visa(exp=NOW + 86400, obj=kit.visa_object(asserted=NOW - 3600)), rules)
    assert visa.expires == NOW - 3600 + 7200 + rules.leeway and visa.exp == NOW + 86400
    ignored(kit.make_visa(exp=NOW + 86400, iat=NOW - 10, obj=kit.visa_object(asserted=NOW - 8000)), 25, rules)


# rule 29 access-token visa age


def test_old_access_token_visa_ignored():
    old = kit.make_visa(access_token=True, iat=NOW - 3601, obj=kit.visa_object(asserted=NOW - 4000))
    ignored(old, 29)
    accepted(old, VisaRules(access_token_max_age=None))
    accepted(old, VisaRules(access_token_max_age=7200))
    accepted(kit.make_visa(access_token=True, iat=NOW - 3599))
    # document tokens are not subject to the rule
    accepted(kit.make_visa(iat=NOW - 86400, obj=kit.visa_object(asserted=NOW - 90000)))


# rules 30, 31, 3: no recursion, dedup, caps


def test_no_recursion():
    inner = kit.make_visa(sub="someone-else")
    visa = accepted(kit.make_visa(ga4gh_passport_v1=[inner], nested=inner))
    assert visa.sub == kit.SUB  # the nested visa is never read


def test_dedup_and_element_checks():
    a = kit.make_visa()
    b = kit.make_visa(jti="b")
    big = kit.make_visa(pad="x" * (32 * 1024))
    p = read_passport(kit.make_passport([a, a, b, 5, a, {"x": 1}, big, big, "garbage"]), NOW, RULES)
    unique, skipped = split_visas(p)
    assert unique == [a, b, "garbage"]
    assert [(r.rule, r.sha256 is None) for r in skipped] == [(22, True), (22, True), (3, False)]
    results = read_visas(p, NOW)
    assert sum(r.valid for r in results) == 2
    assert {r.rule for r in results if not r.valid} == {22, 3, 6}
    assert len({r.sha256 for r in results if r.valid}) == 2


def test_visa_results_never_raise_and_never_echo():
    marker = "SECRET-MARKER-999"
    for bad in (marker, kit.make_visa(sub="", jti=marker), kit.make_visa(typ=marker),
                kit.make_visa(obj=kit.visa_object(by=marker)), kit.make_visa(kid=marker * 20)):
        result = read_visa(bad, NOW)
        assert not result.valid and marker not in (result.reason or "")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["iss", "sub", "iat", "exp", "nbf", "jti", "scope", "aud", "ga4gh_visa_v1"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                                 st.just(NOW), st.just("openid"), st.dictionaries(st.text(max_size=5),
                                                                                  st.text(max_size=5), max_size=3))))
def test_arbitrary_visa_claims_never_raise(payload):
    result = read_visa(kit.sign(kit.header(kid="k", jku=kit.JKU), payload), NOW)
    assert result.valid is False or result.visa is not None


# --- §H expiry and caching, §I audit -----------------------------------------------------------------------------


def test_decision_expiry_and_ttls():
    p = read_passport(kit.make_passport(exp=NOW + 5000), NOW, RULES)
    v1 = accepted(kit.make_visa(exp=NOW + 4000))
    v2 = accepted(kit.make_visa(exp=NOW + 9000))
    assert decision_expiry([p], [v1, v2]) == NOW + 4000 + VISA_RULES.leeway  # ends are exp + leeway (rule 20)
    assert decision_expiry([p], [v2], extra=[NOW + 100]) == NOW + 100
    with pytest.raises(ValueError):
        decision_expiry([], [])
    assert clamp_ttl(3600, NOW + 100, NOW) == 100
    assert clamp_ttl(60, NOW + 100, NOW) == 60
    assert clamp_ttl(60, NOW - 1, NOW) == 0
    assert cache_ttl(NOW + 100, NOW) == 40
    assert cache_ttl(NOW + 100_000, NOW) == 900
    assert cache_ttl(NOW + 30, NOW) == 0


def test_decision_cache_key():
    a, b = kit.make_passport(), kit.make_passport(jti="b")
    key = decision_cache_key([a, b], "cfg1")
    assert key == decision_cache_key([b, a], "cfg1")
    assert key != decision_cache_key([a, b], "cfg2")
    assert key != decision_cache_key([a], "cfg1")
    assert a not in key and len(key) == 64


def test_audit_record_has_no_raw_tokens():
    v = kit.make_visa(access_token=True, txn="txn-1")
    p = read_passport(kit.make_passport([v, "junk"]), NOW, RULES)
    record = audit_record(p, read_visas(p, NOW))
    assert record.passport_jti == "passport-jti" and record.passport_identity == (kit.BROKER, kit.SUB)
    text = repr(record)
    assert v not in text and v.split(".")[1] not in text
    assert any(row.get("txn") == "txn-1" for row in record.visas)
    assert any(row.get("rule") == 6 for row in record.visas)


def test_rules_validate_leeway():
    for bad in (-1, 61, True, 1.5):
        with pytest.raises(ValueError):
            VisaRules(leeway=bad)
        with pytest.raises(ValueError):
            PassportRules(leeway=bad)
    with pytest.raises(ValueError):
        PassportRules(audiences="https://a")
    with pytest.raises(ValueError):
        read_passport(kit.make_passport(), float("nan"), RULES)


# --- fast paths keep the results -----------------------------------------------------------------------------------


def test_visa_hashes_are_the_tokens_whether_read_or_ignored():
    import hashlib

    good, bad_claims, bad_jws = kit.make_visa(), kit.make_visa(sub=""), "not.a.jws+"
    big = kit.make_visa(pad="x" * 33000)
    p = read_passport(kit.make_passport([good, bad_claims, bad_jws, big]), NOW, RULES)
    results = read_visas(p, NOW)
    assert [r.sha256 for r in results] == [
        hashlib.sha256(t.encode()).hexdigest() for t in (big, good, bad_claims, bad_jws)]
    assert [r.valid for r in results] == [False, True, False, False]


def test_visas_sharing_a_header_read_the_same_with_or_without_the_memo():
    tokens = [kit.make_visa(jti=str(n)) for n in range(3)] + [kit.make_visa(sub=""), kit.make_visa(typ="at+jwt")]
    memo: jws.HeaderMemo = {}
    shared = [read_visa(t, NOW, headers=memo) for t in tokens]
    alone = [read_visa(t, NOW) for t in tokens]
    assert len(memo) == 2  # the typ differs: two distinct headers
    for a, b in zip(shared, alone):
        assert (a.status, a.sha256, a.rule, a.reason) == (b.status, b.sha256, b.rule, b.reason)
        assert (a.visa is None) == (b.visa is None)
        if a.visa is not None:
            assert a.visa.jws.header == b.visa.jws.header and a.visa.jti == b.visa.jti


def test_string_limits_count_utf8_bytes():
    three_bytes = "€" * 342  # 1026 bytes in 342 characters: over the 1024-byte cap of iss/sub/jti
    assert ignored(kit.make_visa(jti=three_bytes), 23).reason == "jti is too long"
    accepted(kit.make_visa(jti="€" * 341))


def test_numeric_dates_and_now_stay_strict():
    assert [numeric_date(v) for v in (5, 5.0, True, 5.5, "5", -1, 2**40, float("inf"))] == \
        [5, 5, None, None, None, None, None, None]
    assert numeric_date(type("Sub", (int,), {})(7)) == 7
    with pytest.raises(ValueError):
        read_visa(kit.make_visa(), True)


def test_claim_classes_init_take_exactly_their_fields():

    kit.assert_init_matches_fields(Visa)
    kit.assert_init_matches_fields(VisaResult)


# --- rule 39: the LinkedIdentities grammar, checked when the Visa is read --------------------------------------------


@pytest.mark.parametrize("value", [
    "a,b,c", "a", "alice,https%3A%2F%2Fidp.example;", "alice%zz,https%3A%2F%2Fidp.example", ",https%3A%2F%2Fx",
    "alice,", "alice bob,https%3A%2F%2Fidp.example", "alice%00,https%3A%2F%2Fidp.example", "%ff,x",
])
def test_a_malformed_linked_identities_visa_is_ignored_with_the_reason(value):
    result = ignored(kit.make_visa(obj=kit.visa_object("LinkedIdentities", value, by="system")), 39)
    assert result.reason is not None and result.reason.startswith("malformed LinkedIdentities value: entry ")
    assert "alice" not in result.reason and "idp.example" not in result.reason  # what and where, never the value


def test_a_well_formed_linked_identities_visa_is_accepted():
    value = "10001,https:%2F%2Fissuer.example1.org%2Foidc;abcd%3Bx%2C,https:%2F%2Fexample2.org"
    assert accepted(kit.make_visa(obj=kit.visa_object("LinkedIdentities", value, by="system"))).value == value


def test_leeway_one_rule_for_passports_and_visas():
    """Within the leeway a Passport or Visa is valid and its ``expires`` (what decisions use) is exp + leeway; past it,
    the claims checks refuse it (rule 20)."""
    rules = PassportRules(audiences=frozenset({kit.AUD}), leeway=30)
    p = read_passport(kit.make_passport(iat=NOW - 3600, exp=NOW - 29), NOW, rules)
    assert p.expires == NOW + 1 > NOW
    reject(kit.make_passport(iat=NOW - 3600, exp=NOW - 30), 20, rules)
    v = accepted(kit.make_visa(iat=NOW - 3600, exp=NOW - 29), VisaRules(leeway=30))
    assert v.expires == NOW + 1
    ignored(kit.make_visa(iat=NOW - 3600, exp=NOW - 30), 20, VisaRules(leeway=30))

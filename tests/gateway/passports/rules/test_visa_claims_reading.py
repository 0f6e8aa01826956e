"""The Visa claims reader's guards decide exactly as the claim readers they stand in front of (rules 20, 23–25):
for every payload, the same Visa or the same first rule and reason as reading each claim with ``string_claim``,
``check_times`` and ``date_claim`` in the rulebook's order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.passports.jose.jws import ParsedJws
from gateway.passports.rules.claims import MAX_NUMERIC_DATE, InvalidClaim, check_times, date_claim, string_claim
from gateway.passports.rules.visa import MAX_VISA_FIELD_CHARS, VisaRules, _validate_visa

NOW = 1_700_000_000
HEADER = {"alg": "RS256", "kid": "k", "typ": "vnd.ga4gh.visa+jwt", "jku": "https://i.example/jwks"}
_ABSENT = object()


def reference(claims: dict[str, Any], rules: VisaRules) -> tuple[Any, ...]:
    """Rules 23, 20, 24 read one helper call per claim, in order: what the reader must agree with."""
    string_claim(claims, "iss", 23, required=True)
    string_claim(claims, "sub", 23, required=True)
    string_claim(claims, "jti", 23, required=False)
    check_times(claims, NOW, rules.leeway, 23)
    obj = claims.get("ga4gh_visa_v1")
    if not isinstance(obj, dict):
        raise InvalidClaim(23, "ga4gh_visa_v1 is missing or not an object")
    for name in ("type", "value", "source"):
        string_claim(obj, name, 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    date_claim(obj, "asserted", 24, required=True)
    return ()


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` nine times in ten: a payload with one odd claim among usual ones is the interesting case."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda i: usual if i else other)


def strings(limit: int) -> st.SearchStrategy[Any]:
    return mostly(st.text(min_size=1, max_size=4), st.one_of(
        st.just(_ABSENT), st.none(), st.just(""), st.integers(), st.booleans(), st.lists(st.text(max_size=2)),
        st.text(min_size=1, max_size=4),
        st.integers(min_value=limit - 2, max_value=limit + 2).map(lambda n: "a" * n),
        st.integers(min_value=250, max_value=260).map(lambda n: "\u20ac" * n),  # 3 bytes a character
        st.integers(min_value=250, max_value=260).map(lambda n: "\U0001f600" * n),  # 4 bytes a character
    ))


def dates(usual: Any) -> st.SearchStrategy[Any]:
    around = st.integers(min_value=NOW - 4000, max_value=NOW + 4000)
    return mostly(st.just(usual), st.one_of(
        around, st.just(_ABSENT), st.none(), st.booleans(), around.map(float), st.just(NOW + 0.5),
        st.just(str(NOW)),
        st.sampled_from([-1, 0, MAX_NUMERIC_DATE, MAX_NUMERIC_DATE + 1, 2**70]),
    ))


def put(into: dict[str, Any], name: str, value: Any) -> None:
    if value is not _ABSENT:
        into[name] = value


@settings(max_examples=3000, deadline=None)
@given(iss=strings(256), sub=strings(256), jti=strings(256), iat=dates(NOW - 100), exp=dates(NOW + 1000),
       nbf=dates(_ABSENT), vtype=strings(255), value=strings(255), source=strings(255), asserted=dates(NOW - 200),
       leeway=st.sampled_from([0, 60]))
def test_the_reader_agrees_with_the_claim_helpers(iss, sub, jti, iat, exp, nbf, vtype, value, source, asserted,
                                                  leeway):
    obj: dict[str, Any] = {"by": "dac"}
    for name, v in (("type", vtype), ("value", value), ("source", source), ("asserted", asserted)):
        put(obj, name, v)
    claims: dict[str, Any] = {"ga4gh_visa_v1": obj}
    for name, v in (("iss", iss), ("sub", sub), ("jti", jti), ("iat", iat), ("exp", exp), ("nbf", nbf)):
        put(claims, name, v)
    rules = VisaRules(leeway=leeway)
    try:
        reference(claims, rules)
        expected: tuple[Any, ...] | None = None
    except InvalidClaim as exc:
        expected = (exc.rule, exc.reason)
    try:
        visa = _validate_visa(ParsedJws(HEADER, claims, b"", b"", "0" * 64), NOW, rules)
    except InvalidClaim as exc:
        # the reference stops at the claims it reads; past them the reader may still refuse by rule 25 (asserted)
        assert expected == (exc.rule, exc.reason) or (expected is None and exc.rule == 25), (expected, exc.reason)
        return
    assert expected is None
    assert (visa.iss, visa.sub, visa.jti, visa.type, visa.value, visa.source) == (
        claims["iss"], claims["sub"], claims.get("jti"), obj["type"], obj["value"], obj["source"])
    assert (visa.iat, visa.exp, visa.nbf, visa.asserted) == (
        int(claims["iat"]), int(claims["exp"]), None if "nbf" not in claims else int(claims["nbf"]),
        int(obj["asserted"]))


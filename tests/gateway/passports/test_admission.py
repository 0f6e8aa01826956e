"""The one Passport admission (:func:`gateway.passports.gate.admit`): what a request's body ``passports`` and
``Authorization`` header mean, with Passports enabled and disabled. Every route reads credentials through it; the
end-to-end check that DRS, search, export and discovery answer alike is ``test_passports_off_everywhere.py``."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.errors import ApiError
from gateway.passports.evaluation import Evaluation, PassportRejected
from gateway.passports.gate import Admission, Caller, admit, bearer_passport
from gateway.passports.jose.encoding import b64url_encode

PASSPORT = ".".join([b64url_encode(b'{"alg":"RS256","kid":"k","typ":"vnd.ga4gh.passport+jwt"}'),
                     b64url_encode(b'{"iss":"https://broker.example","sub":"alice"}'), "c2ln"])
TOKEN = ".".join([b64url_encode(b'{"alg":"RS256","typ":"JWT"}'), b64url_encode(b'{"sub":"bob"}'), "c2ln"])
EVALUATION = Evaluation((), 2_000_000_000, 2_000_000_000, identity=("https://broker.example", "alice"))


class Gate:
    """Stands in for a :class:`~gateway.passports.gate.PassportGate`: records what it is asked to validate."""

    def __init__(self, rejection: PassportRejected | None = None) -> None:
        self.rejection = rejection
        self.asked: list[tuple[Any, bool]] = []

    async def admit(self, passports: Any, *, has_authorization: bool) -> Caller:
        self.asked.append((passports, has_authorization))
        if self.rejection is not None:
            raise self.rejection
        return Caller(tuple(passports), EVALUATION, ("https://broker.example", "alice"))


def test_the_tokens_are_what_they_claim() -> None:
    assert bearer_passport(f"Bearer {PASSPORT}") == PASSPORT
    assert bearer_passport(f"Bearer {TOKEN}") is None


# --- Passports disabled: answered as if none had been sent ----------------------------------------------------------


async def test_disabled_body_passports_are_ignored() -> None:
    assert await admit(None, None, [PASSPORT]) == Admission(None, None)
    assert await admit(None, None, []) == Admission(None, None)  # even malformed ones: nothing looks at them


async def test_disabled_a_token_beside_body_passports_is_used_as_if_they_were_not_there() -> None:
    # with Passports enabled this is a 400 (rule 2); disabled, the Passports do not exist for the gateway
    assert await admit(None, f"Bearer {TOKEN}", [PASSPORT]) == Admission(None, f"Bearer {TOKEN}")


async def test_disabled_a_bearer_passport_is_dropped_not_forwarded() -> None:
    assert await admit(None, f"Bearer {PASSPORT}", None) == Admission(None, None)
    assert await admit(None, f"Bearer {PASSPORT}", [PASSPORT]) == Admission(None, None)


async def test_disabled_other_credentials_are_left_for_members() -> None:
    assert await admit(None, f"Bearer {TOKEN}", None) == Admission(None, f"Bearer {TOKEN}")
    assert await admit(None, "Basic dTpw", None) == Admission(None, "Basic dTpw")
    assert await admit(None, None, None) == Admission()


# --- Passports enabled ----------------------------------------------------------------------------------------------


async def test_enabled_without_passports_the_gate_is_not_asked() -> None:
    gate = Gate()
    assert await admit(gate, f"Bearer {TOKEN}", None) == Admission(None, f"Bearer {TOKEN}")  # type: ignore[arg-type]
    assert await admit(gate, None, None) == Admission()  # type: ignore[arg-type]
    assert gate.asked == []


async def test_enabled_body_passports_are_validated() -> None:
    gate = Gate()
    admission = await admit(gate, None, [PASSPORT])  # type: ignore[arg-type]
    assert admission.caller is not None and admission.caller.tokens == (PASSPORT,) and admission.authorization is None
    assert gate.asked == [([PASSPORT], False)]


async def test_enabled_a_bearer_passport_is_validated_and_not_left_for_members() -> None:
    gate = Gate()
    admission = await admit(gate, f"Bearer {PASSPORT}", None)  # type: ignore[arg-type]
    assert admission.caller is not None and admission.authorization is None
    assert gate.asked == [([PASSPORT], False)]


async def test_enabled_passports_both_ways_are_a_400() -> None:
    gate = Gate()
    with pytest.raises(ApiError) as refused:
        await admit(gate, f"Bearer {PASSPORT}", [PASSPORT])  # type: ignore[arg-type]
    assert refused.value.status == 400 and "rule 2" in refused.value.message and gate.asked == []


async def test_enabled_body_passports_with_another_credential_go_to_the_engine_which_refuses_them() -> None:
    gate = Gate(PassportRejected(400, 2, "passports and an Authorization header cannot both be supplied"))
    with pytest.raises(ApiError) as refused:
        await admit(gate, f"Bearer {TOKEN}", [PASSPORT])  # type: ignore[arg-type]
    assert refused.value.status == 400 and gate.asked == [([PASSPORT], True)]
    assert not refused.value.headers


@pytest.mark.parametrize("status", [401, 413, 503])
async def test_enabled_a_rejection_keeps_the_engines_status_and_rule_never_the_token(status: int) -> None:
    gate = Gate(PassportRejected(status, 13, "the passport issuer is not a trusted broker"))
    with pytest.raises(ApiError) as refused:
        await admit(gate, f"Bearer {PASSPORT}", None)  # type: ignore[arg-type]
    assert refused.value.status == status
    assert refused.value.message == "passports rejected: rule 13: the passport issuer is not a trusted broker"
    assert PASSPORT not in refused.value.message
    assert ("WWW-Authenticate" in refused.value.headers) == (status == 401)

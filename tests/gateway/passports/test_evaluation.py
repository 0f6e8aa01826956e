"""The evaluation's shapes: hand-written initialisers take exactly their fields, and the per-Visa reports and audit
records the engine hands over as a function are built once, when first read, and read like given ones."""

from __future__ import annotations

import tokens_kit as kit

from gateway.passports.evaluation import ACCEPTED, Evaluation, VisaReport
from gateway.passports.rules.audit import AuditRecord
from gateway.passports.rules.passport import Passport


def test_report_and_passport_init_take_exactly_their_fields():
    kit.assert_init_matches_fields(VisaReport)
    kit.assert_init_matches_fields(Passport)


REPORTS = (VisaReport(0, "aa", ACCEPTED, iss="https://issuer", type="ControlledAccessGrants", jti="j"),)
AUDIT = (AuditRecord("jti", ("https://broker", "alice"), "bb"),)


def test_details_are_built_once_on_first_read():
    calls = []

    def details():
        calls.append(1)
        return REPORTS, AUDIT

    evaluation = Evaluation((), 100, 200, identity=("https://broker", "alice"), details=details)
    assert calls == []  # nothing built until read
    assert evaluation.visas == REPORTS and evaluation.audit == AUDIT and evaluation.accepted == REPORTS
    assert evaluation.ignored == () and calls == [1]


def test_given_and_built_details_read_alike_and_do_not_change_equality():
    given = Evaluation((), 100, 200, REPORTS, AUDIT, identity=("https://broker", "alice"))
    built = Evaluation((), 100, 200, identity=("https://broker", "alice"), details=lambda: (REPORTS, AUDIT))
    assert (given.visas, given.audit) == (built.visas, built.audit)
    assert given == built and not given.cached
    assert Evaluation((), 100, 200).visas == () and Evaluation((), 100, 200, cached=True).audit == ()
    assert REPORTS[0].as_dict() == {"passport": 0, "sha256": "aa", "status": ACCEPTED, "iss": "https://issuer",
                                    "type": "ControlledAccessGrants", "jti": "j"}

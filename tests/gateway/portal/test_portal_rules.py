"""The portal's pure rules: CSRF tokens, the CSP, the assets' provenance, reading pasted ids, a lookup row."""

from __future__ import annotations

import hashlib

import pytest

from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.portal import csp, csrf
from gateway.portal.assets import HTMX, STATIC_DIR, STATIC_FILES, load_assets
from gateway.portal.lookup import Found, Missing, human_size, problem_of, row_of, split_ids
from gateway.resolver.identifiers import parse_identifier
from gateway.resolver.outcomes import Candidate, Resolution, ResolutionError

OWN = ["http://127.0.0.1:8080", "https://gateway.example"]


def test_a_form_is_accepted_only_with_its_cookie_token_from_our_own_origin():
    token = csrf.new_token()
    assert csrf.well_formed(token) and token != csrf.new_token()
    assert csrf.refusal(token, token, "http://127.0.0.1:8080", OWN) is None
    assert csrf.refusal(token, token, "https://gateway.example/", OWN) is None
    assert csrf.refusal(token, token, None, OWN) is None  # no Origin sent: the token decides
    assert "another site" in csrf.refusal(token, token, "https://evil.example", OWN)
    assert "another site" in csrf.refusal(token, token, "null", OWN)
    assert "cookie" in csrf.refusal(None, token, None, OWN)
    assert "cookie" in csrf.refusal("short", "short", None, OWN)  # not a token we make
    assert "does not match" in csrf.refusal(token, None, None, OWN)
    assert "does not match" in csrf.refusal(token, csrf.new_token(), None, OWN)
    assert "does not match" in csrf.refusal(token, token[:-1], None, OWN)


def test_the_policy_allows_nothing_inline_and_no_other_host():
    directives = dict(d.split(" ", 1) for d in csp.POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "img-src", "form-action"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in csp.POLICY and "http" not in csp.POLICY and "*" not in csp.POLICY
    assert csp.PAGE_HEADERS["Content-Security-Policy"] == csp.POLICY
    assert csp.PAGE_HEADERS["X-Content-Type-Options"] == "nosniff"


def test_vendored_htmx_is_the_published_file_and_a_changed_one_is_refused(tmp_path):
    body = (STATIC_DIR / HTMX.file).read_bytes()
    assert hashlib.sha256(body).hexdigest() == HTMX.sha256
    assert b"Zero-Clause BSD" in (STATIC_DIR / HTMX.licence_file).read_bytes()
    assets = load_assets()
    assert set(assets) == set(STATIC_FILES)
    for name in STATIC_FILES:
        (tmp_path / name).write_bytes((STATIC_DIR / name).read_bytes())
    (tmp_path / HTMX.file).write_bytes(body + b"\n//")
    with pytest.raises(ValueError, match=r"not htmx\.org@2\.0\.11"):
        load_assets(tmp_path)


def test_pasted_ids_are_split_deduplicated_and_capped():
    text = " dg.A/1, dg.A/1\n\ndrs://dg.B:2;  3 \t4\n"
    assert split_ids(text, 10) == (["dg.A/1", "drs://dg.B:2", "3", "4"], 0)
    assert split_ids(text, 2) == (["dg.A/1", "drs://dg.B:2"], 2)
    assert split_ids("  \n ", 5) == ([], 0)


@pytest.mark.parametrize(("status", "problem"), [(400, "invalid"), (404, "unknown"), (409, "ambiguous"),
                                                 (401, "refused"), (403, "refused"), (502, "unavailable"),
                                                 (503, "unavailable"), (504, "unavailable"), (429, "unavailable"),
                                                 (202, "unavailable")])
def test_each_failure_says_plainly_what_it_is(status, problem):
    assert problem_of(status) == problem


def test_sizes_read_as_people_read_them():
    assert human_size(None) == "unknown size"
    assert human_size(0) == "0 bytes"
    assert human_size(999) == "999 bytes"
    assert human_size(1147) == "1.1 KB (1,147 bytes)"
    assert human_size(5_300_000_000) == "5.3 GB (5,300,000,000 bytes)"


MEMBER = Member.from_doc({"id": "m1", "name": "Member one", "base_url": "http://127.0.0.1:1", "kind": "gen3",
                          "prefixes": ["dg.M1"], "hostnames": [], "status": "active"})
RECORD = {"did": "dg.M1/abc", "file_name": "a.bam", "size": 2048, "hashes": {"md5": "0" * 32},
          "urls": ["s3://bucket/a.bam"], "authz": ["/programs/p/projects/open"], "acl": ["*"],
          "created_date": "2024-01-01T00:00:00", "updated_date": "2024-01-01T00:00:00", "form": "object"}


def test_a_found_id_names_its_member_and_the_objects_facts():
    resolution = Resolution(parse_identifier("dg.M1/abc"), MEMBER, MemberRecord("m1", "dg.M1/abc", "indexd", RECORD),
                            "prefix")
    row = row_of("dg.M1/abc", resolution, "gw.example", open_data=True)
    assert isinstance(row, Found)
    assert (row.member_id, row.member_name, row.normalized, row.name, row.size) == (
        "m1", "Member one", "dg.M1/abc", "a.bam", 2048)
    assert ("md5", "0" * 32) in row.checksums
    assert row.access_ids and row.access_ids[0][1] == "s3"
    assert row.availability == "open" and row.drs_uri.startswith("drs://gw.example/")
    assert row_of("x", resolution, "gw.example", open_data=None).availability == "unknown"
    assert row_of("x", resolution, "gw.example", open_data=False).availability == "controlled"


def test_a_member_record_that_is_no_object_is_unavailable_not_a_crash():
    record = MemberRecord("m1", "dg.M1/abc", "indexd", {"did": "dg.M1/abc"})  # no size, no hashes
    broken = Resolution(parse_identifier("dg.M1/abc"), MEMBER, record, "prefix")
    row = row_of("dg.M1/abc", broken, "gw.example", open_data=None)
    assert isinstance(row, Missing) and row.problem == "unavailable" and "unusable record" in row.message


def test_an_ambiguous_id_lists_every_holder():
    error = ResolutionError(409, "held by several members", candidates=(
        Candidate("a", "dg.A/1", "drs://dg.A:1"), Candidate("b", "dg.B/1", None)))
    row = row_of("1", error, "gw.example", open_data=None)
    assert isinstance(row, Missing)
    assert row.headline == "Held by several member commons"
    assert row.candidates == (("a", "dg.A/1", "drs://dg.A:1"), ("b", "dg.B/1", None))


def test_a_member_row_shows_health_as_the_prober_recorded_it():
    from gateway.portal.federation import FederationView, member_row
    from gateway.registry.health import HealthRecord

    failing = HealthRecord("unhealthy", 2, "t0", "t2", 12.4, ({"at": "t1", "detail": "a"}, {"at": "t2", "detail": "b"}),
                           "t2")
    row = member_row(MEMBER, failing)
    assert (row.id, row.name, row.prefixes, row.status) == ("m1", "Member one", MEMBER.prefixes, "active")
    assert row.latency_text == "12 ms" and row.failures == [("t2", "b"), ("t1", "a")]
    assert member_row(MEMBER, HealthRecord()).latency_text == "not measured yet"
    view = FederationView([row, member_row(MEMBER, HealthRecord("healthy"))], 30.0, 3)
    assert (view.count("unhealthy"), view.count("healthy"), view.count("unknown")) == (1, 1, 0)


def test_a_study_row_never_shows_a_hidden_count_as_a_number():
    from gateway.portal.studies import age_text, study_row

    doc = {"gen3_discovery": {"full_name": "Study X", "commons_name": "m1", "study_description": "about x",
                              "_subjects_count": None, "_samples_count": 7, "_files_count": None,
                              "_hidden_counts": ["_subjects_count"],
                              "tags": [{"category": "Access", "name": "Open"}, {"name": "no category"}]}}
    row = study_row("S1", doc, {"m1": 4000.0})
    assert row.counts == (("Subjects", "hidden"), ("Samples", 7), ("Files", "unknown"))
    assert row.tags == (("Access", "Open"),) and row.title == "Study X" and row.member_id == "m1"
    assert row.stale_text == "snapshot 67 min old"
    assert study_row("S2", {"gen3_discovery": {"commons_name": "m2"}}, {"m1": 1.0}).stale_text is None
    assert [age_text(s) for s in (5, 600, 36_000, 864_000)] == ["5 s", "10 min", "10 h", "10 days"]


def test_a_hidden_cohort_count_is_only_ever_words():
    from gateway.portal.explore import bar_of, count_text
    from gateway.search.tiering import Shown

    assert count_text(Shown(None, True, below=True), 50) == "fewer than 50"
    assert count_text(Shown(7, True, below=True), 50) == "fewer than 50"  # even were a value carried, not shown
    # hidden to protect other counts (or with a large accessible part): "fewer than 50" would be false
    assert count_text(Shown(None, True), 50) == "hidden"
    assert count_text(Shown(70, True), 50) == "hidden"
    assert bar_of(Shown(7, True)) is None
    assert count_text(Shown(1234), 50) == "1,234" and bar_of(Shown(1234)) == 1234
    assert count_text(Shown(None), 50) == "no answer"


def test_the_explorer_selection_becomes_guppys_filter():
    from gateway.portal.explore import guppy_filter, selection

    query = {"f.sex": ["female", "female", ""], "f.race": ["Asian", "White"], "f.unknown": ["x"]}
    chosen = selection(query, ["project_id", "sex", "race"])
    assert chosen == {"sex": ("female",), "race": ("Asian", "White")}
    assert guppy_filter(chosen) == {"AND": [{"IN": {"race": ["Asian", "White"]}}, {"IN": {"sex": ["female"]}}]}
    assert guppy_filter(chosen, without="race") == {"AND": [{"IN": {"sex": ["female"]}}]}
    assert guppy_filter({}) is None


def test_a_passport_view_never_holds_the_token():
    from gateway.passports.evaluation import ACCEPTED, IGNORED, Evaluation, VisaReport
    from gateway.passports.rules.grants import Grant
    from gateway.portal.passport import tokens_of, view_of

    evaluation = Evaluation(
        grants=(Grant("dbgap", "phs2", "c1", 2_000_000_000, "https://broker", "https://dac"),
                Grant("dbgap", "phs1", "c2", 2_000_000_000, "https://broker", "https://dac")),
        valid_until=2_000_000_000, passports_expire=2_000_000_000,
        visas=(VisaReport(0, "aa", ACCEPTED, iss="https://broker", type="ControlledAccessGrants"),
               VisaReport(0, "bb", IGNORED, rule=20, reason="token has expired")),
        identity=("https://broker", "someone"))
    view = view_of(evaluation)
    assert (view.issuer, view.subject, view.valid_until) == ("https://broker", "someone", "2033-05-18 03:33:20 UTC")
    assert [g.dataset for g in view.grants] == ["phs1", "phs2"]
    assert view.visas[1].reason == "rule 20: token has expired" and view.visas[1].issuer == "not verified"
    assert tokens_of("  a.b.c \n d.e.f ") == ["a.b.c", "d.e.f"] and tokens_of("   ") == []

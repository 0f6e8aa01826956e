"""The one redirect rule (pure): what is a redirect, where it may lead, how many, and the method after it."""

from __future__ import annotations

import httpx
import pytest

from gateway.core.redirects import NONE, SAME_HOST, SAME_ORIGIN, RedirectRefused, RedirectRule


def follow(rule: RedirectRule, location: str | None, *, status: int = 302, method: str = "GET", hops: int = 0,
           origin: str = "http://member.example:8080/base/x", current: str | None = None):
    return rule.follow(origin=httpx.URL(origin), current=httpx.URL(current or origin), method=method, status=status,
                       location=location, hops=hops)


def refused(rule: RedirectRule, location: str | None, **kw) -> RedirectRefused:
    with pytest.raises(RedirectRefused) as err:
        follow(rule, location, **kw)
    return err.value


@pytest.mark.parametrize("status", [200, 204, 300, 304, 404, 500])
def test_other_statuses_are_final_answers(status):
    assert follow(SAME_ORIGIN, "/elsewhere", status=status) is None


@pytest.mark.parametrize("location", [None, ""])
def test_a_redirect_without_location_is_a_final_answer(location):
    assert follow(SAME_ORIGIN, location) is None


def test_a_same_origin_redirect_is_followed_relative_to_the_current_url():
    hop = follow(SAME_ORIGIN, "other?x=1", current="http://member.example:8080/base/r/y")
    assert hop is not None and str(hop.url) == "http://member.example:8080/base/r/other?x=1"
    assert (hop.method, hop.keeps_body) == ("GET", True)
    assert follow(SAME_ORIGIN, "HTTP://MEMBER.example:8080/z") is not None, "hosts compare case-insensitively"


@pytest.mark.parametrize(("status", "method", "after", "keeps_body"), [
    (303, "POST", "GET", False), (303, "PUT", "GET", False),
    (301, "POST", "GET", False), (302, "POST", "GET", False),
    (301, "PUT", "PUT", True), (307, "POST", "POST", True), (308, "POST", "POST", True),
])
def test_the_method_after_a_redirect(status, method, after, keeps_body):
    hop = follow(SAME_ORIGIN, "/landing", status=status, method=method)
    assert hop is not None and (hop.method, hop.keeps_body) == (after, keeps_body)


@pytest.mark.parametrize("location", [
    "http://other.example:8080/x", "http://member.example:8081/x", "https://member.example:8080/x",
    "//other.example/x",
])
def test_members_follow_nothing_off_their_origin(location):
    err = refused(SAME_ORIGIN, location)
    assert err.reason == "elsewhere" and err.status == 302 and err.target is not None


@pytest.mark.parametrize("location", ["ftp://member.example:8080/x", "file:///etc/passwd", "javascript:alert(1)"])
def test_non_http_targets_are_refused(location):
    err = refused(SAME_HOST, location)
    assert err.reason == "scheme"


def test_the_join_check_allows_the_same_host_and_an_https_upgrade_on_default_ports():
    origin = "http://candidate.example/_status"
    assert follow(SAME_HOST, "https://candidate.example/_status", origin=origin) is not None
    assert follow(SAME_HOST, "https://CANDIDATE.example:443/x", origin=origin) is not None
    assert refused(SAME_HOST, "https://candidate.example:8443/x", origin=origin).reason == "elsewhere"
    assert refused(SAME_HOST, "http://other.example/x", origin=origin).reason == "elsewhere"
    assert refused(SAME_ORIGIN, "https://candidate.example/_status", origin=origin).reason == "elsewhere"
    https = "https://candidate.example/_status"
    assert refused(SAME_HOST, "http://candidate.example/_status", origin=https).reason == "elsewhere", \
        "no downgrade"


def test_at_most_max_hops_and_the_count_comes_first():
    assert follow(SAME_ORIGIN, "/x", hops=2) is not None
    err = refused(SAME_ORIGIN, "http://other.example/x", hops=3)
    assert err.reason == "too_many" and err.target is None
    assert refused(NONE, "/x").reason == "too_many"


def test_a_malformed_location_is_refused():
    err = refused(SAME_ORIGIN, "http://[::1")
    assert err.reason == "malformed" and err.target is None

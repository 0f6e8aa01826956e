"""The shared upstream HTTP layer against purpose-built fault servers: deadlines, retries, redirects, caps."""

from __future__ import annotations

import logging
import time

import faults
import pytest
from faults import serve

from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN, EgressPolicy
from gateway.core.errors import MemberBusy, MemberTimeout, MemberUnavailable
from gateway.members.http import MAX_BACKOFF, MemberHttp, next_sleep, target_url
from gateway.settings.sections import UpstreamConfig

EPSILON = 0.5


def client(server_url: str, config: UpstreamConfig, **kw) -> MemberHttp:
    return MemberHttp("m1", server_url, config, **{"egress": OPEN, **kw})


async def call(http: MemberHttp, deadline: float, method: str = "GET", *, idempotent: bool = True, path: str = "/thing",
               **kw):
    try:
        return await http.request(method, path, Deadline.after(deadline), idempotent=idempotent, **kw)
    finally:
        await http.close()


# --- deadlines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method,idempotent", [("GET", True), ("POST", False)])
async def test_a_hanging_member_costs_at_most_the_deadline(config, method, idempotent):
    slow = config.model_copy(update={"read_timeout": 30.0})  # the deadline, not the read timeout, must end it
    async with serve(faults.hanging()) as server:
        start = time.monotonic()
        with pytest.raises(MemberTimeout) as err:
            await call(client(server.url, slow), 1.0, method, idempotent=idempotent, json={"a": 1})
        elapsed = time.monotonic() - start
    assert 0.9 <= elapsed <= 1.0 + EPSILON
    assert err.value.status == 504 and err.value.message == "timed out" and "deadline" in err.value.detail
    assert server.count() == 1  # a timeout is never retried


async def test_a_read_timeout_shorter_than_the_deadline_is_not_retried(config):
    quick = config.model_copy(update={"read_timeout": 0.3})
    async with serve(faults.hanging()) as server:
        start = time.monotonic()
        with pytest.raises(MemberTimeout):
            await call(client(server.url, quick), 5.0)
        assert time.monotonic() - start < 0.3 + EPSILON
    assert server.count() == 1


async def test_a_passed_deadline_fails_without_calling(config):
    async with serve(faults.flaky(0)) as server:
        with pytest.raises(MemberTimeout):
            await call(client(server.url, config), 0.0)
    assert server.hits == []


async def test_no_backoff_sleep_runs_past_the_deadline(config):
    patient = config.model_copy(update={"backoff": 5.0, "retries": 5})  # windows of 5, 10, 20 s
    async with serve(faults.flaky(100)) as server:
        start = time.monotonic()
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, patient), 1.0)
        assert time.monotonic() - start <= 1.0 + EPSILON
    assert err.value.upstream_status == 503
    assert 1 <= server.count() <= 6


# --- retries -------------------------------------------------------------------------------------


async def test_503_then_200_is_retried_and_succeeds(config):
    async with serve(faults.flaky(2)) as server:
        response = await call(client(server.url, config), 5.0)
    assert response.status == 200 and response.json() == {"ok": True}
    assert server.count() == 3


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_never_more_than_retries_plus_one_attempts(config, status, retries):
    async with serve(faults.flaky(100, status=status)) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config.model_copy(update={"retries": retries})), 10.0)
    assert server.count() == retries + 1
    assert err.value.upstream_status == status and err.value.status == 502


async def test_other_statuses_are_answers_not_retries(config):
    async with serve(faults.flaky(100, status=500)) as server:
        response = await call(client(server.url, config), 5.0)
    assert response.status == 500 and server.count() == 1


async def test_non_idempotent_calls_are_never_retried(config):
    async with serve(faults.flaky(1)) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 5.0, "POST", idempotent=False, json={"x": 1})
    assert err.value.upstream_status == 503
    assert server.count() == 1


async def test_an_idempotent_post_is_retried(config):
    async with serve(faults.flaky(1)) as server:
        response = await call(client(server.url, config), 5.0, "POST", json=["a"])
    assert response.status == 200 and server.count(method="POST") == 2


async def test_connect_errors_are_retried_then_reported(config, caplog):
    port = faults.free_port()  # nothing listens there
    caplog.set_level(logging.INFO, logger="gateway.members.http")
    secret = "Bearer sup3r-s3cret-t0ken"
    with pytest.raises(MemberUnavailable) as err:
        await call(client(f"http://127.0.0.1:{port}", config), 5.0, headers={"Authorization": secret})
    assert err.value.message == "unreachable" and "could not connect" in err.value.detail
    retries = [r for r in caplog.records if r.getMessage() == "retrying upstream call"]
    assert len(retries) == config.retries
    assert "sup3r" not in caplog.text and all("sup3r" not in str(r.__dict__) for r in caplog.records)


# --- 429 -----------------------------------------------------------------------------------------


async def test_retry_after_is_honoured_when_it_fits(config):
    async with serve(faults.rate_limited("1")) as server:
        start = time.monotonic()
        response = await call(client(server.url, config), 3.0)
        elapsed = time.monotonic() - start
    assert response.status == 200 and server.count() == 2
    assert 1.0 <= elapsed < 1.0 + EPSILON


@pytest.mark.parametrize("deadline,retry_after", [(0.5, "1"), (5.0, "120")])
async def test_retry_after_past_the_deadline_gives_up_at_once(config, deadline, retry_after):
    async with serve(faults.rate_limited(retry_after)) as server:
        start = time.monotonic()
        with pytest.raises(MemberBusy) as err:
            await call(client(server.url, config), deadline)
        assert time.monotonic() - start < 0.4
    assert err.value.upstream_status == 429
    assert err.value.status == 503 and err.value.retry_after == int(retry_after)  # passed on to the client
    assert err.value.message == "answered HTTP 429"
    assert f"Retry-After {retry_after} s" in err.value.detail and "past the deadline: not retried" in err.value.detail
    assert server.count() == 1


# --- redirects -----------------------------------------------------------------------------------


async def test_a_redirect_to_another_host_is_not_followed(config):
    async with serve(faults.flaky(0)) as elsewhere, serve(faults.redirecting(lambda r: f"{elsewhere.url}/x")) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 5.0, path="/r/x", headers={"Authorization": "Bearer t"})
    assert err.value.message == "answered HTTP 302" and err.value.upstream_status == 302
    assert "another origin" in err.value.detail
    assert elsewhere.hits == []


async def test_a_same_host_redirect_is_followed(config):
    async with serve(faults.redirecting(lambda r: "/landing?x=1", status=307)) as server:
        http = client(server.url, config)
        response = await http.request("POST", "/r/x", Deadline.after(5), idempotent=False, json={"a": 1})
        await http.close()
    assert response.json() == {"path": "/landing", "method": "POST"}
    assert [(m, p) for m, p, _ in server.hits] == [("POST", "/r/x"), ("POST", "/landing?x=1")]


async def test_a_malformed_redirect_is_unavailable_and_not_followed(config):
    async with serve(faults.redirecting(lambda r: "http://[::1")) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 5.0, path="/r/x")
    assert err.value.message in ("sent a malformed answer", "unreachable") and err.value.status == 502
    assert "location" in err.value.detail.lower()
    assert server.count() == 1


async def test_at_most_three_redirects_are_followed(config):
    async with serve(faults.redirecting(lambda r: "/r/again")) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 5.0, path="/r/x")
    assert err.value.message == "sent a malformed answer" and "more than 3 redirects" in err.value.detail
    assert server.count() == 4


# --- bodies and connections ----------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_huge_body_is_capped(config, declare_length):
    cap = config.max_record_bytes
    async with serve(faults.huge(cap + 4 * faults.MiB, declare_length=declare_length)) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 10.0)
    assert err.value.message == "answered too large a body"
    assert f"larger than {cap} bytes" in err.value.detail


async def test_a_smaller_cap_can_be_chosen(config):
    async with serve(faults.huge(2 * faults.MiB)) as server:
        with pytest.raises(MemberUnavailable):
            await call(client(server.url, config, max_body=faults.MiB), 10.0)
        response = await call(client(server.url, config, max_body=3 * faults.MiB), 10.0)
    assert len(response.body) == 2 * faults.MiB


@pytest.mark.parametrize("body,content_type", [
    (b"<html><body>Bad gateway</body></html>", "text/html"),
    (b'{"did": "dg.X/1", "size":', "application/json"),
])
async def test_non_json_bodies_are_a_clear_error(config, body, content_type):
    async with serve(faults.not_json(body, content_type)) as server:
        response = await call(client(server.url, config), 5.0)
    with pytest.raises(MemberUnavailable) as err:
        response.json()
    assert err.value.message == "sent a malformed answer"
    assert "not valid JSON" in err.value.detail and content_type in err.value.detail
    assert err.value.status == 502


async def test_a_reset_connection_is_unavailable_and_not_retried(config):
    async with serve(faults.resetting()) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 5.0)
    assert err.value.message == "unreachable"
    assert "connection failed" in err.value.detail and "reset" in err.value.detail.lower()
    assert server.count() == 1


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_pooled_connection_the_member_dropped_is_replayed_on_a_new_one(config, reset):
    """The keep-alive race (RFC 9112 §9.3.1): a member closes an idle connection just as it is reused. The request
    never reached the member's application, so an idempotent one is sent again on a new connection, whatever the
    retry budget (none here), and the caller sees the answer, not "unreachable"."""
    no_retries = config.model_copy(update={"retries": 0})
    async with serve(faults.dropping_reused(reset=reset)) as server:
        http = client(server.url, no_retries)
        try:
            for _ in range(3):
                response = await http.request("GET", "/thing", Deadline.after(5.0), idempotent=True)
                assert response.status == 200 and response.json() == {"ok": True}
        finally:
            await http.close()
    assert server.app[faults.STATE]["connections"] == 3
    assert server.count() == 5  # three answered, two dropped on reuse


async def test_a_pooled_connection_dropped_in_the_middle_of_its_answer_is_not_replayed(config):
    """Only a request that got no byte of answer is the keep-alive race: once the member began to answer, the request
    reached its application, and a drop is the member's failure (never sent again, not even an idempotent GET)."""
    no_retries = config.model_copy(update={"retries": 0})
    async with serve(faults.half_answering_reused()) as server:
        http = client(server.url, no_retries)
        try:
            first = await http.request("GET", "/thing", Deadline.after(5.0), idempotent=True)
            assert first.status == 200
            with pytest.raises(MemberUnavailable) as err:
                await http.request("GET", "/thing", Deadline.after(5.0), idempotent=True)
        finally:
            await http.close()
    assert err.value.message == "unreachable" and "in the middle of the answer" in err.value.detail
    assert server.count() == 2 and server.app[faults.STATE]["connections"] == 1


async def test_a_dropped_pooled_connection_is_not_replayed_for_a_call_that_is_not_idempotent(config):
    async with serve(faults.dropping_reused()) as server:
        http = client(server.url, config)
        try:
            first = await http.request("POST", "/thing", Deadline.after(5.0), idempotent=False, json={"n": 1})
            assert first.status == 200
            with pytest.raises(MemberUnavailable) as err:
                await http.request("POST", "/thing", Deadline.after(5.0), idempotent=False, json={"n": 2})
        finally:
            await http.close()
    assert err.value.message == "unreachable" and "connection failed" in err.value.detail
    assert server.count(method="POST") == 2


async def test_a_connect_timeout_is_a_connect_error_retried_then_reported(config, caplog):
    """A connection never made (here: a member whose backlog is full, so the SYN goes unanswered) is retried like a
    refused one, and reported as "unreachable" with the reason in the detail."""
    quick = config.model_copy(update={"connect_timeout": 0.2, "retries": 2, "backoff": 0.01})
    caplog.set_level(logging.INFO, logger="gateway.members.http")
    member = faults.Unaccepting()
    try:
        start = time.monotonic()
        with pytest.raises(MemberUnavailable) as err:
            await call(client(member.url, quick), 5.0)
        elapsed = time.monotonic() - start
    finally:
        member.close()
    assert err.value.message == "unreachable" and "could not connect" in err.value.detail
    assert len([r for r in caplog.records if r.getMessage() == "retrying upstream call"]) == 2
    assert 0.55 <= elapsed < 0.6 + EPSILON * 2  # three connect timeouts of 0.2 s (a timer may fire a hair early)


async def test_a_connect_timeout_past_the_deadline_is_a_timeout(config):
    member = faults.Unaccepting()
    try:
        with pytest.raises(MemberTimeout) as err:
            await call(client(member.url, config.model_copy(update={"connect_timeout": 5.0})), 0.3)
    finally:
        member.close()
    assert err.value.message == "timed out"


async def test_member_cookies_are_never_sent_back(config):
    """A member's Set-Cookie (say, a session for the caller of one request) must not ride along on the next
    request, which may be another caller's."""
    from aiohttp import web

    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "caller-a-secret", path="/")
        return response

    async with serve(faults.recording_app([web.get("/{tail:.*}", handler)])) as server:
        http = client(server.url, config)
        try:
            for _ in range(3):
                response = await http.request("GET", "/thing", Deadline.after(5), idempotent=True)
                assert response.status == 200
        finally:
            await http.close()
    assert seen == [None, None, None]


async def test_a_member_inside_a_denied_network_is_unavailable_and_not_retried(config, caplog):
    caplog.set_level(logging.INFO, logger="gateway.members.http")
    async with serve(faults.flaky(0)) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config, egress=EgressPolicy.denying(["127.0.0.0/8"])), 5.0)
    # like any member failure: 502 naming the member only; the address goes to the detail (the log)
    assert err.value.status == 502 and err.value.message == "unreachable"
    assert "refused by the egress policy: 127.0.0.1 is inside a denied network" in err.value.detail
    assert server.hits == [] and "retrying upstream call" not in caplog.text


# --- members that send too much, too slowly (issue 14) -------------------------------------------------------


async def test_a_record_call_stops_reading_at_the_record_cap(config):
    """A member answering 50 MB to a metadata call: 502 naming the member once the record cap is passed, and the
    member managed to send little more than the cap (loopback socket buffers hold a few MiB at most)."""
    cap = config.max_record_bytes
    async with serve(faults.huge(50 * faults.MiB)) as server:
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 10.0)
        sent = server.app[faults.STATE]["sent"]
    assert err.value.member_id == "m1" and err.value.status == 502
    assert err.value.message == "answered too large a body" and f"larger than {cap} bytes" in err.value.detail
    assert cap <= 4 * faults.MiB
    assert sent <= cap + 12 * faults.MiB


async def test_a_bulk_cap_grows_with_the_ids_asked_up_to_the_largest_body(config):
    http = client("http://127.0.0.1:1", config)
    try:
        one = http.bulk_cap(1)
        assert one >= config.max_record_bytes
        assert http.bulk_cap(100) == min(config.max_body_bytes, one + 99 * config.bulk_bytes_per_id)
        assert http.bulk_cap(10**9) == config.max_body_bytes
    finally:
        await http.close()


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_body_past_the_in_flight_budget_is_503_and_the_budget_is_given_back(config, declare_length):
    """Every call shares one budget of bytes being read; a call whose next chunk (or whose declared length, read in
    one go) does not fit fails at once with 503 (Retry-After), and what it held is given back."""
    tight = config.model_copy(update={"inflight_bytes": 256 * 1024})
    async with serve(faults.huge(faults.MiB, declare_length=declare_length)) as server:
        http = client(server.url, tight)
        with pytest.raises(MemberBusy) as err:
            await call(http, 10.0)
    assert err.value.status == 503 and err.value.retry_after >= 1 and err.value.member_id == "m1"
    assert err.value.upstream_status is None
    assert http.budget.held == 0


async def test_a_dripping_member_is_cut_at_the_attempt_timeout(config):
    """1 byte every 0.1 s never trips the read timeout; the attempt's total cap cuts it like a hang."""
    drip = config.model_copy(update={"read_timeout": 3.0, "attempt_timeout": 0.5})
    async with serve(faults.dripping(0.1)) as server:
        start = time.monotonic()
        with pytest.raises(MemberTimeout) as err:
            await call(client(server.url, drip), 6.0)
        elapsed = time.monotonic() - start
    assert elapsed <= 0.5 + EPSILON
    assert err.value.status == 504 and "attempt" in err.value.detail
    assert server.count() == 1  # a timeout is never retried


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_body_within_the_budget_is_read_whole_and_given_back(config, declare_length):
    async with serve(faults.huge(300_000, declare_length=declare_length)) as server:
        http = client(server.url, config)
        response = await call(http, 10.0)
    assert response.body == b" " * 300_000 and http.budget.held == 0


async def test_the_cap_counts_decoded_bytes(config):
    """A small gzip body that expands past the cap is too large; one that expands within it is read decoded."""
    async with serve(faults.compressed(2 * faults.MiB)) as server:
        response = await call(client(server.url, config), 10.0, max_body=2 * faults.MiB)
        assert response.body == b" " * (2 * faults.MiB)
        with pytest.raises(MemberUnavailable) as err:
            await call(client(server.url, config), 10.0, max_body=faults.MiB)
    assert err.value.message == "answered too large a body"


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
                                  "[::127.0.0.1]", "0.0.0.0", "localhost"])
async def test_a_member_spelt_as_any_form_of_a_denied_address_is_never_connected_to(config, host):
    """IP literals in any spelling are checked before aiohttp (which connects to literals without asking its
    resolver); names are checked on what they resolve to."""
    async with serve(faults.flaky(0)) as server:
        port = server.url.rsplit(":", 1)[1]
        denied = EgressPolicy.denying(["127.0.0.0/8", "::1/128"])
        with pytest.raises(MemberUnavailable) as err:
            await call(client(f"http://{host}:{port}", config, egress=denied), 5.0)
    assert err.value.message == "unreachable" and "refused by the egress policy" in err.value.detail
    assert server.hits == []


async def test_every_call_carries_the_request_id_and_a_traceparent(config):
    from aiohttp import web

    seen: list[tuple[str | None, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.headers.get("X-Request-Id"), request.headers.get("traceparent")))
        return web.json_response({"ok": True})

    async with serve(faults.recording_app([web.get("/{tail:.*}", handler)])) as server:
        await call(client(server.url, config), 5.0)
    [(rid, traceparent)] = seen
    assert rid and traceparent and traceparent.split("-")[1] == rid  # outside a request: one new trace, its id


async def test_a_json_body_is_sent_as_json(config):
    from aiohttp import web

    seen: list[tuple[str, object]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.content_type, await request.json()))
        return web.json_response({"ok": True})

    async with serve(faults.recording_app([web.post("/{tail:.*}", handler)])) as server:
        response = await call(client(server.url, config), 5.0, "POST", idempotent=False, json={"ids": ["a", "é"]})
    assert response.status == 200 and seen == [("application/json", {"ids": ["a", "é"]})]


# --- the retry schedule and the URL (pure) ----------------------------------------------------------------------


def window(attempt: int, backoff: float = 0.2) -> float:
    """The jitter window ``next_sleep`` draws from after ``attempt``."""
    drawn: list[tuple[float, float]] = []
    next_sleep(attempt, 99, None, backoff=backoff, remaining=1e9, draw=lambda lo, hi: drawn.append((lo, hi)) or hi)
    [(low, high)] = drawn
    assert low == 0.0
    return high


def test_the_backoff_window_doubles_from_the_base_up_to_its_cap():
    assert [window(n) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]
    assert window(20) == MAX_BACKOFF


def test_no_attempt_past_the_last():
    assert next_sleep(3, 3, None, backoff=0.2, remaining=100) is None
    assert next_sleep(1, 1, 0.0, backoff=0.2, remaining=100) is None  # a call that may not be retried
    assert next_sleep(2, 3, None, backoff=0.2, remaining=100, draw=lambda lo, hi: hi) == 0.4


def test_retry_after_is_the_sleep_when_it_fits_in_the_deadline():
    assert next_sleep(1, 3, 2.0, backoff=0.2, remaining=2.5) == 2.0
    assert next_sleep(1, 3, 2.0, backoff=0.2, remaining=2.0) is None
    assert next_sleep(1, 3, None, backoff=0.2, remaining=0.1, draw=lambda lo, hi: 0.15) is None


def test_a_call_url_is_the_base_and_path_with_its_query_replaced_by_the_params():
    assert str(target_url("http://m.example/x", "/index/dg.1%2Fa", None)) == "http://m.example/x/index/dg.1%2Fa"
    assert str(target_url("http://m.example", "/q?old=1", {"a": "b c", "d": "é"})) == "http://m.example/q?a=b+c&d=%C3%A9"
    assert str(target_url("http://m.example", "/q", [("hash", "md5:1"), ("hash", "sha1:2")])) == (
        "http://m.example/q?hash=md5:1&hash=sha1:2")
    assert str(target_url("http://m.example", "https://drs.example/ga4gh/x", None)) == "https://drs.example/ga4gh/x"

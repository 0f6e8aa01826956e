"""The circuit breaker as a pure state machine over a fake clock: closed → open after N consecutive failures,
bypassed for the cool-down, one probe when it ends, closed again on success or re-opened on failure; each state
change reported once."""

from __future__ import annotations

import pytest

from gateway.cache.breaker import Breaker, Transition


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_closed_tries_every_call_and_a_success_resets_the_count():
    b = Breaker(threshold=3, cooldown=10, clock=Clock())
    for _ in range(2):
        assert b.allow() == (True, None)
        assert b.failed() is None
    assert b.succeeded() is None and b.failures == 0
    for _ in range(2):
        b.failed()
    assert b.state == "closed" and b.allow() == (True, None)


def test_n_consecutive_failures_open_it_once_then_calls_are_bypassed_until_the_cooldown_ends():
    clock = Clock()
    b = Breaker(threshold=3, cooldown=10, clock=clock)
    changes = [b.failed() for _ in range(3)]
    assert changes == [None, None, Transition("closed", "open", 3)]
    assert b.bypassing
    assert b.failed() is None  # a late failure of a call let through before: no second "open"
    clock.now += 9.9
    assert b.allow() == (False, None)


def test_after_the_cooldown_exactly_one_probe_goes_through_and_its_success_closes_it():
    clock = Clock()
    b = Breaker(threshold=1, cooldown=5, clock=clock)
    assert b.failed() == Transition("closed", "open", 1)
    clock.now += 5
    assert b.allow() == (True, Transition("open", "half_open", 1))
    assert b.allow() == (False, None)  # the probe is in flight: everyone else is still bypassed
    assert b.allow() == (False, None)
    assert b.succeeded() == Transition("half_open", "closed", 0)
    assert not b.bypassing and b.allow() == (True, None)


def test_a_failed_probe_opens_it_for_another_full_cooldown():
    clock = Clock()
    b = Breaker(threshold=2, cooldown=5, clock=clock)
    b.failed()
    b.failed()
    clock.now += 6
    assert b.allow()[0]
    assert b.failed() == Transition("half_open", "open", 3)
    clock.now += 4.9
    assert b.allow() == (False, None)
    clock.now += 0.1
    assert b.allow() == (True, Transition("open", "half_open", 3))


def test_a_probe_that_ends_without_an_outcome_lets_the_next_call_probe():
    clock = Clock()
    b = Breaker(threshold=1, cooldown=5, clock=clock)
    b.failed()
    clock.now += 5
    assert b.allow()[0]  # the probe...
    b.released()  # ...was cancelled
    assert b.allow() == (True, None)  # the next call probes instead of the breaker bypassing for good
    assert b.succeeded() == Transition("half_open", "closed", 0)


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"cooldown": 0}, {"cooldown": -1}])
def test_nonsense_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Breaker(**kwargs)

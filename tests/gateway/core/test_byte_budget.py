"""The in-flight byte budget: what does not fit is refused at once, nothing taken; giving back frees it."""

from __future__ import annotations

import pytest

from gateway.core.byte_budget import ByteBudget, OverBudget, shared_budget


def test_what_fits_is_taken_and_what_does_not_is_refused_untaken():
    budget = ByteBudget(100)
    budget.take(60)
    budget.take(40)
    with pytest.raises(OverBudget) as err:
        budget.take(1)
    assert (err.value.wanted, err.value.held, err.value.limit) == (1, 100, 100)
    assert budget.held == 100
    budget.give(40)
    budget.take(30)
    assert budget.held == 90


def test_giving_back_never_goes_below_zero():
    budget = ByteBudget(10)
    budget.give(5)
    assert budget.held == 0


def test_one_shared_budget_per_limit():
    assert shared_budget(12_345) is shared_budget(12_345)
    assert shared_budget(12_345) is not shared_budget(12_346)

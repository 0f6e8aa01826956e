"""The tier policy and the suppression engine (gateway.access.tiers): configured tiers, the primary rule, and
complementary hiding until no hidden cell is derivable. The engine's users are tested in search/test_tiering.py (merged
counts, with an adversary) and discovery/test_study_tiering.py (study counts)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.access.tiers import Tier, TierPolicy, derivable, suppress
from gateway.settings.aggregate import TierSettings


def test_the_policy_is_what_aggregate_tier_configures():
    policy = TierPolicy.from_settings(TierSettings(level="private", limit=7, per_member={"a": "libre"}))
    assert policy == TierPolicy(Tier.PRIVATE, 7, {"a": Tier.LIBRE})
    assert policy.tier_for("a") is Tier.LIBRE and policy.tier_for("b") is Tier.PRIVATE
    assert TierPolicy.from_settings(TierSettings()) == TierPolicy(Tier.REGULAR, 50, {})
    with pytest.raises(ValidationError):
        TierSettings(level="secret")
    with pytest.raises(ValidationError):
        TierSettings(limit=-1)


def test_the_primary_rule_hides_a_protected_part_strictly_between_0_and_the_limit():
    policy = TierPolicy(Tier.REGULAR, 50)
    assert [policy.hides(n) for n in (0, 1, 49, 50, 51)] == [False, True, True, False, False]
    with pytest.raises(ValueError, match="non-negative integer"):
        TierPolicy(Tier.REGULAR, -1)


def test_derivable_finds_single_unknowns_of_any_combination():
    eqs = [{"T": 1, "a": -1, "b": -1}, {"T": 1, "c": -1, "d": -1}]
    assert derivable(["a"], eqs) == ["a"]
    assert derivable(["a", "b"], eqs) == []
    assert derivable(["T", "a"], eqs) == ["T", "a"]  # via c + d
    assert derivable(["T", "a", "c"], eqs) == []
    assert derivable(["a", "c"], eqs) == ["a", "c"]


def test_suppress_prefers_children_and_falls_back_to_the_reluctant_parent():
    eqs = [{"T": 1, "a": -1, "b": -1}]
    assert suppress({"T": 60, "a": 3, "b": 57}, 50, eqs, reluctant={"T"}) == {"a", "b"}
    # b is public: the only way to protect a is hiding T
    assert suppress({"T": 60, "a": 3, "b": 0}, 50, eqs, public={"b"}, reluctant={"T"}) == {"a", "T"}
    # nothing hideable left: a stays hidden and the loop ends
    assert suppress({"T": 60, "a": 3, "b": 0}, 50, eqs, public={"b", "T"}) == {"a"}


def test_suppress_forced_cells_are_hidden_even_when_public():
    eqs = [{"T": 1, "a": -1, "b": -1}]
    hidden = suppress({"T": 0, "a": 0, "b": 0}, 50, eqs, public={"a", "b"}, reluctant={"T"}, forced={"a"})
    assert hidden == {"a", "T"}

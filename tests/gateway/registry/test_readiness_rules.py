"""The status routes' rules, pure: members summary, /_status's word, readiness."""

from __future__ import annotations

from gateway.registry.readiness import MembersSummary, overall, summarise, unready_because


def test_a_summary_counts_active_members_by_state():
    summary = summarise(["c", "a", "b", "d"], {"a": "healthy", "b": "unhealthy", "d": "unhealthy", "z": "unhealthy"})
    assert summary == MembersSummary(active=4, healthy=1, unhealthy=2, unknown=1, down=("b", "d"))
    assert summary.to_doc() == {"active": 4, "healthy": 1, "unhealthy": 2, "unknown": 1, "down": ["b", "d"],
                                "misconfigured": [], "offers": {}}
    assert summarise([], {}) == MembersSummary(0, 0, 0, 0, ())


def test_status_is_degraded_by_any_failing_dependency_or_a_member_down():
    fine = summarise(["a"], {"a": "healthy"})
    assert overall(store=True, cache=True, registry=True, members=fine) == "ok"
    assert overall(store=True, cache=True, registry=True, members=None) == "ok"
    assert overall(store=True, cache=True, registry=True, members=summarise(["a"], {})) == "ok"  # unknown is fine
    assert overall(store=True, cache=True, registry=True, members=summarise(["a"], {"a": "unhealthy"})) == "degraded"
    for failing in ("store", "cache", "registry"):
        checks = {"store": True, "cache": True, "registry": True, failing: False}
        assert overall(**checks, members=fine) == "degraded"


def test_readiness_needs_the_store_and_a_loaded_registry_only():
    assert unready_because(store=True, registry_loaded=True) == []
    assert unready_because(store=False, registry_loaded=True) == ["the store does not answer"]
    assert unready_because(store=True, registry_loaded=False) == ["the registry was never loaded"]
    assert len(unready_because(store=False, registry_loaded=False)) == 2

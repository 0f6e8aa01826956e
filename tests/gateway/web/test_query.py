"""Query-parameter parsing (pure): booleans in any case, integers with bounds, 400s naming the parameter."""

from __future__ import annotations

import pytest

from gateway.core.errors import ApiError
from gateway.web.query import query_bool, query_int


@pytest.mark.parametrize(("raw", "want"), [("true", True), ("True", True), ("1", True), ("YES", True),
                                           ("false", False), ("False", False), ("0", False), ("", False)])
def test_query_bool_accepts_the_usual_spellings(raw, want):
    assert query_bool({"expand": raw}, "expand") is want


def test_query_bool_default_and_rejection():
    assert query_bool({}, "data", True) is True
    with pytest.raises(ApiError) as exc:
        query_bool({"data": "maybe"}, "data")
    assert exc.value.status == 400 and "data" in exc.value.message


def test_query_int_bounds_and_errors():
    assert query_int({}, "limit", 10) == 10
    assert query_int({"limit": " 7 "}, "limit", minimum=0) == 7
    assert query_int({"page": "-3"}, "page") == -3
    for raw in ("x", "1.5", "-1", ""):
        with pytest.raises(ApiError) as exc:
            query_int({"limit": raw}, "limit", minimum=0)
        assert exc.value.status == 400 and "limit" in exc.value.message


def test_query_int_refuses_values_json_cannot_carry():
    with pytest.raises(ApiError) as exc:
        query_int({"page": "99999999999999999999"}, "page")
    assert exc.value.status == 400
    assert query_int({"page": str(2**63 - 1)}, "page") == 2**63 - 1
    with pytest.raises(ApiError, match="≤ 5"):
        query_int({"n": "6"}, "n", maximum=5)

"""The key range of a store scan page (gateway.store.base.scan_bounds): the one rule both SQL backends render.
The store contract (test_store_contract.py) checks the pages themselves on every backend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.store.base import ScanBounds, scan_bounds

TOP = chr(0x10FFFF)


def within(bounds: ScanBounds, key: str) -> bool:
    """What a backend's condition selects, evaluated in Python (code point order, as UTF-8 byte order is)."""
    if key < bounds.low or (bounds.low_open and key == bounds.low):
        return False
    if bounds.high is not None:
        return key < bounds.high
    return bounds.head is None or key.startswith(bounds.head)


def test_no_prefix_is_everything_after_the_cursor() -> None:
    assert scan_bounds("", "") == ScanBounds("", True, None, None)
    assert scan_bounds("", "k") == ScanBounds("k", True, None, None)


def test_a_cursor_before_the_prefix_starts_at_the_prefix() -> None:
    assert scan_bounds("dg.", "a") == ScanBounds("dg.", False, "dg/", None)
    assert scan_bounds("dg.", "dg.5") == ScanBounds("dg.5", True, "dg/", None)


def test_a_prefix_of_only_the_top_code_point_has_no_upper_string() -> None:
    assert scan_bounds(TOP * 2, "") == ScanBounds(TOP * 2, False, None, TOP * 2)
    assert scan_bounds("a" + TOP, "") == ScanBounds("a" + TOP, False, "b", None)


def test_the_upper_bound_skips_the_surrogates() -> None:
    assert scan_bounds(chr(0xD7FF), "").high == chr(0xE000)


keys = st.text(alphabet=st.sampled_from(["a", "b", "\ud7ff", "\ue000", TOP]), max_size=4)


@given(prefix=keys, after=keys, key=keys)
def test_bounds_select_exactly_the_keys_with_the_prefix_after_the_cursor(prefix: str, after: str, key: str) -> None:
    assert within(scan_bounds(prefix, after), key) == (key.startswith(prefix) and key > after)

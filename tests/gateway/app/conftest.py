"""The in-process member is checked against the Gen3 adapter over HTTP, on a standalone reference commons
(:func:`adapter_support.recorded_commons`)."""

from adapter_support import commons, config

__all__ = ["commons", "config"]  # the fixtures of these tests

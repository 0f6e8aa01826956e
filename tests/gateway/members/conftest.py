"""Adapters under test talk to real servers on 127.0.0.1: a standalone reference commons
(:func:`adapter_support.recorded_commons`) and the fault servers of ``faults.py``."""

from adapter_support import commons, config

__all__ = ["commons", "config"]  # the fixtures of these tests

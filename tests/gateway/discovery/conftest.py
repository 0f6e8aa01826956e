"""The snapshots most discovery tests serve from (:mod:`discovery_studies`)."""

from __future__ import annotations

import pytest
from discovery_studies import snapshot_set

from gateway.discovery.snapshots import SnapshotSet


@pytest.fixture
def snaps() -> SnapshotSet:
    """Members configured as zeta, alpha, empty (not alphabetical), all harvested at t=1000."""
    return snapshot_set()

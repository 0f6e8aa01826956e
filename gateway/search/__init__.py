"""Federated study discovery: aggregate metadata, tiered counts and cohort export.

- ``counts``: a member's cohort-search answer normalised to counts split into all/accessible, the ``sources``
  status vocabulary, and the merge that sums totals and facet buckets across the members that answered.
- ``tiering``: private/regular/libre tiers (global and per member) applied to merged counts on every count path,
  with complementary suppression so no hidden count follows from visible ones; rows only for accessible data.
"""

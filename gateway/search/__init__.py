"""Federated cohort search (``POST /search/v1/cohort``): one question to every active member, merged and tiered.

- ``question``: the syntax check of a cohort question (Guppy filter, facet and field names) before anyone is asked.
- ``cohort``: the service: one shared deadline, each member's answer as a status, and paged accessible rows;
  ``breaker`` (per-member circuit breaking) and ``cursors`` (the opaque rows cursor) beside it.
- ``counts``: a member's answer normalised to counts split into all/accessible, the ``sources`` status vocabulary,
  and the merge that sums totals and facet buckets across the members that answered.
- ``tiering``: private/regular/libre tiers (global and per member) applied to merged counts, with complementary
  suppression so no hidden count follows from visible ones; rows only for accessible data.
- ``mapping``: per-member field renames and value maps, and the translation of questions and answers through them.

May import: access, members, registry (through the directory it is given), settings, wire, core. Export builds on it.
"""

"""Federated study discovery: Gen3 Aggregate MDS (``/mds/aggregate``) over every member's harvested studies.

- ``harvest``: the background harvest of members' discovery records into per-member snapshots in the shared store
  (one replica per member and interval), and the view every replica serves from.
- ``mapping``: each member's records mapped into the common study schema (``aggregate.mappings.members``).
- ``snapshots``: one member's studies and harvest state, and the immutable set of all of them (pure).
- ``documents``, ``study_search``, ``mds_query``: how studies are shown, searched and queried (pure).
- ``study_tiering``: which study counts a caller may see under each member's tier (pure).

May import: access, members, registry, store, settings, core. Independent of search, export and DRS.
"""

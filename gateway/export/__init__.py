"""Cohort export: the accessible rows of a federated cohort search as a PFB file or a ``gen3 drs-pull`` manifest,
streamed or as a background job (the one feature allowed to use another: it exports what :mod:`gateway.search`
finds).

- ``plan``: what one export holds, and the producer of its bytes (shared by the stream and the jobs).
- ``entities``: Guppy rows as PFB entities or manifest entries (pure).
- ``dictionary/``, ``dictionary_choice``, ``member_dictionaries``: the data dictionary a PFB is described with,
  which one an export uses and why, and fetching members' own.
- ``formats/``: the PFB writer and the manifest encoder (pure, constant memory).
- ``job``, ``runner``, ``storage``: export jobs (the record and its transitions, running them on a replica, where
  their files live).
"""

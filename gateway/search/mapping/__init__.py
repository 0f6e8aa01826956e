"""Cohort-search mappings: a member whose index names or codes fields differently, seen in the gateway's names.

- ``model``: the configured renames and value maps, compiled and checked (``aggregate.mappings.cohort``);
- ``translate``: a question into a member's names and its answer back, exactly or not at all (pure);
- ``member``: a member's search wrapped in its mapping.
"""

"""The federated GA4GH DRS feature: one DRS 1.5 endpoint for every object in every member.

- ``service``: the operations (objects, access, bulk) through the one resolution pipeline and the members'
  adapters, under one deadline, with the Passport gate's decisions.
- ``federate``: a member's record as the gateway's DRS object (pure).
- ``sanitize``: a member's own DRS object made spec-clean and re-homed on the gateway (pure).
- ``drshub``: DRSHub's ``/api/v4/drs/resolve`` answer fields (pure).

The DRS wire format itself (models, output profiles, indexd → DRS) is in :mod:`gateway.wire`, where the members and
the reference commons reach it too; the routes are in :mod:`gateway.web.routes` (``drs``, ``fence``, ``drshub``).
"""

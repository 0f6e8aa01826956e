"""A caller's access across members, shared by search, discovery and export (above the Passport package, below the
features).

- ``caller``: who is asking (:class:`~gateway.access.caller.SearchCaller`): what each member is sent on the caller's
  behalf (a forwarded token, a gateway search token, a Passport) and what the caller may read there.
- ``readable``: the resource paths a caller may read at one member, from Passport grants or the member's
  ``/user/user`` authz map (cached by token hash).
- ``open_readable``: what anyone may read at a member (Arborist's anonymous mapping, cached).
- ``tiers``: the tier policy (``private`` / ``regular`` / ``libre``, limit) and the suppression engine that hides
  small counts and every count they could be derived from (pure).
"""

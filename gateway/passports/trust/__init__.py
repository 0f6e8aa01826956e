"""Who is trusted and where their keys come from: the frozen trust configuration (``issuers``, rules 13–16, pure) and
the key-fetching edge (``keys``: the only network I/O of Passport validation)."""

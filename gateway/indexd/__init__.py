"""The federated indexd read surface (``GET /index/index`` listing and queries, ``/index/_stats``,
``/index/_version``) over every member that offers an index listing: the request's check (:mod:`.request`), the
opaque cursor (:mod:`.cursor`), the k-way merge of the members' did-ordered pages (:mod:`.merge`) and the fan-out
under one deadline (:mod:`.service`)."""

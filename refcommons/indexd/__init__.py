"""The reference commons' imitation of indexd: the record with every field indexd serves and its write bodies
(``records``), and the store of seeded records, every write persisted (``store``)."""

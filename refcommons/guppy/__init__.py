"""The reference commons' imitation of Guppy: the indices built from the dataset as Gen3's ETL would (``index``),
Guppy's JSON filter language over plain rows (``filter``, on :mod:`gateway.wire.guppy`), the GraphQL schema and
resolvers (``schema``), running a query with tiered access (``service``) and who may read what (``access``)."""

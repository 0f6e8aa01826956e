"""The export file formats, pure and in constant memory: ``pfb`` (Avro, pypfb-compatible) and ``manifest``
(``gen3 drs-pull``'s JSON)."""

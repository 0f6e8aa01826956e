"""gateway.export.formats."""

"""gateway.export."""

"""gateway.wire."""

"""gateway.access."""

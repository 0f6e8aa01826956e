"""gateway.discovery.mapping."""

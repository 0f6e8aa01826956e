"""gateway.settings."""

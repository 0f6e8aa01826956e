"""gateway.discovery."""

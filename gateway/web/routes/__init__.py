"""gateway.web.routes."""

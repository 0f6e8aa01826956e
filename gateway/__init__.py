"""The gateway: one federation surface over many Gen3-style data commons."""

__version__ = "0.1.0"

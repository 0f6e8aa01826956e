"""Identifier resolution: parse what users send (``identifiers``), pick the member that owns it, and
fetch the object from that member."""

"""The reference commons' imitation of Gen3's metadata service: discovery and file records built from the dataset,
and their query semantics (``catalog``, pure)."""

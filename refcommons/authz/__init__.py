"""The reference commons' imitation of Arborist: Gen3-style policy evaluation over a ``user.yaml`` document
(``policy``, pure) and the commons' policy (``default_policy``: a ``user.yaml`` file, else one derived from the
dataset)."""

"""The data dictionary a PFB export is described with: the model (:mod:`~gateway.export.dictionary.model`, pure,
checked when built) and the reader of Gen3 dictionaries (:mod:`~gateway.export.dictionary.gen3`).

No dictionary is written in code here: the default one is the reference commons' (its package data, handed to the
export by the app), and a member may offer its own (:mod:`gateway.export.member_dictionaries`).
"""

from gateway.export.dictionary.gen3 import Unsupported, from_gen3_dictionary
from gateway.export.dictionary.model import Dictionary, Link, Node, Property, enum_type_name

__all__ = ["Dictionary", "Link", "Node", "Property", "Unsupported", "enum_type_name", "from_gen3_dictionary"]

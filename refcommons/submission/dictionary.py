"""The reference commons' data dictionary, read from DATA: ``dictionary.yaml`` beside this module (package data).

The file holds Gen3 node schemas in the resolved form sheepdog serves whole at
``/api/v0/submission/_dictionary/_all``: node schemas keyed by node id (``program``, ``project``, ``subject``,
``sample``, ``file``: the entities of :mod:`refcommons.model`) beside the non-node entries ``_settings`` and
``_definitions``. It is the one copy of the dictionary in the tree: the commons serves it
(:mod:`refcommons.routes.submission`), the gateway's in-process member hands it over, and the gateway's app makes
it the default dictionary of PFB exports.

The file is read and checked once per process (:func:`document` raises ``ValueError`` if it is not a mapping of
node schemas whose ``id`` is their key); callers get their own deep copy.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

FILE = "dictionary.yaml"


@functools.cache
def _loaded() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(FILE).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{FILE}: not a mapping of node schemas")
    for key, schema in doc.items():
        if not isinstance(key, str) or not isinstance(schema, dict):
            raise ValueError(f"{FILE}: entry {key!r} is not a named mapping")
        if not key.startswith("_") and schema.get("id") != key:
            raise ValueError(f"{FILE}: node schema {key!r} has id {schema.get('id')!r}")
    return doc


def document() -> dict[str, Any]:
    """The whole dictionary (sheepdog's ``_all``): every entry, node schemas and ``_`` entries alike (a copy)."""
    return copy.deepcopy(_loaded())


def node_ids() -> tuple[str, ...]:
    """The node schemas' ids, in the file's order (what sheepdog's ``_dictionary`` links to, before ``_all``)."""
    return tuple(key for key in _loaded() if not key.startswith("_"))


def entry(name: str) -> Any:
    """One entry (a node schema, or ``_settings`` / ``_definitions``), a copy; ``KeyError`` if there is none."""
    return copy.deepcopy(_loaded()[name])

"""Data dictionaries for export tests in any folder: the reference commons' as the gateway reads it, a member's own
(different) one, and a hostile one.

The reference dictionary is DATA in the reference commons (``refcommons/submission/dictionary.yaml``); the gateway's
app hands it to the export as its default. Tests that need that default read it the same way here.
"""

from __future__ import annotations

from typing import Any

from gateway.export.dictionary import Dictionary, from_gen3_dictionary
from refcommons.submission.dictionary import document


def reference_dictionary() -> Dictionary:
    """The reference commons' dictionary (``program → project → subject → sample → file``), strictly read."""
    return from_gen3_dictionary(document(), strict=True)


def custom_document() -> dict[str, Any]:
    """A member's own dictionary (sheepdog's ``_all`` form): the reference one with ``subject`` changed (``bmi``
    gone, ``favourite_colour`` and ``vital_status`` new, ``sex`` with one more symbol) and a ``visit`` node an export
    never writes."""
    doc = document()
    subject = doc["subject"]
    subject["description"] = "A participant, as this member describes one."
    props = subject["properties"]
    del props["bmi"]
    props["sex"]["enum"] = [*props["sex"]["enum"], "intersex"]
    props["favourite_colour"] = {"enum": ["red", "green", "blue grey"], "description": "Self-reported."}
    props["vital_status"] = {"type": ["string", "null"], "description": "Alive or dead."}
    doc["visit"] = {"id": "visit", "title": "Visit", "category": "clinical", "type": "object", "required": [],
                    "links": [{"name": "subjects", "target_type": "subject", "multiplicity": "many_to_one"}],
                    "properties": {"visit_number": {"type": "integer"}, "subjects": {"type": "array"}}}
    return doc


def cyclic_document() -> dict[str, Any]:
    """The reference dictionary with a link from ``program`` down to ``file``: a link cycle."""
    doc = document()
    doc["program"]["links"] = [{"name": "files", "target_type": "file", "multiplicity": "many_to_one"}]
    return doc


__all__ = ["custom_document", "cyclic_document", "reference_dictionary"]

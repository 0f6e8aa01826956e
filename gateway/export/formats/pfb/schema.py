"""The Avro side of a PFB file (pure): the ``Entity`` schema for a dictionary, laid out as pypfb's writer builds it,
and the escaping of enum symbols.

* ``Entity {id: [null, string], name: string, object: [Metadata, <one record per node>...], relations:
  [Relation {dst_id, dst_name}]}``, the container records (``Metadata``, ``Node``, ``Link`` with the
  ``Multiplicity`` enum, ``Property``) exactly as pypfb's ``make_avro_schema`` spells them, and one record per
  dictionary node whose fields follow pypfb's Gen3 importer (see :mod:`gateway.export.formats.pfb`).
* Enum symbols: :func:`encode_symbol` escapes each character outside ``[A-Za-z0-9]``, and a leading digit, as
  ``_<lowercase hex code point>_``, as pypfb does in the schema's symbols and defaults and in the records' values;
  :func:`decode_symbol` is what pypfb's reader does back.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.export.dictionary import Dictionary, Node, Property, enum_type_name

_AVRO_SCALARS = {"string": "string", "integer": "long", "number": "double", "boolean": "boolean"}
_ESCAPED = re.compile(r"^[0-9]|[^A-Za-z0-9]")
_ESCAPE = re.compile(r"_([a-f0-9]{2,})_")


def encode_symbol(symbol: str) -> str:
    """The Avro-safe spelling pypfb gives an enum symbol: each character outside ``[A-Za-z0-9]``, and a leading
    digit, becomes ``_<lowercase hex code point>_``."""
    return _ESCAPED.sub(lambda m: f"_{ord(m.group()):x}_", symbol)


def decode_symbol(symbol: str) -> str:
    """The inverse of :func:`encode_symbol` (what pypfb's reader does)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), symbol)


def _enum_schema(name: str, prop: Property) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": [encode_symbol(s) for s in prop.symbols]}


def _field(node: Node, prop: Property) -> dict[str, Any]:
    base: Any
    if prop.type == "enum":
        base = _enum_schema(enum_type_name(node.name, prop), prop)
    elif prop.type == "array":
        items: Any = (
            _enum_schema(encode_symbol(enum_type_name(node.name, prop)), prop)
            if prop.items == "enum" else _AVRO_SCALARS[prop.items]  # type: ignore[index]
        )
        base = {"type": "array", "items": items}
    else:
        base = _AVRO_SCALARS[prop.type]
    out: dict[str, Any] = {"name": prop.name, "type": ["null", base] if prop.default is None else [base, "null"]}
    if prop.description is not None:
        out["doc"] = prop.description
    if prop.default is None:
        out["default"] = None
    else:
        out["default"] = encode_symbol(prop.default) if prop.type == "enum" else prop.default  # type: ignore[arg-type]
    return out


def node_schemas(dictionary: Dictionary) -> list[dict[str, Any]]:
    """One Avro record per node, with symbols already escaped (the branches after ``Metadata`` in ``object``)."""
    return [
        {"type": "record", "name": node.name, "fields": [_field(node, p) for p in node.properties]}
        for node in dictionary.nodes
    ]


def _record(name: str, fields: list[tuple[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}


def avro_schema(dictionary: Dictionary) -> dict[str, Any]:
    """The PFB ``Entity`` schema for ``dictionary``, as pypfb's writer builds it."""
    string_map = {"type": "map", "values": "string"}
    link = _record("Link", [
        ("multiplicity", {"type": "enum", "name": "Multiplicity",
                          "symbols": ["ONE_TO_ONE", "ONE_TO_MANY", "MANY_TO_ONE", "MANY_TO_MANY"]}),
        ("dst", "string"),
        ("name", "string"),
    ])
    prop = _record("Property", [("name", "string"), ("ontology_reference", "string"), ("values", string_map)])
    node = _record("Node", [
        ("name", "string"),
        ("ontology_reference", "string"),
        ("values", string_map),
        ("links", {"type": "array", "items": link}),
        ("properties", {"type": "array", "items": prop}),
    ])
    metadata = _record("Metadata", [("nodes", {"type": "array", "items": node}), ("misc", string_map)])
    relation = _record("Relation", [("dst_id", "string"), ("dst_name", "string")])
    return {
        "type": "record",
        "name": "Entity",
        "fields": [
            {"name": "id", "type": ["null", "string"], "default": None},
            {"name": "name", "type": "string"},
            {"name": "object", "type": [metadata, *node_schemas(dictionary)]},
            {"name": "relations", "type": {"type": "array", "items": relation}, "default": []},
        ],
    }

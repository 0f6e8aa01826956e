"""The records of a PFB file (pure): the ``Metadata`` record, and export entities checked against the dictionary
and against the parent-before-child order, turned into Avro ``Entity`` records.

:class:`Encoder` checks each :class:`Entity` (its node and properties are the dictionary's, its enum values among
the symbols, each relation through a link the dictionary declares) and, with ``check_order``, that its parents were
written before it, in constant memory: exactly per node type, and per id against a Bloom filter
(:class:`_SeenFilter`), as :mod:`gateway.export.formats.pfb` describes. Failures raise :class:`PFBError`
(:class:`OrderError`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.export.dictionary import Dictionary
from gateway.export.formats.pfb.schema import encode_symbol

ORDER_FILTER_BITS = 24


class PFBError(ValueError):
    """An entity the dictionary does not allow (unknown node or property, bad enum value, undeclared link)."""


class OrderError(PFBError):
    """An entity refers to a parent that was not written before it."""


@dataclass(frozen=True, slots=True)
class Entity:
    """One record of the export: a ``node`` type, its ``id`` (unique within the file), its ``properties`` (names
    of the node's properties; ``None`` is written as null, an absent property as its default, null unless the
    dictionary gives one) and its ``relations`` to parents, ``(parent node, parent id)`` pairs, each through a
    link the dictionary declares."""

    node: str
    id: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    relations: Sequence[tuple[str, str]] = ()


def _misc(misc: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in misc.items():
        if not isinstance(key, str):
            raise PFBError(f"misc key {key!r} is not a string")
        out[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                                     separators=(",", ":"))
    return out


def metadata_object(dictionary: Dictionary, misc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Metadata`` record: the dictionary's nodes, links and properties, and ``misc`` (string values kept,
    others JSON-encoded: PFB's ``misc`` is a ``map<string>``)."""
    nodes = []
    for node in dictionary.nodes:
        properties = []
        for p in node.properties:
            term = dict(p.term)
            properties.append({
                "name": p.name,
                "ontology_reference": term.pop("term", ""),
                "values": term,
            })
        nodes.append({
            "name": node.name,
            "ontology_reference": "",
            "values": dict(node.term),
            "links": [{"multiplicity": link.multiplicity.upper(), "dst": link.target, "name": link.name}
                      for link in node.links],
            "properties": properties,
        })
    return {"nodes": nodes, "misc": _misc(misc)}


class _SeenFilter:
    """A Bloom filter of ``(node, id)`` keys: two probes (the low and high halves of Python's 64-bit ``hash``)
    into ``2**bits`` bits. No false negatives; false positives as described in the module docstring."""

    __slots__ = ("_bits", "_mask")

    def __init__(self, bits: int) -> None:
        if not 3 <= bits <= 32:
            raise ValueError("order filter bits must be within 3..32")
        self._mask = (1 << bits) - 1
        self._bits = bytearray(1 << (bits - 3))

    def add(self, key: tuple[str, str]) -> None:
        h = hash(key)
        i, j = h & self._mask, (h >> 32) & self._mask
        self._bits[i >> 3] |= 1 << (i & 7)
        self._bits[j >> 3] |= 1 << (j & 7)

    def __contains__(self, key: tuple[str, str]) -> bool:
        h = hash(key)
        i, j = h & self._mask, (h >> 32) & self._mask
        return bool(self._bits[i >> 3] & (1 << (i & 7))) and bool(self._bits[j >> 3] & (1 << (j & 7)))


@dataclass(slots=True)
class _NodePlan:
    name: str
    fields: frozenset[str]
    enums: dict[str, dict[str, str]]
    """property → {symbol: escaped symbol}"""
    enum_arrays: frozenset[str]
    parents: frozenset[str]
    is_parent: bool


class Encoder:
    """Turns :class:`Entity` s into PFB ``Entity`` records, checking them against the dictionary and the order."""

    def __init__(self, dictionary: Dictionary, check_order: bool, order_filter_bits: int) -> None:
        targets = {link.target for node in dictionary.nodes for link in node.links}
        self.plans = {
            node.name: _NodePlan(
                name=node.name,
                fields=frozenset(p.name for p in node.properties),
                enums={p.name: {s: encode_symbol(s) for s in p.symbols} for p in node.properties if p.is_enum},
                enum_arrays=frozenset(p.name for p in node.properties if p.type == "array" and p.is_enum),
                parents=node.parents,
                is_parent=node.name in targets,
            )
            for node in dictionary.nodes
        }
        self.seen_nodes: set[str] = set()
        self.seen = _SeenFilter(order_filter_bits) if check_order else None

    def record(self, entity: Entity) -> dict[str, Any]:
        node, entity_id = entity.node, entity.id
        plan = self.plans.get(node)
        if plan is None:
            raise PFBError(f"entity {entity_id!r}: node {node!r} is not in the dictionary")
        if not isinstance(entity_id, str) or not entity_id:
            raise PFBError(f"{node} entity: id {entity_id!r} is not a non-empty string")
        props = entity.properties
        if not isinstance(props, dict):
            props = dict(props)
        if not plan.fields.issuperset(props):
            raise PFBError(f"{node} {entity_id}: unknown properties {sorted(set(props) - plan.fields)}")
        obj = props  # copied only if a value needs escaping
        for name, table in plan.enums.items():
            value = props.get(name)
            if value is None:
                continue
            escaped: str | list[str]
            try:
                if name in plan.enum_arrays:
                    if not isinstance(value, list | tuple):
                        raise TypeError
                    escaped = [table[v] for v in value]
                else:
                    escaped = table[value]
            except (KeyError, TypeError):
                raise PFBError(f"{node} {entity_id}: {name}={value!r} is not among the enum's symbols") from None
            if escaped != value:
                if obj is props:
                    obj = dict(props)
                obj[name] = escaped
        relations = []
        for parent, parent_id in entity.relations:
            if parent not in plan.parents:
                raise PFBError(f"{node} {entity_id}: the dictionary has no link from {node} to {parent!r}")
            if self.seen is not None and (parent not in self.seen_nodes or (parent, parent_id) not in self.seen):
                raise OrderError(f"{node} {entity_id}: its parent {parent} {parent_id!r} was not written before it")
            relations.append({"dst_id": parent_id, "dst_name": parent})
        if self.seen is not None:
            self.seen_nodes.add(node)
            if plan.is_parent:
                self.seen.add((node, entity_id))
        return {"id": entity_id, "name": node, "object": (node, obj), "relations": relations}

"""PFB (Portable Format for Biomedical data) export, written with fastavro in constant memory (pure, no I/O of
its own).

A PFB file is one Avro object container file of ``Entity`` records, laid out as pypfb (uc-cdis/pypfb 0.6) writes
and reads it:

* **Schema.** ``Entity {id: [null, string], name: string, object: [Metadata, <one record per node>...],
  relations: [Relation {dst_id, dst_name}]}``, the container records (``Metadata``, ``Node``, ``Link`` with the
  ``Multiplicity`` enum, ``Property``) exactly as pypfb's ``make_avro_schema`` spells them, and one record per
  dictionary node whose fields follow pypfb's Gen3 importer: every field nullable, ``["null", T]`` with default
  null, or ``[T, "null"]`` with the property's default; ``integer`` → ``long``, ``number`` → ``double``; enums are
  Avro enums named ``<node>_<property>`` (arrays of enums: items named ``<node>_<property>_anon_enum``, itself
  escaped as pypfb does); descriptions become ``doc``.
* **Enum symbols.** Avro symbols are ``[A-Za-z_][A-Za-z0-9_]*``; pypfb escapes every other character, and a
  leading digit, as ``_<lowercase hex code point>_`` (``"type 2"`` → ``type_20_2``, ``"1a"`` → ``_31_a``, ``_`` →
  ``_5f_``), in the schema's symbols and defaults and in the values of records, and its reader decodes
  ``_[a-f0-9]{2,}_`` back. The file carries no mapping: the escape is its own inverse. :func:`encode_symbol` does
  the same; the dictionary rejects symbols it could not round-trip.
* **Records.** The ``Metadata`` record comes first (``id`` null, ``name`` ``"Metadata"``): per node its
  ``links`` (multiplicity upper-cased, ``dst`` the parent node, ``name`` the link name), ``properties`` (name,
  ``ontology_reference`` = the ``termDef.term``, ``values`` = the other ``termDef`` keys) and ``values`` (the
  node's ``termDef``), and ``misc``, a string map (here: the caller's, e.g. per-member export status). Then the
  entities, each parent before the children whose ``relations`` point at it (Terra and ``pfb to tsv`` stream the
  file and resolve references as they go).

**Parent-before-child checking in constant memory.** Remembering every id written would grow with the export;
instead (``check_order=True``) each relation is checked twice:

1. exactly, per node type: its ``dst_name`` must be a parent the dictionary links the child's node to, and at
   least one entity of that node type must already have been written;
2. per id, against a Bloom filter of the ``(node, id)`` s written so far of node types that are some node's
   parent (2 probes into 2**24 bits: 2 MiB, fixed). A reference the filter has not seen is certainly out of order
   and raises :class:`OrderError`; no correct file is ever refused. A wrong reference can slip through when its
   probes collide, with probability about ``(1 - exp(-2n / 2**24))**2`` for ``n`` parents written so far:
   1.4e-4 at 100,000 parents, 1.3 % at a million.

The error comes mid-stream, after earlier blocks went out: a streaming caller must abort the transfer (not end
it cleanly) so that the client sees a truncated download rather than a short valid file.

**Streaming.** Both entry points feed fastavro's ``Writer`` one record at a time from a generator over the
caller's entities, so at most one Avro block (``block_size`` uncompressed bytes) and one entity are held at a time.
:func:`write_pfb` writes to the caller's file object. :func:`pfb_chunks` gives fastavro a write-only sink that
only collects what it writes; once ``chunk_size`` bytes have gathered (after a block was flushed into it), they
are yielded and dropped, the header travelling with the first chunk. The caller (an HTTP handler) pulls chunks one
by one, so the file is never built in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import fastavro
from fastavro.write import Writer

from gateway.export.dictionary import Dictionary, Node, Property, enum_type_name

DEFAULT_BLOCK_SIZE = 64 * 1024
ORDER_FILTER_BITS = 24

_AVRO_SCALARS = {"string": "string", "integer": "long", "number": "double", "boolean": "boolean"}
_ESCAPED = re.compile(r"^[0-9]|[^A-Za-z0-9]")
_ESCAPE = re.compile(r"_([a-f0-9]{2,})_")


class PFBError(ValueError):
    """An entity the dictionary does not allow (unknown node or property, bad enum value, undeclared link)."""


class OrderError(PFBError):
    """An entity refers to a parent that was not written before it."""


def encode_symbol(symbol: str) -> str:
    """The Avro-safe spelling pypfb gives an enum symbol: each character outside ``[A-Za-z0-9]``, and a leading
    digit, becomes ``_<lowercase hex code point>_``."""
    return _ESCAPED.sub(lambda m: f"_{ord(m.group()):x}_", symbol)


def decode_symbol(symbol: str) -> str:
    """The inverse of :func:`encode_symbol` (what pypfb's reader does)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), symbol)


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


# ---------------------------------------------------------------------------------------------------------------
# schema


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


# ---------------------------------------------------------------------------------------------------------------
# records


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


class _Encoder:
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


class _Export:
    """Schema, Metadata and the record stream of one export (validated when built, before any byte is written)."""

    def __init__(
        self, dictionary: Dictionary, entities: Iterable[Entity], misc: Mapping[str, Any], *, check_order: bool,
        order_filter_bits: int,
    ) -> None:
        self.schema = fastavro.parse_schema(avro_schema(dictionary))
        self.metadata = metadata_object(dictionary, misc)
        self.encoder = _Encoder(dictionary, check_order, order_filter_bits)
        self.entities = entities
        self.count = 0

    def records(self) -> Iterator[dict[str, Any]]:
        yield {"id": None, "name": "Metadata", "object": ("Metadata", self.metadata), "relations": []}
        record = self.encoder.record
        for entity in self.entities:
            yield record(entity)
            self.count += 1  # counted once fastavro has taken the record

    @staticmethod
    def write(writer: Writer, record: dict[str, Any]) -> None:
        """``writer.write(record)``, a value fastavro refuses reported as a :class:`PFBError` naming the entity."""
        try:
            writer.write(record)
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise PFBError(f"{record['name']} {record['id']}: {exc}") from exc


class _WriteOnly:
    """The caller's file object as fastavro sees it: never seekable, so that fastavro does not take a file at a
    non-zero position for an Avro file to append to."""

    __slots__ = ("_fo", "write")

    def __init__(self, fo: IO[bytes]) -> None:
        self._fo = fo
        self.write = fo.write

    def flush(self) -> None:
        flush = getattr(self._fo, "flush", None)
        if flush is not None:
            flush()

    def seekable(self) -> bool:
        return False


class _ChunkSink:
    """A write-only file object that keeps what fastavro writes until :meth:`take` hands it out."""

    __slots__ = ("_parts", "size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return out


def write_pfb(
    fileobj: IO[bytes], dictionary: Dictionary, entities: Iterable[Entity], *, misc: Mapping[str, Any],
    codec: str = "null", block_size: int = DEFAULT_BLOCK_SIZE, check_order: bool = True,
    order_filter_bits: int = ORDER_FILTER_BITS,
) -> int:
    """Write a PFB file of ``entities`` (parents first) to ``fileobj``; the number of entities written.

    ``entities`` may be any iterable, typically a generator: it is consumed once, one entity at a time, and at
    most one Avro block is buffered. ``codec`` is an Avro codec (``null``, pypfb's default, or ``deflate``);
    ``block_size`` the uncompressed size at which fastavro ends a block. Raises :class:`PFBError`
    (:class:`OrderError`) on an entity the dictionary does not allow, leaving ``fileobj`` with a partial file.
    """
    export = _Export(dictionary, entities, misc, check_order=check_order, order_filter_bits=order_filter_bits)
    writer = Writer(_WriteOnly(fileobj), export.schema, codec=codec, sync_interval=block_size)
    for record in export.records():
        export.write(writer, record)
    writer.flush()
    return export.count


def pfb_chunks(
    dictionary: Dictionary, entities: Iterable[Entity], misc: Mapping[str, Any], chunk_size: int = DEFAULT_BLOCK_SIZE,
    *, codec: str = "null", check_order: bool = True, order_filter_bits: int = ORDER_FILTER_BITS,
) -> Iterator[bytes]:
    """The PFB file of ``entities`` as an iterator of byte chunks, produced as the caller pulls them: each at
    least ``chunk_size`` bytes (whole Avro blocks of about ``chunk_size`` uncompressed bytes; the first also
    carries the header) except the last.

    The dictionary, ``misc`` and ``codec`` are checked now, so a bad request fails before the first byte; entity
    errors (:class:`PFBError`) surface from ``next()`` mid-stream. The iterator holds at most ``chunk_size`` bytes
    plus one block and one entity.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    export = _Export(dictionary, entities, misc, check_order=check_order, order_filter_bits=order_filter_bits)
    sink = _ChunkSink()
    writer = Writer(sink, export.schema, codec=codec, sync_interval=chunk_size)  # the header goes into the sink
    return _chunks(export, writer, sink, chunk_size)


def _chunks(export: _Export, writer: Writer, sink: _ChunkSink, chunk_size: int) -> Iterator[bytes]:
    for record in export.records():
        export.write(writer, record)
        if sink.size >= chunk_size:
            yield sink.take()
    writer.flush()
    if sink.size:
        yield sink.take()

"""A small Gen3-style data dictionary: the nodes, properties and links a PFB export describes (pure).

A :class:`Dictionary` is a tuple of :class:`Node` s; each node has typed :class:`Property` s and :class:`Link` s to
its parent nodes (child → parent, as in Gen3: ``subject.projects`` → ``project``). Everything is a frozen dataclass,
checked when built, so that :mod:`gateway.export.formats.pfb` can turn any valid dictionary into an Avro schema that
fastavro accepts and pypfb reads back:

* node, property and link names are Avro names (``[A-Za-z_][A-Za-z0-9_]*``); node names and the enum type names
  derived from them (``<node>_<property>``, ``<node>_<property>_anon_enum``) do not clash with each other nor with
  the PFB container's own record names (``Entity``, ``Metadata``, ``Node``, ``Link``, ``Property``, ``Relation``,
  ``Multiplicity``);
* enum symbols are non-empty strings of characters U+0010..U+FFFF: pypfb escapes a character as ``_<hex>_`` and
  decodes only 2 to 4 hex digits, so control characters below U+0010 and astral characters (emoji) would come back
  garbled;
* links point at nodes of the dictionary.

Anything else raises ``ValueError``. Dictionaries are read from Gen3's JSON form by
:func:`gateway.export.dictionary.gen3.from_gen3_dictionary`; none is written in code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

PropertyType = Literal["string", "integer", "number", "boolean", "enum", "array"]
ItemType = Literal["string", "integer", "number", "boolean", "enum"]
Multiplicity = Literal["one_to_one", "one_to_many", "many_to_one", "many_to_many"]

PROPERTY_TYPES: frozenset[str] = frozenset({"string", "integer", "number", "boolean", "enum", "array"})
ITEM_TYPES: frozenset[str] = frozenset({"string", "integer", "number", "boolean", "enum"})
MULTIPLICITIES: frozenset[str] = frozenset({"one_to_one", "one_to_many", "many_to_one", "many_to_many"})
# named types of the PFB container schema (pypfb's make_avro_schema); a node may not reuse them
RESERVED_NAMES: frozenset[str] = frozenset(
    {"Entity", "Metadata", "Node", "Link", "Property", "Relation", "Multiplicity"}
)

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
"""An ``integer`` default must fit Avro's ``long``; a ``number`` default must be a finite double."""
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Scalar = str | int | float | bool


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not _AVRO_NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} is not an Avro name ([A-Za-z_][A-Za-z0-9_]*)")


def _check_symbol(owner: str, symbol: object) -> None:
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"{owner}: enum symbol {symbol!r} is not a non-empty string")
    for ch in symbol:
        if not 0x10 <= ord(ch) <= 0xFFFF:
            raise ValueError(
                f"{owner}: enum symbol {symbol!r} has character U+{ord(ch):04X}; pypfb round-trips only U+0010..U+FFFF"
            )


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _check_value(owner: str, kind: str, value: object, symbols: tuple[str, ...]) -> None:
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool) and LONG_MIN <= value <= LONG_MAX,
        "number": isinstance(value, int | float) and not isinstance(value, bool) and _finite(value),
        "boolean": isinstance(value, bool),
        "enum": value in symbols,
    }[kind]
    if not ok:
        raise ValueError(f"{owner}: default {value!r} is not a valid {kind}")


@dataclass(frozen=True, slots=True)
class Property:
    """One property of a node.

    ``type`` ``enum`` takes ``symbols``; ``array`` takes ``items`` (a scalar type or ``enum``, then with
    ``symbols``). ``default`` (never for arrays; an ``integer`` within Avro's ``long``, a finite ``number``) makes
    the Avro field ``[T, "null"]`` with that default, as pypfb does; ``None`` means no default (the field is
    ``["null", T]``, default null). ``required`` is documentation: PFB fields are all nullable, as pypfb makes
    them. ``term`` holds the ontology ``termDef`` as pairs (``("term", …)``, ``("source", …)``, ``("cde_id", …)``…)
    that go to the PFB Metadata.
    """

    name: str
    type: PropertyType
    symbols: tuple[str, ...] = ()
    items: ItemType | None = None
    required: bool = False
    description: str | None = None
    default: Scalar | None = None
    term: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _check_name("property", self.name)
        owner = f"property {self.name!r}"
        if self.type not in PROPERTY_TYPES:
            raise ValueError(f"{owner}: unknown type {self.type!r} (one of {sorted(PROPERTY_TYPES)})")
        if not isinstance(self.symbols, tuple):
            raise ValueError(f"{owner}: symbols must be a tuple")
        if self.type == "array":
            if self.items not in ITEM_TYPES:
                raise ValueError(f"{owner}: array items must be one of {sorted(ITEM_TYPES)}, not {self.items!r}")
            if self.default is not None:
                raise ValueError(f"{owner}: an array property takes no default")
        elif self.items is not None:
            raise ValueError(f"{owner}: items is only for arrays")
        if self.is_enum:
            if not self.symbols:
                raise ValueError(f"{owner}: an enum needs symbols")
            for s in self.symbols:
                _check_symbol(owner, s)
            if len(set(self.symbols)) != len(self.symbols):
                raise ValueError(f"{owner}: duplicate enum symbols")
        elif self.symbols:
            raise ValueError(f"{owner}: symbols are only for enums")
        if self.default is not None:
            _check_value(owner, self.type, self.default, self.symbols)
        for pair in self.term:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise ValueError(f"{owner}: term must be (key, value) string pairs")

    @property
    def is_enum(self) -> bool:
        """An enum, or an array of enums."""
        return self.type == "enum" or self.items == "enum"


@dataclass(frozen=True, slots=True)
class Link:
    """A link from a node to a parent node: ``name`` is the Gen3 link name (``projects``), ``target`` the parent
    node (``project``)."""

    name: str
    target: str
    multiplicity: Multiplicity = "many_to_one"
    required: bool = False
    backref: str | None = None

    def __post_init__(self) -> None:
        _check_name("link", self.name)
        _check_name("link target", self.target)
        if self.multiplicity not in MULTIPLICITIES:
            raise ValueError(f"link {self.name!r}: multiplicity {self.multiplicity!r} not in {sorted(MULTIPLICITIES)}")


@dataclass(frozen=True, slots=True)
class Node:
    """A node type (``subject``, ``file``…) with its category (``administrative``, ``clinical``, ``data_file``…),
    properties and links to parents. ``term`` is the node's ontology ``termDef`` as pairs (PFB ``Node.values``)."""

    name: str
    category: str = ""
    properties: tuple[Property, ...] = ()
    links: tuple[Link, ...] = ()
    title: str = ""
    description: str = ""
    term: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _check_name("node", self.name)
        if self.name in RESERVED_NAMES:
            raise ValueError(f"node name {self.name!r} is reserved by the PFB container schema")
        names = [p.name for p in self.properties]
        if len(set(names)) != len(names):
            raise ValueError(f"node {self.name!r}: duplicate property names")
        links = [link.name for link in self.links]
        if len(set(links)) != len(links):
            raise ValueError(f"node {self.name!r}: duplicate link names")
        clash = set(names) & set(links)
        if clash:
            raise ValueError(f"node {self.name!r}: {sorted(clash)} are both a property and a link")

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required properties."""
        return tuple(p.name for p in self.properties if p.required)

    @property
    def parents(self) -> frozenset[str]:
        """The node types this node links to."""
        return frozenset(link.target for link in self.links)

    def property(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)


def enum_type_name(node: str, prop: Property) -> str:
    """The Avro name pypfb gives the enum of ``prop`` (before its own escaping of array item names)."""
    return f"{node}_{prop.name}_anon_enum" if prop.type == "array" else f"{node}_{prop.name}"


@dataclass(frozen=True)
class Dictionary:
    """The nodes of a data dictionary, in the order the PFB schema lists them."""

    nodes: tuple[Node, ...]
    _by_name: dict[str, Node] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.nodes, tuple):
            raise ValueError("nodes must be a tuple")
        by_name: dict[str, Node] = {}
        for node in self.nodes:
            if node.name in by_name:
                raise ValueError(f"duplicate node {node.name!r}")
            by_name[node.name] = node
        named = set(RESERVED_NAMES) | set(by_name)
        for node in self.nodes:
            for link in node.links:
                if link.target not in by_name:
                    raise ValueError(f"node {node.name!r}: link {link.name!r} targets unknown node {link.target!r}")
            for prop in node.properties:
                if prop.is_enum:
                    name = enum_type_name(node.name, prop)
                    if name in named:
                        raise ValueError(f"enum type name {name!r} (node {node.name!r}) clashes with another name")
                    named.add(name)
        object.__setattr__(self, "_by_name", by_name)

    def node(self, name: str) -> Node:
        """The node called ``name`` (``KeyError`` if none)."""
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def topological_order(self) -> tuple[str, ...]:
        """Node names with every parent before its children (self-links ignored), dictionary order among equals;
        ``ValueError`` on a cycle. The order an export writes node types in."""
        done: list[str] = []
        placed: set[str] = set()
        pending = list(self.nodes)
        while pending:
            ready = [n for n in pending if all(t in placed or t == n.name for t in n.parents)]
            if not ready:
                raise ValueError(f"link cycle among {sorted(n.name for n in pending)}")
            for n in ready:
                done.append(n.name)
                placed.add(n.name)
            pending = [n for n in pending if n.name not in placed]
        return tuple(done)

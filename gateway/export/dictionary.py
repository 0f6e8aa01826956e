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

Two sources: :func:`refcommons_dictionary` (the reference commons' entities, see ``refcommons/model.py``) and
:func:`from_gen3_dictionary` (a Gen3 dictionary in its resolved JSON form, a documented subset).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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


def _check_value(owner: str, kind: str, value: object, symbols: tuple[str, ...]) -> None:
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "enum": value in symbols,
    }[kind]
    if not ok:
        raise ValueError(f"{owner}: default {value!r} is not a valid {kind}")


@dataclass(frozen=True, slots=True)
class Property:
    """One property of a node.

    ``type`` ``enum`` takes ``symbols``; ``array`` takes ``items`` (a scalar type or ``enum``, then with
    ``symbols``). ``default`` (never for arrays) makes the Avro field ``[T, "null"]`` with that default, as pypfb
    does; ``None`` means no default (the field is ``["null", T]``, default null). ``required`` is documentation:
    PFB fields are all nullable, as pypfb makes them. ``term`` holds the ontology ``termDef`` as pairs
    (``("term", …)``, ``("source", …)``, ``("cde_id", …)``…) that go to the PFB Metadata.
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


# ---------------------------------------------------------------------------------------------------------------
# the reference commons' entities (refcommons/model.py, refcommons/synth.py)

SEXES = ("female", "male", "unknown")
POPULATIONS = ("EUR", "AFR", "AMR", "EAS", "SAS")
RACES = (
    "American Indian or Alaska Native", "Asian", "Black or African American", "White", "more than one race",
    "not reported",
)
ETHNICITIES = ("Hispanic or Latino", "Not Hispanic or Latino", "not reported")
SMOKING_STATUSES = ("never", "former", "current", "unknown")
SAMPLE_TYPES = ("Blood Derived Normal", "Saliva", "Primary Tumor")
DATA_FORMATS = ("CRAM", "CRAI", "VCF", "TBI", "TSV")
CONSENTS = ("c1", "c2")


def _s(name: str, description: str, *, required: bool = False) -> Property:
    return Property(name, "string", required=required, description=description)


def refcommons_dictionary() -> Dictionary:
    """The dictionary of the reference commons' entities: ``program → project → subject → sample → file``.

    Node ids are the commons' UUIDs (for programs and projects, which have none, the caller picks stable ones).
    A ``file`` links to its ``project`` and, unless it is a project-level file (phenotype extract, data
    dictionary), to its ``sample``. Enum symbols are the values :mod:`refcommons.synth` draws (a test keeps them
    in step).
    """
    submitter = _s("submitter_id", "The commons' own identifier of the record.", required=True)
    project_id = _s("project_id", "Gen3 project id, <program>-<project code>.")
    program = Node("program", "administrative", (
        _s("name", "Program name: an open program's name or a controlled study's phs accession.", required=True),
        _s("dbgap_accession_number", "dbGaP accession of the program's study, if any."),
    ), title="Program", description="A broad framework of goals to be achieved.")
    project = Node("project", "administrative", (
        _s("code", "Project code, unique within its program.", required=True),
        _s("name", "Display name of the project.", required=True),
        project_id,
        _s("description", "What the project is."),
        Property("availability_type", "enum", ("Open", "Restricted"), required=True,
                 description="Open, or restricted to authorised users (controlled access)."),
        _s("dbgap_accession_number", "phs accession with version, e.g. phs001234.v1.p1; null for open projects."),
        Property("consent_codes", "array", items="string", description="Consent groups of a controlled study."),
    ), links=(Link("programs", "program", "many_to_one", required=True, backref="projects"),),
        title="Project", description="A set of subjects, samples and files under one program.")
    subject = Node("subject", "administrative", (
        submitter,
        project_id,
        Property("consent", "enum", CONSENTS, description="Consent group (controlled studies only)."),
        Property("sex", "enum", SEXES, description="Self-reported sex."),
        Property("population", "enum", POPULATIONS, description="Continental ancestry group."),
        Property("race", "enum", RACES, description="Self-reported race (OMB categories)."),
        Property("ethnicity", "enum", ETHNICITIES, description="Self-reported ethnicity (OMB categories)."),
        Property("age_at_enrollment", "integer", description="Age in years at enrolment."),
        Property("bmi", "number", description="Body mass index, kg/m2."),
        _s("phenotype", "Primary phenotype or disease status, e.g. control, hypertension."),
        Property("smoking_status", "enum", SMOKING_STATUSES, description="Tobacco smoking status."),
    ), links=(Link("projects", "project", "many_to_one", required=True, backref="subjects"),),
        title="Subject", description="A study participant.")
    sample = Node("sample", "biospecimen", (
        submitter,
        project_id,
        Property("sample_type", "enum", SAMPLE_TYPES, description="Kind of biospecimen."),
        _s("tissue", "Tissue of origin."),
    ), links=(Link("subjects", "subject", "many_to_one", required=True, backref="samples"),),
        title="Sample", description="A biospecimen taken from a subject.")
    file = Node("file", "data_file", (
        submitter,
        project_id,
        _s("object_id", "The file's GUID (indexd did, DRS object id).", required=True),
        _s("file_name", "Name of the file.", required=True),
        Property("file_size", "integer", required=True, description="Size in bytes."),
        _s("md5sum", "MD5 checksum, 32 hex digits.", required=True),
        _s("sha256", "SHA-256 checksum, 64 hex digits."),
        _s("data_category", "Broad kind of data, e.g. Sequencing Reads, Variant Calling, Clinical."),
        _s("data_type", "Specific kind of data, e.g. Aligned Reads, Phenotype."),
        Property("data_format", "enum", DATA_FORMATS, description="File format."),
        Property("authz", "array", items="string", description="Gen3 authz resource paths guarding the file."),
        _s("created_datetime", "When the file was created, RFC 3339 UTC."),
    ), links=(
        Link("samples", "sample", "many_to_one", backref="files"),
        Link("projects", "project", "many_to_one", required=True, backref="files"),
    ), title="File", description="A data file: reads, variants or a project-level clinical table.")
    return Dictionary((program, project, subject, sample, file))


# ---------------------------------------------------------------------------------------------------------------
# Gen3 dictionaries

_SCALARS = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}


class Unsupported(ValueError):
    """A Gen3 property shape outside the subset :func:`from_gen3_dictionary` reads."""


def _term(value: object) -> tuple[tuple[str, str], ...]:
    term_def = value.get("termDef") if isinstance(value, Mapping) else None
    if not isinstance(term_def, Mapping):
        return ()
    return tuple((str(k), str(v)) for k, v in term_def.items() if v is not None)


def _enum_symbols(values: object) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(v is None or isinstance(v, str) for v in values):
        raise Unsupported("enum values must be strings")
    return tuple(dict.fromkeys(v for v in values if v is not None))


def _gen3_type(spec: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str | None]:
    """``(type, symbols, items)`` of one Gen3 property schema."""
    if "enum" in spec:
        return "enum", _enum_symbols(spec["enum"]), None
    if "oneOf" in spec:
        members = [m for m in spec["oneOf"] if not (isinstance(m, Mapping) and m.get("type") == "null")]
        if members and all(isinstance(m, Mapping) and "enum" in m for m in members):
            symbols: list[str] = []
            for m in members:
                symbols.extend(_enum_symbols(m["enum"]))
            return "enum", tuple(dict.fromkeys(symbols)), None
        if len(members) == 1 and isinstance(members[0], Mapping):
            return _gen3_type(members[0])
        raise Unsupported("oneOf other than enums (or one type) plus null")
    if "type" not in spec:
        raise Unsupported("no type, enum or oneOf (an unresolved $ref, anyOf…)")
    raw = spec["type"]
    types = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    types = [t for t in types if t != "null"]
    if len(types) != 1:
        raise Unsupported(f"type {raw!r} is not one type (plus null)")
    (t,) = types
    if t in _SCALARS:
        return _SCALARS[t], (), None
    if t == "array":
        items = spec.get("items")
        if not isinstance(items, Mapping):
            raise Unsupported("array without an items schema")
        item_type, symbols_, _ = _gen3_type(items)
        if item_type == "array":
            raise Unsupported("array of arrays")
        return "array", symbols_, item_type
    raise Unsupported(f"type {t!r}")


def _gen3_property(name: str, spec: Mapping[str, Any], required: bool) -> Property:
    if not isinstance(spec, Mapping):
        raise Unsupported("not an object")
    kind, symbols, items = _gen3_type(spec)
    default = spec.get("default")
    if kind == "array" or isinstance(default, list | dict) or (kind == "enum" and default not in symbols):
        default = None
    description = spec.get("description")
    try:
        return Property(
            name, kind, symbols, items, required=required,  # type: ignore[arg-type]
            description=description if isinstance(description, str) else None,
            default=default, term=_term(spec.get("term")),
        )
    except ValueError as exc:
        raise Unsupported(str(exc)) from exc


def _gen3_links(links: object) -> list[Link]:
    out: list[Link] = []
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, Mapping):
            continue
        if "subgroup" in link:
            out.extend(_gen3_links(link["subgroup"]))
        elif "name" in link and "target_type" in link:
            out.append(Link(
                link["name"], link["target_type"], str(link.get("multiplicity", "many_to_one")).lower(),  # type: ignore[arg-type]
                required=bool(link.get("required", False)), backref=link.get("backref"),
            ))
    return out


def from_gen3_dictionary(
    schemas: Mapping[str, Any], *, only: Iterable[str] | None = None, strict: bool = False,
) -> Dictionary:
    """A :class:`Dictionary` from a Gen3 data dictionary in its resolved JSON form.

    ``schemas`` maps node ids to node schemas with ``$ref`` s already resolved: sheepdog's
    ``/api/v0/submission/_dictionary/_all`` or dictionaryutils' ``DataDictionary(...).schema``. Entries whose key
    starts with ``_`` (``_definitions``, ``_settings``, ``_terms``), ``metaschema`` and entries without
    ``properties`` are skipped; ``only`` keeps just those nodes (every link target among them).

    Read per node: ``id`` (else the key), ``category``, ``title``, ``description``, ``term.termDef``,
    ``required``, ``links`` (``subgroup`` s flattened; ``multiplicity`` defaults to ``many_to_one``) and
    ``properties``. Per property (the subset):

    * ``enum`` → enum (``null`` symbols dropped);
    * ``oneOf`` of enums (plus ``{"type": "null"}``) → one enum with the union of their symbols, in order (pypfb
      writes a union of several enums instead; the values read back the same); ``oneOf`` of one type plus null →
      that type;
    * ``type``: ``string``, ``integer`` (Avro long), ``number`` (double), ``boolean``, each optionally listed with
      ``"null"``; ``array`` with ``items`` of one of those or of an ``enum``;
    * ``default`` (scalars only, and for an enum only one of its symbols), ``description``, ``term.termDef``.

    Skipped like pypfb skips them: ``id`` and ``type``, link properties (named after a link), ``anyOf`` and
    anything untyped. Other shapes (several non-null types, objects, nested arrays, non-string enum symbols) are
    skipped too, or raise :class:`Unsupported` when ``strict``. ``pattern``, ``format``, ``minimum``… are ignored.
    """
    wanted = set(only) if only is not None else None
    nodes: list[Node] = []
    for key, schema in schemas.items():
        if key.startswith("_") or key == "metaschema" or not isinstance(schema, Mapping):
            continue
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            continue
        name = schema.get("id", key)
        if wanted is not None and name not in wanted:
            continue
        links = _gen3_links(schema.get("links"))
        link_names = {link.name for link in links}
        if wanted is not None:
            links = [link for link in links if link.target in wanted]
        required = set(schema.get("required") or ())
        properties: list[Property] = []
        for prop_name, spec in props.items():
            if prop_name in ("id", "type") or prop_name in link_names:
                continue
            try:
                properties.append(_gen3_property(prop_name, spec, prop_name in required))
            except Unsupported as exc:
                if strict:
                    raise Unsupported(f"{name}.{prop_name}: {exc}") from exc
        nodes.append(Node(
            name, str(schema.get("category") or ""), tuple(properties), tuple(links),
            title=str(schema.get("title") or ""), description=str(schema.get("description") or "").strip(),
            term=_term(schema.get("term")),
        ))
    return Dictionary(tuple(nodes))

"""Reading a Gen3 data dictionary (its resolved JSON form, a documented subset) into a :class:`Dictionary` (pure).

The input may come from anyone (a member's ``/api/v0/submission/_dictionary/_all``): whatever JSON it is,
:func:`from_gen3_dictionary` returns a valid :class:`Dictionary` or raises ``ValueError`` (:class:`Unsupported`
for a property shape outside the subset when ``strict``), never anything else. Nesting it follows (``oneOf``,
array ``items``, link ``subgroup`` s) is bounded by :data:`MAX_DEPTH`, so a deeply nested answer cannot exhaust
the stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.export.dictionary.model import Dictionary, Link, Node, Property

MAX_DEPTH = 8
"""Deepest ``oneOf``/``items``/``subgroup`` nesting read (Gen3 dictionaries use two or three levels)."""

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


def _gen3_type(spec: Mapping[str, Any], depth: int = 0) -> tuple[str, tuple[str, ...], str | None]:
    """``(type, symbols, items)`` of one Gen3 property schema."""
    if depth > MAX_DEPTH:
        raise Unsupported(f"nested more than {MAX_DEPTH} levels deep")
    if "enum" in spec:
        return "enum", _enum_symbols(spec["enum"]), None
    if "oneOf" in spec:
        choices = spec["oneOf"]
        if not isinstance(choices, list):
            raise Unsupported("oneOf is not a list")
        members = [m for m in choices if not (isinstance(m, Mapping) and m.get("type") == "null")]
        if members and all(isinstance(m, Mapping) and "enum" in m for m in members):
            symbols: list[str] = []
            for m in members:
                symbols.extend(_enum_symbols(m["enum"]))
            return "enum", tuple(dict.fromkeys(symbols)), None
        if len(members) == 1 and isinstance(members[0], Mapping):
            return _gen3_type(members[0], depth + 1)
        raise Unsupported("oneOf other than enums (or one type) plus null")
    if "type" not in spec:
        raise Unsupported("no type, enum or oneOf (an unresolved $ref, anyOf…)")
    raw = spec["type"]
    types = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    types = [t for t in types if t != "null"]
    if len(types) != 1 or not isinstance(types[0], str):
        raise Unsupported(f"type {raw!r} is not one type (plus null)")
    (t,) = types
    if t in _SCALARS:
        return _SCALARS[t], (), None
    if t == "array":
        items = spec.get("items")
        if not isinstance(items, Mapping):
            raise Unsupported("array without an items schema")
        item_type, symbols_, _ = _gen3_type(items, depth + 1)
        if item_type == "array":
            raise Unsupported("array of arrays")
        return "array", symbols_, item_type
    raise Unsupported(f"type {t!r}")


def _gen3_property(name: str, spec: object, required: bool) -> Property:
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


def _gen3_links(links: object, depth: int = 0) -> list[Link]:
    """The links of a node, ``subgroup`` s flattened; ``ValueError`` for one that names no valid link."""
    if depth > MAX_DEPTH:
        raise ValueError(f"link subgroups nested more than {MAX_DEPTH} levels deep")
    out: list[Link] = []
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, Mapping):
            continue
        if "subgroup" in link:
            out.extend(_gen3_links(link["subgroup"], depth + 1))
        elif "name" in link and "target_type" in link:
            backref = link.get("backref")
            out.append(Link(
                link["name"], link["target_type"], str(link.get("multiplicity", "many_to_one")).lower(),  # type: ignore[arg-type]
                required=bool(link.get("required", False)), backref=backref if isinstance(backref, str) else None,
            ))
    return out


def _names(value: object) -> set[str]:
    """The strings of a JSON list (a node's ``required``); nothing for anything else."""
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


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
    A node or link that cannot be named (a bad id, link target or multiplicity, a link to a node not in the
    dictionary, a duplicate node) raises ``ValueError``.
    """
    if not isinstance(schemas, Mapping):
        raise ValueError(f"a dictionary is a JSON object of node schemas, not {type(schemas).__name__}")
    wanted = set(only) if only is not None else None
    nodes: list[Node] = []
    for key, schema in schemas.items():
        if not isinstance(key, str) or key.startswith("_") or key == "metaschema" or not isinstance(schema, Mapping):
            continue
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            continue
        name = schema.get("id", key)
        if not isinstance(name, str):
            raise ValueError(f"node {key!r}: id {name!r} is not a string")
        if wanted is not None and name not in wanted:
            continue
        links = _gen3_links(schema.get("links"))
        link_names = {link.name for link in links}
        if wanted is not None:
            links = [link for link in links if link.target in wanted]
        required = _names(schema.get("required"))
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

"""Declarative per-member mappings for the cohort search: the member's index fields and values → the gateway's.

Configured under ``aggregate.mappings.cohort``, per member id and per index (``subject``, ``file``)::

    aggregate:
      mappings:
        cohort:
          member-b:
            subject:
              fields: {sex: gender, visits: encounters}          # gateway field: member field
              values: {sex: {F: female, M: male, U: unknown}}    # gateway field: {member value: gateway value}

* ``fields`` renames: the gateway's field name → the member's. Names are Guppy field names, dotted for the
  children of nested fields (``visits.kind``); a child of a renamed nested field follows its parent
  (``visits.kind`` → ``encounters.kind``) unless renamed itself, and a renamed child stays under its parent's
  member name. Renames are one-to-one. A gateway field that is not renamed has the same name at the member,
  unless that name is the member field another gateway field is renamed to (``gender`` above): the member then has
  no such field for the gateway (see :meth:`IndexMapping.member_field`).
* ``values`` maps a text field's values, keyed by the gateway field name: the member's value → the gateway's.
  Several member values may map to one gateway value (``F`` and, unlisted, ``female`` both give ``female``); a
  member value that is not listed is the same value at the gateway. Neither side may be the missing-data alias
  (``no data``), which keeps its meaning.

Unlike study-record mappings (:mod:`gateway.discovery.mapping.records`), there are no selectors, filters, coercions or
defaults here: a cohort question goes to the member translated, so the mapping must work both ways exactly
(:mod:`gateway.search.mapping.translate`). The settings (:class:`~gateway.settings.search.CohortIndexSettings`) are
checked for their shape when the configuration loads and compiled here when the gateway starts (the cohort search
compiles every mapping as it is built): anything wrong is a :class:`CohortMappingError` naming the member, index and
field, and the gateway does not start. The compiled form is frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.settings.search import CohortIndex, CohortIndexSettings
from gateway.settings.yaml_source import ConfigError
from gateway.wire.guppy import FIELD, MISSING_DATA_ALIAS


class CohortMappingError(ConfigError, ValueError):
    """A cohort mapping refused at start-up; the message names the member, index and field."""


# --- compiled form --------------------------------------------------------------------------------------------


def _parent(name: str) -> str | None:
    return name.rsplit(".", 1)[0] if "." in name else None


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class IndexMapping:
    """One member index's mapping, checked and frozen."""

    renames: Mapping[str, str]
    """Gateway field → member field (only the fields configured)."""
    inverse: Mapping[str, str]
    """Member field → gateway field (the inverse of :attr:`renames`)."""
    values: Mapping[str, Mapping[str, str]]
    """Gateway field → {member value → gateway value}."""
    preimages: Mapping[str, Mapping[str, tuple[str, ...]]]
    """Gateway field → {gateway value → the listed member values that map to it}, in configuration order."""

    def _forward(self, name: str) -> str:
        if name in self.renames:
            return self.renames[name]
        parent = _parent(name)
        return name if parent is None else f"{self._forward(parent)}.{_leaf(name)}"

    def _backward(self, name: str) -> str:
        if name in self.inverse:
            return self.inverse[name]
        parent = _parent(name)
        return name if parent is None else f"{self._backward(parent)}.{_leaf(name)}"

    def member_field(self, name: str) -> str | None:
        """The member's name for gateway field ``name`` (full, dotted), or ``None`` when the member has no such
        field for the gateway (its field of that name is another gateway field's)."""
        member = self._forward(name)
        return member if self._backward(member) == name else None

    def gateway_field(self, name: str) -> str | None:
        """The gateway's name for member field ``name``, or ``None`` when it has none (see :meth:`member_field`)."""
        gateway = self._backward(name)
        return gateway if self._forward(gateway) == name else None

    def gateway_value(self, field: str, value: str) -> str:
        """The gateway's value for the member's text ``value`` of gateway ``field``."""
        table = self.values.get(field)
        return value if table is None else table.get(value, value)

    def member_values(self, field: str, value: str) -> tuple[str, ...]:
        """Every member value of gateway ``field`` that the gateway sees as ``value`` (possibly none)."""
        listed = self.preimages.get(field, {}).get(value, ())
        table = self.values.get(field)
        return listed if table is not None and value in table else (*listed, value)

    def maps_values(self, field: str) -> bool:
        return field in self.values


@dataclass(frozen=True)
class CohortMapping:
    """One member's cohort mapping: per index, its :class:`IndexMapping`."""

    member: str
    indices: Mapping[str, IndexMapping]

    def index(self, name: str) -> IndexMapping | None:
        return self.indices.get(name)


# --- compiling ------------------------------------------------------------------------------------------------


def _name(where: str, name: str, what: str) -> str:
    if not isinstance(name, str) or not FIELD.fullmatch(name):
        raise CohortMappingError(f"{where}: {what} {name!r} is not a Guppy field name")
    return name


def compile_index(where: str, settings: CohortIndexSettings) -> IndexMapping:
    """The frozen :class:`IndexMapping`; :class:`CohortMappingError` prefixed with ``where`` for anything wrong."""
    renames: dict[str, str] = {}
    inverse: dict[str, str] = {}
    for gateway, member in settings.fields.items():
        at = f"{where}, field {gateway!r}"
        _name(at, gateway, "gateway field")
        _name(at, member, "member field")
        if member in inverse:
            raise CohortMappingError(f"{at}: member field {member!r} is already the member's name for "
                                     f"{inverse[member]!r} (renames are one-to-one)")
        if gateway.count(".") != member.count("."):
            raise CohortMappingError(f"{at}: a rename keeps the nesting depth ({gateway!r} → {member!r})")
        if gateway != member:
            renames[gateway] = member
            inverse[member] = gateway
    draft = IndexMapping(MappingProxyType(renames), MappingProxyType(inverse), {}, {})
    for gateway, member in renames.items():
        parent = _parent(gateway)
        if parent is not None and _parent(member) != draft.member_field(parent):
            raise CohortMappingError(f"{where}, field {gateway!r}: a nested field's child stays under its parent: "
                                     f"{member!r} is not under {draft.member_field(parent)!r}")
    values: dict[str, Mapping[str, str]] = {}
    preimages: dict[str, Mapping[str, tuple[str, ...]]] = {}
    for gateway, table in settings.values.items():
        at = f"{where}, values of {gateway!r}"
        _name(at, gateway, "gateway field")
        if draft.member_field(gateway) is None:
            raise CohortMappingError(f"{at}: the member has no such field for the gateway (its {gateway!r} is "
                                     f"{draft.gateway_field(gateway)!r})")
        if not table:
            raise CohortMappingError(f"{at}: an empty value map")
        for member_value, gateway_value in table.items():
            if MISSING_DATA_ALIAS in (member_value, gateway_value):
                raise CohortMappingError(f"{at}: {MISSING_DATA_ALIAS!r} (records without a value) cannot be mapped")
        values[gateway] = MappingProxyType(dict(table))
        grouped: dict[str, list[str]] = {}
        for member_value, gateway_value in table.items():
            grouped.setdefault(gateway_value, []).append(member_value)
        preimages[gateway] = MappingProxyType({k: tuple(v) for k, v in grouped.items()})
    return IndexMapping(MappingProxyType(renames), MappingProxyType(inverse), MappingProxyType(values),
                        MappingProxyType(preimages))


def compile_cohort(member: str, indices: Mapping[CohortIndex, CohortIndexSettings]) -> CohortMapping:
    """One member's frozen :class:`CohortMapping`."""
    compiled: dict[str, IndexMapping] = {
        index: compile_index(f"member {member!r}, index {index!r}", s) for index, s in indices.items()
    }
    return CohortMapping(member, MappingProxyType(compiled))


def compile_cohort_mappings(cohort: Mapping[str, Mapping[CohortIndex, CohortIndexSettings]],
                            ) -> dict[str, CohortMapping]:
    """Member id → its frozen :class:`CohortMapping`, for every member of ``aggregate.mappings.cohort``;
    :class:`CohortMappingError` prefixed with the key for the first one that is wrong."""
    try:
        return {member: compile_cohort(member, indices) for member, indices in cohort.items()}
    except CohortMappingError as exc:
        raise CohortMappingError(f"aggregate.mappings.cohort: {exc}") from None
